"""Model names: the one place that turns the name a client sends into the chain or model it means.

    resolve("detour" | "auto" | "default" | "")   -> Resolved("default")                   a chain alias
    resolve("coder")                               -> Resolved("coder")                     a chain name
    resolve("openai/gpt-5")                        -> Resolved("default", "openai/gpt-5")   a provider/model id
    resolve("gpt-5")                               -> Resolved("default", "openai/gpt-5")   a bare catalog name

A ``detour.chain`` hint in the request body names the chain instead of the model name. The Resolved travels
on the neutral request (``Request.resolved``); nothing downstream reads ``Request.model`` to route.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from detour.protocol.messages import Resolved

if TYPE_CHECKING:  # pragma: no cover
    from detour.config import Config

CHAIN_ALIASES = frozenset({"", "detour", "default", "auto"})  # names that mean the default chain
MAX_SHOWN = 200  # longer names are cut in error messages: never echo a huge input


class NameCatalog(Protocol):
    """What resolution asks a catalog (``detour.catalog.Catalog`` is one)."""

    def get(self, model_id: str) -> object | None: ...

    def find_bare(self, name: str) -> list[str]: ...

    def closest(self, model_id: str, n: int = 3) -> list[str]: ...


class UnknownModel(LookupError):
    """The name is not a chain, a configured model or a catalog model (a 404 at the front doors)."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        shown = name if len(name) <= MAX_SHOWN else f"{name[:MAX_SHOWN]}... ({len(name)} characters)"
        super().__init__(f"model {shown!r} is not a chain, a configured model or a catalog model.{hint} "
                         "Use 'detour', a chain name, or 'provider/model' (see GET /v1/models).")
        self.suggestions = suggestions


class UnknownChain(ValueError):
    """The body's ``detour.chain`` names no chain (a 400: the client's mistake)."""


class NoModels(Exception):
    """The chain asked for has no models: a gateway set-up problem, not the client's (a 503)."""


def resolve(name: str, config: Config, catalog: NameCatalog | None, providers: Mapping[str, object] | None = None,
            *, chain: str | None = None, strict: bool = True) -> Resolved:
    """The Resolved a model name means. ``chain``: the body's ``detour.chain`` hint, which wins.

    ``strict=False`` (the library, with no front door) reads any name it cannot place as the default
    chain, and any ``provider/model`` as that model; ``strict=True`` raises UnknownModel instead.
    """
    resolved = _by_name(name, config, catalog, providers or {}, strict)
    if chain and chain not in CHAIN_ALIASES:
        if chain not in config.chains:
            known = f"known chains: {', '.join(sorted(config.chains))}" if config.chains else "no chains are configured"
            raise UnknownChain(f"detour.chain: no chain named {chain[:MAX_SHOWN]!r}; {known} (the \"chains\" block)")
        resolved = Resolved(chain, None, "chain")
    if resolved.model is None:
        _require_models(resolved.chain, config)
    return resolved


def _by_name(name: str, config: Config, catalog: NameCatalog | None, providers: Mapping[str, object], strict: bool) -> Resolved:
    if name in config.chains:
        return Resolved(name, None, "chain")
    if name in CHAIN_ALIASES:
        return Resolved("default")
    if "/" in name:
        provider = name.split("/", 1)[0]
        known = catalog is not None and catalog.get(name) is not None
        if not strict or known or provider in providers or provider in config.provider:
            return Resolved("default", name, "id")
    elif catalog is not None:
        matches = catalog.find_bare(name)
        configured = [m for m in matches if m.split("/", 1)[0] in _configured_providers(config)]
        if len(configured) == 1 or len(matches) == 1:
            return Resolved("default", (configured or matches)[0], "catalog")
    if not strict:
        return Resolved("default", None, "unknown")
    raise UnknownModel(name, suggest(name, config, catalog) if len(name) <= MAX_SHOWN else [])


def _require_models(chain: str, config: Config) -> None:
    if not config.chain(chain).models:
        raise NoModels(f"chain {chain!r} has no models: set an API key (e.g. ANTHROPIC_API_KEY or "
                       "OPENAI_API_KEY) or write a detour.json with a \"model\" block, then restart detour serve")


def chain_models(resolved: Resolved, config: Config) -> list[str]:
    """The model ids a Resolved tries, in order: its explicit model first, then the chain's models."""
    models = list(config.chain(resolved.chain).models)
    if resolved.model is not None:
        models = [resolved.model, *(m for m in models if m != resolved.model)]
    return models


def _configured_providers(config: Config) -> set[str]:
    models = [*config.model.models, *(m for c in config.chains.values() for m in c.models)]
    return {m.split("/", 1)[0] for m in models} | set(config.provider)


def suggest(name: str, config: Config, catalog: NameCatalog | None) -> list[str]:
    """Up to three names close to ``name``: chains and chain models first, then catalog ids."""
    local = [*config.chains, *config.model.models]
    near = difflib.get_close_matches(name, local, n=3, cutoff=0.5)
    if catalog is not None:
        more = catalog.closest(name, 3) if "/" in name else catalog.find_bare(name)[:3]
        near += [s for s in more if s not in near]
    return near[:3]
