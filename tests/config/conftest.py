from __future__ import annotations

import difflib
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from detour.catalog.model import ModelInfo, split_model_id
from detour.providers import BUILTIN_PROVIDERS, ProviderSpec

FIXTURES = Path(__file__).parent / "fixtures"


class TinyCatalog:
    """The three-method surface check_config needs; the real catalog comes from detour.catalog."""

    def __init__(self, ids: list[str], providers: Mapping[str, ProviderSpec] = BUILTIN_PROVIDERS) -> None:
        self.models = {i: ModelInfo(i, *split_model_id(i)) for i in ids}
        self.providers = providers

    def get(self, model_id: str) -> ModelInfo | None:
        return self.models.get(model_id)

    def closest(self, model_id: str, n: int = 3) -> list[str]:
        return difflib.get_close_matches(model_id, list(self.models), n=n, cutoff=0.5)


@pytest.fixture
def catalog() -> TinyCatalog:
    return TinyCatalog(
        [
            "anthropic/claude-sonnet-4-20250514",
            "openai/gpt-5",
            "openai/gpt-5-mini",
            "google/gemini-2.0-flash",
            "google/gemini-2.5-flash",
            "deepseek/deepseek-chat",
            "deepseek/deepseek-reasoner",
        ]
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    """An isolated environment: no real keys, HOME inside tmp_path."""
    return {"HOME": str(home)}


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def copy_fixture() -> Callable[..., Path]:
    """copy_fixture(name, folder, as_name=None) -> the copied file's path."""

    def copy(name: str, dest: Path, as_name: str | None = None) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / (as_name or name)
        shutil.copy(FIXTURES / name, target)
        return target

    return copy


@pytest.fixture
def make_catalog() -> type[TinyCatalog]:
    return TinyCatalog
