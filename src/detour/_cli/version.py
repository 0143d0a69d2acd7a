"""``detour --version``: answered by ``detour.cli`` before typer loads, and by the typer app."""

from __future__ import annotations


def version_line() -> str:
    from detour import __version__

    return f"detour {__version__}"
