"""detour: LLM fallback with capability matching. A library, a gateway server and a CLI."""

from __future__ import annotations

TYPE_CHECKING = False  # `import typing` stays off the CLI's start-up path
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

# Lazy exports keep `import detour` (and the CLI's start-up) free of heavy imports.
_EXPORTS = {
    "smart_model_select": "detour.selection",
    "Requirements": "detour.selection",
    "Selection": "detour.selection",
    "load_config": "detour.config",
    "Router": "detour.router",
    "complete": "detour.router",
}

__all__ = ["__version__", "smart_model_select", "Requirements", "Selection", "load_config", "Router", "complete"]
assert __all__[1:] == list(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from detour.config import load_config
    from detour.router import Router, complete
    from detour.selection import Requirements, Selection, smart_model_select


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'detour' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
