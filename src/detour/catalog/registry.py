"""Provider registry: built-ins plus the catalog's OpenAI-compatible providers with a base URL."""

from __future__ import annotations

from collections.abc import Mapping

from detour.catalog.modelsdev import LOCAL_PROVIDERS, ProviderRow
from detour.providers import BUILTIN_PROVIDERS, ProviderSpec

OPENAI_COMPATIBLE_NPM = "@ai-sdk/openai-compatible"


def builtin_specs() -> dict[str, ProviderSpec]:
    return dict(BUILTIN_PROVIDERS)


def build_registry(catalog_providers: Mapping[str, ProviderRow]) -> dict[str, ProviderSpec]:
    registry = builtin_specs()
    for pid, (name, api, env, npm) in catalog_providers.items():
        if pid in registry or not api or npm != OPENAI_COMPATIBLE_NPM:
            continue
        registry[pid] = ProviderSpec(id=pid, name=name, base_url=api, env=env,
                                     local=pid in LOCAL_PROVIDERS)
    return registry
