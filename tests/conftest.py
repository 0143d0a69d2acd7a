from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the checkout; third-party snapshots that are never committed."""
    if not (SHARED_DATA / "models.dev-api.json").exists():
        pytest.skip(f"third-party catalog snapshot not found at {SHARED_DATA} (../shared is absent)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default state store is a SQLite file: each test gets its own, never the user's."""
    monkeypatch.setenv("DETOUR_STATE_DIR", str(tmp_path_factory.mktemp("state")))
