from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An isolated environment: a private cache dir and no DETOUR_CATALOG."""
    return {"DETOUR_CACHE_DIR": str(tmp_path / "cache")}


@pytest.fixture
def mini() -> Path:
    return FIXTURES / "mini-api.json"
