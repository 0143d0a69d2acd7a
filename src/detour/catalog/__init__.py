"""Model capability catalog: built-in table, models.dev cache, config layers and local discovery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from detour.catalog.model import CAPABILITIES, TIER_LIMITS, ModelInfo, Tier, split_model_id, tier_for

_LAZY = {
    "Catalog": "detour.catalog.store",
    "load_catalog": "detour.catalog.store",
    "CatalogError": "detour.catalog.errors",
    "sync_catalog": "detour.catalog.sync",
    "discover_local": "detour.catalog.discovery",
}

__all__ = ["CAPABILITIES", "TIER_LIMITS", "ModelInfo", "Tier", "split_model_id", "tier_for",
           "Catalog", "load_catalog", "CatalogError", "sync_catalog", "discover_local"]
assert set(__all__) >= set(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from detour.catalog.discovery import discover_local
    from detour.catalog.errors import CatalogError
    from detour.catalog.store import Catalog, load_catalog
    from detour.catalog.sync import sync_catalog


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'detour.catalog' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
