"""The dashboard page: static HTML that follows /events (SSE) and falls back to polling /status."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def page() -> bytes:
    return files("detour.server").joinpath("dashboard.html").read_bytes()
