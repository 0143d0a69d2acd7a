"""The Catalog: every known model by "provider/model" id, the provider registry, and look-ups."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from detour.catalog.errors import CatalogError
from detour.catalog.model import CAPABILITIES, CAPABILITY_ALIASES, ModelInfo, split_model_id
from detour.catalog.modelsdev import EXTRA_FIELDS, LOCAL_PROVIDERS, ProviderRow, Row, uncensored_default
from detour.catalog.sources import Layer, cached_catalog_path
from detour.catalog.sync import load_source
from detour.providers import ProviderSpec

# Friendly spellings accepted in config overrides: the capability vocabulary's aliases plus size names.
OVERRIDE_ALIASES = {**{a: n for a, n in CAPABILITY_ALIASES.items() if n in CAPABILITIES}, "context_window": "context",
                    "max_output_tokens": "max_output", "max_tokens": "max_output"}
SIZE_FIELDS = frozenset({"context", "max_output"})


class Catalog:
    """Models by id plus the provider registry. Build with `load_catalog()`."""

    def __init__(self, models: dict[str, ModelInfo], providers: dict[str, ProviderSpec],
                 sources: list[str] | None = None, declared: dict[str, dict[str, Any]] | None = None) -> None:
        self.models = models
        self.providers = providers
        self.sources = sources or []
        self.declared = declared or {}  # model id -> what the config declares; wins over every other source
        self._by_provider: dict[str, list[str]] | None = None
        self._bare: dict[str, list[str]] | None = None
        self._selection_index: Any = None  # built by detour.selection on first use

    def __len__(self) -> int:
        return len(self.models)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self.models

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(self.models.values())

    def get(self, model_id: str) -> ModelInfo | None:
        return self.models.get(model_id)

    def provider(self, pid: str) -> ProviderSpec | None:
        return self.providers.get(pid)

    def info(self, model_id: str) -> ModelInfo:
        """The catalog's record, or an all-unknown one (known=False) for a model no layer lists."""
        found = self.models.get(model_id)
        if found is not None:
            return found
        provider, model = split_model_id(model_id)
        return ModelInfo(id=model_id, provider=provider, model=model, known=False,
                         uncensored=uncensored_default(provider, self._local_ids()))

    def _local_ids(self) -> frozenset[str]:
        return LOCAL_PROVIDERS | {p for p, s in self.providers.items() if s.local}

    def add(self, infos: Iterable[ModelInfo]) -> None:
        """Add or replace models (e.g. discovered on a local server); the config's declarations stay on top."""
        for info in infos:
            declared = self.declared.get(info.id)
            self.models[info.id] = info.with_overrides(declared) if declared else info
        self._by_provider = self._bare = self._selection_index = None

    def by_provider(self) -> dict[str, list[str]]:
        if self._by_provider is None:
            groups: dict[str, list[str]] = {}
            for info in self.models.values():
                groups.setdefault(info.provider, []).append(info.model)
            self._by_provider = groups
        return self._by_provider

    def find_bare(self, name: str) -> list[str]:
        """Ids whose model part (or its last path segment) equals a bare name like `claude-sonnet-4-5`."""
        if self._bare is None:
            bare: dict[str, list[str]] = {}
            for info in self.models.values():
                bare.setdefault(info.model, []).append(info.id)
                tail = info.model.rpartition("/")[2]
                if tail != info.model:
                    bare.setdefault(tail, []).append(info.id)
            self._bare = bare
        return list(self._bare.get(name, ()))

    def closest(self, model_id: str, n: int = 3) -> list[str]:
        """Nearest real ids, same provider first (`google/gemini-2-flash` -> `google/gemini-2.0-flash`)."""
        from difflib import get_close_matches

        provider, sep, model = model_id.partition("/")
        if not sep:
            provider, model = "", model_id
        groups = self.by_provider()
        if provider and provider not in groups:
            near = get_close_matches(provider, list(groups), 1, 0.6)
            provider = near[0] if near else ""
        out: list[str] = []
        if provider:
            out = [f"{provider}/{m}" for m in _ranked(model, groups[provider], n, 0.5)]
        if not out:
            out = _ranked(model_id, get_close_matches(model_id, list(self.models), 3 * n, 0.6), n, 0.6)
        return out


def _ranked(word: str, candidates: list[str], n: int, cutoff: float) -> list[str]:
    """Like difflib.get_close_matches, but ties go to the alphabetically first (2.0 before 2.5)."""
    from difflib import SequenceMatcher

    matcher = SequenceMatcher(b=word)
    scored: list[tuple[float, str]] = []
    for cand in candidates:
        matcher.set_seq1(cand)
        if matcher.real_quick_ratio() >= cutoff and matcher.quick_ratio() >= cutoff:
            score = matcher.ratio()
            if score >= cutoff:
                scored.append((-score, cand))
    scored.sort()
    return [cand for _, cand in scored[:n]]


def _override_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        raw = dict(value)
    elif hasattr(value, "model_dump"):
        raw = value.model_dump(exclude_none=True)
    elif is_dataclass(value) and not isinstance(value, type):
        raw = {k: v for k, v in asdict(value).items() if v is not None}
    else:
        return {}
    out: dict[str, Any] = {}
    for key, val in raw.items():
        key = OVERRIDE_ALIASES.get(key, key)
        if key in SIZE_FIELDS and isinstance(val, str):
            from detour.units import parse_size

            val = parse_size(val)
        out[key] = val
    return out


def apply_overrides(models: dict[str, ModelInfo], config: Any) -> dict[str, dict[str, Any]]:
    """Layer 4: `provider.<pid>.models.<model>` overrides, field by field; unlisted models are added unknown.
    Returns the declarations by model id, which `Catalog.add` re-applies over discovered models."""
    declared: dict[str, dict[str, Any]] = {}
    providers = getattr(config, "provider", None) or {}
    for pid, pconf in providers.items():
        pmodels = pconf.get("models") if isinstance(pconf, Mapping) else getattr(pconf, "models", None)
        for key, value in (pmodels or {}).items():
            model_id = key if key.startswith(f"{pid}/") else f"{pid}/{key}"
            overrides = _override_dict(value)
            base = models.get(model_id)
            if base is None:
                base = ModelInfo(id=model_id, provider=pid, model=model_id[len(pid) + 1:], known=False,
                                 uncensored=uncensored_default(pid))
            models[model_id] = base.with_overrides(overrides) if overrides else base
            if overrides:
                declared[model_id] = overrides
    return declared


def builtin_layer() -> Layer:
    from detour.catalog.builtin import BUILTIN_MODELS

    rows: list[Row] = []
    for mid, name, tools, image, pdf, reasoning, thinking, so, ctx, out, cin, cout in BUILTIN_MODELS:
        provider, model = split_model_id(mid)
        rows.append((mid, provider, model, name, tools, image, pdf, reasoning, thinking, so,
                     uncensored_default(provider), None, None, ctx, out, cin, cout, None, None,
                     None, None, None, True, (None,) * len(EXTRA_FIELDS)))
    return Layer("built-in table", rows, {}, {})


def _build(layers: list[Layer]) -> tuple[dict[str, ModelInfo], dict[str, ProviderRow]]:
    merged: dict[str, Row] = {}
    providers: dict[str, ProviderRow] = {}
    moderation: dict[str, bool] = {}
    for layer in layers:
        if len(layers) == 1:
            merged = {row[0]: row for row in layer.rows}
        else:
            merged.update((row[0], row) for row in layer.rows)
        providers.update(layer.providers)
        moderation.update(layer.moderation)
    models: dict[str, ModelInfo] = {}
    for mid, row in merged.items():
        extras = row[-1]
        extra = {k: v for k, v in zip(EXTRA_FIELDS, extras) if v is not None} if any(extras) else {}
        models[mid] = ModelInfo(*row[:-1], extra=extra)  # type: ignore[misc]  # a Row is ModelInfo's fields before extra
    for mid, flag in moderation.items():
        info = models.get(mid)
        if info is not None:
            info.moderated = flag
    return models, providers


def _split_sources(value: str) -> list[str]:
    return [s.strip() for s in value.split(",") if s.strip()]


def _unwrap(config: Any) -> tuple[Any, Path | None]:
    """Accept a LoadedConfig (config + path) or a bare config object."""
    if config is not None and hasattr(config, "config") and hasattr(config, "path"):
        path = config.path
        return config.config, Path(path).parent if path else None
    return config, None


def load_catalog(config: Any = None, *, catalog: str | None = None, env: Mapping[str, str] | None = None) -> Catalog:
    """Layers, later wins: built-in table, cached models.dev, `catalog:` from config, config overrides.

    `catalog` (or $DETOUR_CATALOG) names one or more comma-separated files/URLs replacing layers 1-3.
    """
    import gc

    # Thousands of small tuples would otherwise trigger several full collections while loading.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _load(config, catalog, os.environ if env is None else env)
    finally:
        if paused:
            gc.enable()


def _load(config: Any, catalog: str | None, env: Mapping[str, str]) -> Catalog:
    cfg, base = _unwrap(config)
    explicit = catalog if catalog is not None else env.get("DETOUR_CATALOG") or None
    layers: list[Layer] = []
    if explicit:
        layers = [load_source(s, env=env) for s in _split_sources(explicit)]
    else:
        layers.append(builtin_layer())
        cached = cached_catalog_path(env)
        if cached.exists():
            try:
                layers.append(load_source(str(cached), env=env))
            except CatalogError as exc:
                raise CatalogError(exc.message, where=exc.where,
                                   hint="the cached catalog is damaged: run `detour catalog sync` again") from None
        configured = getattr(cfg, "catalog", None)
        if configured:
            layers += [load_source(s, base=base, env=env) for s in _split_sources(str(configured))]
    models, provider_rows = _build(layers)
    from detour.catalog.registry import build_registry

    declared = apply_overrides(models, cfg) if cfg is not None else {}
    return Catalog(models, build_registry(provider_rows), [layer.source for layer in layers], declared)
