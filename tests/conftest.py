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
