"""The public API is pinned: a change to ``detour.__all__`` or to a public signature must be deliberate.

When this fails because you changed the API on purpose, update the table below in the same commit (and
the README / docs that show the call).
"""

from __future__ import annotations

import inspect
from typing import Any

import detour

EXPORTED = ["__version__", "smart_model_select", "Requirements", "Selection", "load_config", "Router", "complete"]

SIGNATURES = {
    "smart_model_select": "(requirements: Requirements | Mapping[str, Any] | Iterable[str] | None = None, *, "
                          "candidates: Sequence[str] | Literal['all'] | None = None, prefer: Prefer = 'priority', "
                          "limit: int | None = None, explain: bool = False, catalog: Catalog | None = None, "
                          "config: Any = None) -> list[Selection]",
    "load_config": "(path: str | Path | None = None, *, env: Mapping[str, str] | None = None, "
                   "cwd: Path | None = None) -> LoadedConfig",
    "complete": "(messages: list[dict[str, Any]] | list[Message], model: str = 'detour', **kwargs: Any) -> Result",
    "Router": "(config: Config | LoadedConfig | None = None, catalog: RoutingCatalog | None | bool = None, "
              "store: StateStore | None = None, *, clock: Callable[[], float] = time, "
              "sleep: Callable[[float], Awaitable[None]] = sleep, http: HttpClient | None = None, "
              "rand: Callable[[], float] = random, env: Mapping[str, str] | None = None) -> None",
    "Router.from_config": "(path: str | Path | None = None, **kwargs: Any) -> Router",
    "Router.resolve": "(self, name: str, *, chain: str | None = None) -> Resolved",
    "Router.plan": "(self, req: Request, *, require: str | Iterable[str] | None = None) -> tuple[str, Plan, Settings]",
    "Router.match_route": "(self, req: Request, needs: Needs | None = None) -> RouteMatch | None",
    "Router.add_check": "(self, name: str, check: Check, *, chains: Iterable[str] | None = None) -> None",
    "Router.checks_for": "(self, chain_name: str) -> Checks",
    "Router.route": "(self, req: Request, *, require: str | Iterable[str] | None = None) -> list[tuple[str, str]]",
    "Router.chat": "(self, request: Request, *, require: str | Iterable[str] | None = None, "
                   "session: str | None = None) -> Result",
    "Router.stream": "(self, request: Request, *, require: str | Iterable[str] | None = None, "
                     "session: str | None = None) -> RouterStream",
    "Router.chat_sync": "(self, request: Request, **kwargs: Any) -> Result",
    "Router.on_event": "(self, hook: Callable[[HealthEvent], Any]) -> None",
    "Router.events": "(self) -> AsyncIterator[HealthEvent]",
    "Router.recent_events": "(self, limit: int = 50) -> list[dict[str, Any]]",
    "Router.health": "(self) -> dict[str, Any]",
    "Router.reload": "(self, config: Config | LoadedConfig, catalog: RoutingCatalog | None | bool = None) -> None",
    "Router.aclose": "(self) -> None",
    "Router.unpin_sessions": "(self) -> int",
    "Router.sessions_view": "(self) -> list[dict[str, Any]]",
    "Router.session_turns": "(self, chain: str, session: str) -> tuple[str | None, list[dict[str, Any]]]",
    "Router.windows_view": "(self) -> list[dict[str, Any]]",
    "Requirements.required": "(self) -> tuple[str, ...]",
}


def _default(value: Any) -> str:
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)  # functions print their address otherwise
    return repr(value)


def shown(obj: Any) -> str:
    """A signature as text, stable across runs (callable defaults by name)."""
    sig = inspect.signature(obj)
    params = []
    star_done = False
    for p in sig.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not star_done:
            params.append("*")
            star_done = True
        if p.kind is p.VAR_POSITIONAL:
            star_done = True
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        text = prefix + p.name + (f": {p.annotation}" if p.annotation is not p.empty else "")
        if p.default is not p.empty:
            text += f" = {_default(p.default)}"
        params.append(text)
    ret = f" -> {sig.return_annotation}" if sig.return_annotation is not sig.empty else ""
    return f"({', '.join(params)}){ret}"


def test_all_is_pinned_and_every_name_resolves() -> None:
    assert detour.__all__ == EXPORTED
    for name in detour.__all__:
        assert getattr(detour, name) is not None, name


def test_public_signatures_are_pinned() -> None:
    got = {}
    for dotted in SIGNATURES:
        obj: Any = detour
        for part in dotted.split("."):
            obj = getattr(obj, part)
        got[dotted] = shown(obj)
    assert got == SIGNATURES


def test_router_has_no_unpinned_public_methods() -> None:
    """A new public Router method is an API change too: add it to SIGNATURES."""
    public = {f"Router.{n}" for n, v in vars(detour.Router).items()
              if not n.startswith("_") and (callable(v) or isinstance(v, classmethod))}
    assert public <= set(SIGNATURES), sorted(public - set(SIGNATURES))
