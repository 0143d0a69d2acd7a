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
import re
from collections.abc import Callable, Mapping
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
            *, chain: str | None = None, strict: bool = True, ready: Callable[[str], bool] | None = None) -> Resolved:
    """The Resolved a model name means. ``chain``: the body's ``detour.chain`` hint, which wins.

    A bare name the catalog does not know follows ``unknownModel``: "chain" serves it on the provider its
    family belongs to (when ``ready(provider)``: that provider has a key or runs locally) as the primary
    of the default chain, else by the default chain itself; "reject" raises UnknownModel. ``strict=False``
    (the library) also takes a ``provider/model`` of a provider nothing names.
    """
    resolved = _by_name(name, config, catalog, providers or {}, strict, ready)
    if chain and chain not in CHAIN_ALIASES:
        if chain not in config.chains:
            known = f"known chains: {', '.join(sorted(config.chains))}" if config.chains else "no chains are configured"
            raise UnknownChain(f"detour.chain: no chain named {chain[:MAX_SHOWN]!r}; {known} (the \"chains\" block)")
        resolved = Resolved(chain, None, "chain")
    if resolved.model is None:
        _require_models(resolved.chain, config)
    return resolved


def _by_name(name: str, config: Config, catalog: NameCatalog | None, providers: Mapping[str, object], strict: bool,
             ready: Callable[[str], bool] | None) -> Resolved:
    if name in config.chains:
        return Resolved(name, None, "chain")
    if name in CHAIN_ALIASES:
        return Resolved("default")
    if "/" in name:
        provider = name.split("/", 1)[0]
        known = catalog is not None and catalog.get(name) is not None
        if not strict or known or provider in providers or provider in config.provider:
            return Resolved("default", name, "id")
    else:
        family = family_provider(name)
        matches = catalog.find_bare(name) if catalog is not None else []
        configured = [m for m in matches if m.split("/", 1)[0] in _configured_providers(config)]
        own = [m for m in matches if m.split("/", 1)[0] == family]
        for found in (configured, own, matches):
            if len(found) == 1:
                return Resolved("default", found[0], "catalog")
        if config.unknown_model == "chain" and name and len(name) <= MAX_SHOWN:
            if family is not None and PLAIN_NAME.fullmatch(name) and ready is not None and ready(family):
                return Resolved("default", f"{family}/{name}", "family")
            return Resolved("default", None, "unknown")
    if not strict:
        return Resolved("default", None, "unknown")
    raise UnknownModel(name, suggest(name, config, catalog) if len(name) <= MAX_SHOWN else [])


PLAIN_NAME = re.compile(r"[A-Za-z0-9._:@+-]{1,200}")  # what a family-resolved name may hold (it reaches headers)

# a bare name's family -> the provider that serves it (claude-opus-4-8 -> anthropic/claude-opus-4-8)
FAMILIES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"claude-"), "anthropic"),
    (re.compile(r"(gpt-|chatgpt-|o\d)"), "openai"),
    (re.compile(r"gemini-"), "google"),
    (re.compile(r"deepseek-"), "deepseek"),
)


def family_provider(name: str) -> str | None:
    """The provider a bare model name's family belongs to, by its prefix; None when no family matches."""
    lower = name.lower()
    return next((provider for pattern, provider in FAMILIES if pattern.match(lower)), None)


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
