from __future__ import annotations

from pathlib import Path

import pytest

MINI = Path(__file__).parents[1] / "catalog" / "fixtures" / "mini-api.json"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd without a config, a private cache, no catalog or key variables from the outer shell."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DETOUR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("DETOUR_CATALOG", "DETOUR_CONFIG", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY",
                "GOOGLE_API_KEY", "GOOGLE_GENERATIVE_AI_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


@pytest.fixture
def mini() -> Path:
    return MINI
