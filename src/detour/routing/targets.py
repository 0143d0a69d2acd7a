"""Resolve chains and model ids into Targets (endpoint + catalog info + keys), once per config."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from detour.catalog.model import TIER_ORDER, ModelInfo, split_model_id
from detour.protocol.codec import CODECS
from detour.providers import ProviderSpec
from detour.routing.keys import make_keys
from detour.routing.plan import Target

if TYPE_CHECKING:  # pragma: no cover
    from detour.config import Config, Endpoint


class RoutingCatalog(Protocol):
    """What routing asks a catalog (``detour.catalog.Catalog`` is one; tests pass small stand-ins)."""

    @property
    def providers(self) -> Mapping[str, ProviderSpec] | None: ...

    def get(self, model_id: str) -> ModelInfo | None: ...

    def find_bare(self, name: str) -> list[str]: ...

    def closest(self, model_id: str, n: int = 3) -> list[str]: ...


class Targets:
    """Target cache: model id -> Target (None when the provider has no endpoint)."""

    def __init__(self, config: Config, catalog: RoutingCatalog | None = None, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.catalog = catalog
        self.env = os.environ if env is None else env
        self._cache: dict[str, Target | None] = {}
        self._groups: dict[tuple[str, ...], tuple[list[list[Target]], list[tuple[str, str]]]] = {}

    def get(self, model_id: str, via: str | None = None) -> Target | None:
        key = model_id if via is None else f"{model_id}\x00{via}"
        if key not in self._cache:
            self._cache[key] = self._resolve(model_id, via)
        return self._cache[key]

    def groups(self, model_ids: list[str]) -> tuple[list[list[Target]], list[tuple[str, str]]]:
        """Each chain entry with its equivalent routes; entries without an endpoint are reported."""
        key = tuple(model_ids)
        cached = self._groups.get(key)
        if cached is None:
            cached = self._groups[key] = self._build_groups(model_ids)
        return cached

    def _build_groups(self, model_ids: list[str]) -> tuple[list[list[Target]], list[tuple[str, str]]]:
        groups: list[list[Target]] = []
        skipped: list[tuple[str, str]] = []
        routes = self.config.equivalents
        for model_id in dict.fromkeys(model_ids):
            row = [t for t in [self.get(model_id)] if t is not None]
            row += [t for alt in routes.get(model_id, ()) if (t := self.get(alt, via=model_id)) is not None]
            if not row:
                skipped.append((model_id, "no_endpoint"))
            else:
                groups.append(row)
        return groups, skipped

    def ready(self, provider: str) -> bool:
        """Whether requests can go to ``provider``: it has an endpoint, and a key or a local server."""
        endpoint = self._endpoint(provider)
        return endpoint is not None and (bool(endpoint.api_keys) or endpoint.local)

    def _endpoint(self, provider: str) -> Endpoint | None:
        providers = getattr(self.catalog, "providers", None)
        return self.config.endpoint(provider, providers, self.env) if providers else self.config.endpoint(provider, env=self.env)

    def _resolve(self, model_id: str, via: str | None) -> Target | None:
        provider, model = split_model_id(model_id)
        endpoint = self._endpoint(provider)
        if endpoint is None:
            return None
        codec = CODECS[_own_protocol(self.config, model_id) or endpoint.protocol]
        info = self.catalog.get(model_id) if self.catalog is not None else None
        if info is None:
            info = _from_overrides(self.config, model_id, provider, model)
        price = info.blended_price if info else None
        tier = TIER_ORDER.get(info.tier) if info and info.tier else None
        return Target(
            model_id=model_id,
            provider=provider,
            model=model,
            codec=codec,
            endpoint=endpoint,
            info=info,
            via=via,
            url_images=codec.image_urls(provider) and not (info is not None and info.image_url is False),
            hosted_tools=codec.hosted_tools,
            image_types=codec.image_types,
            price=price,
            tier=tier,
            keys=make_keys(endpoint.api_keys, _key_env(endpoint, self.env)),
        )


def _from_overrides(config: Config, model_id: str, provider: str, model: str) -> ModelInfo | None:
    overrides = config.overrides(model_id)
    if not overrides:
        return None
    return ModelInfo(id=model_id, provider=provider, model=model).with_overrides(overrides)


def _own_protocol(config: Any, model_id: str) -> str | None:
    """A model's own wire protocol from the config (``models: {"gpt-5-pro": {"protocol": "openai-responses"}}``)."""
    overrides = config.overrides(model_id) if hasattr(config, "overrides") else {}
    return overrides.get("protocol")


def _key_env(endpoint: Any, env: Mapping[str, str]) -> str | None:
    """The env var the key came from, so results can name it (OPENAI_API_KEY#2) without showing it."""
    keys = endpoint.api_keys
    for name in endpoint.key_env:
        if env.get(name) and env.get(name) in keys:
            return str(name)
    return None
