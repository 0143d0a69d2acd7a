"""Model names at the front door: a chain, a provider/model id, or a bare catalog name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CHAIN_ALIASES = frozenset({"detour", "auto", "default"})


class UnknownModel(Exception):
    def __init__(self, name: str, suggestions: list[str]) -> None:
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        shown = name if len(name) <= 200 else f"{name[:200]}... ({len(name)} characters)"  # never echo a huge input
        super().__init__(f"model {shown!r} is not a chain, a configured model or a catalog model.{hint} "
                         "Use 'detour', a chain name, or 'provider/model' (see GET /v1/models).")
        self.suggestions = suggestions


class NoModels(Exception):
    """The chain asked for has no models: a gateway set-up problem, not the client's."""


@dataclass(frozen=True, slots=True)
class Target:
    chain: str | None  # a chain name ("default" for the model block)
    model: str | None  # a provider/model id to try first


def resolve(name: str, config: Any, catalog: Any, providers: Any) -> Target:
    if not name or name in CHAIN_ALIASES or name in config.chains:
        chain = name if name in config.chains else "default"
        if not (config.model if chain == "default" else config.chains[chain]).models:
            raise NoModels(f"chain {chain!r} has no models: set an API key (e.g. ANTHROPIC_API_KEY or "
                           "OPENAI_API_KEY) or write a detour.json with a \"model\" block, then restart detour serve")
        return Target(chain, None)
    if "/" in name:
        provider = name.split("/", 1)[0]
        if catalog.get(name) is not None or provider in providers or provider in config.provider:
            return Target(None, name)
    else:
        matches = catalog.find_bare(name)
        configured = [m for m in matches if m.split("/", 1)[0] in _configured_providers(config)]
        if len(configured) == 1 or len(matches) == 1:
            return Target(None, (configured or matches)[0])
    raise UnknownModel(name, _suggest(name, config, catalog) if len(name) <= 200 else [])


def _configured_providers(config: Any) -> set[str]:
    models = [*config.model.models, *(m for c in config.chains.values() for m in c.models)]
    return {m.split("/", 1)[0] for m in models} | set(config.provider)


def _suggest(name: str, config: Any, catalog: Any) -> list[str]:
    import difflib

    local = [*config.chains, *config.model.models]
    near = difflib.get_close_matches(name, local, n=3, cutoff=0.5)
    if "/" in name:
        near += [s for s in catalog.closest(name, 3) if s not in near]
    else:
        near += [m for m in catalog.find_bare(name)[:3] if m not in near]
    return near[:3]
