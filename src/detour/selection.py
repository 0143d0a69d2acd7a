"""smart_model_select: rank models against capability requirements.

Known-capable models come first, then models whose capability is unknown (never silently true),
ordered by the fewest unknowns; a model *known* to lack a requirement is excluded. Over the whole
catalog the filters run on per-catalog bitmasks (one Python int per capability), so a warm call
costs well under the time to print its answer.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, cast

from detour.catalog.model import (
    CAPABILITIES,
    TIER_LIMITS,
    TIER_ORDER,
    ModelInfo,
    Tier,
    capability_names,
    tier_for,
)

if TYPE_CHECKING:  # pragma: no cover
    from detour.catalog.store import Catalog

Prefer: TypeAlias = Literal["priority", "cost", "speed", "context"]
PREFERENCES: tuple[str, ...] = ("priority", "cost", "speed", "context")


@dataclass(slots=True)
class Requirements:
    """What a request needs. Capabilities: True = required; None/False = no constraint."""

    tools: bool | None = None
    image: bool | None = None
    pdf: bool | None = None
    reasoning: bool | None = None
    thinking: bool | None = None
    structured_output: bool | None = None
    uncensored: bool | None = None
    min_context: int | None = None
    min_output: int | None = None
    max_tier: str | None = None  # "free" | "low" | "medium" | "high"
    max_price: float | None = None  # blended USD per million tokens
    allow_providers: tuple[str, ...] | None = None
    deny_providers: tuple[str, ...] = ()
    local_only: bool = False

    def __post_init__(self) -> None:
        if self.max_tier is not None and self.max_tier not in TIER_ORDER:
            raise ValueError(f"max_tier {self.max_tier!r} is not one of {', '.join(TIER_ORDER)}")
        if self.allow_providers is not None:
            self.allow_providers = tuple(self.allow_providers)
        self.deny_providers = tuple(self.deny_providers)

    @classmethod
    def from_names(cls, names: Iterable[str], **limits: Any) -> Requirements:
        """`Requirements.from_names(["tools", "image"], min_context=200_000)`; unknown names raise ValueError."""
        flags: dict[str, Any] = {}
        for name in capability_names(list(names)):  # the one vocabulary; unknown words raise, listing it
            flags["local_only" if name == "local" else name] = True
        return cls(**flags, **limits)

    @classmethod
    def coerce(cls, value: Requirements | Mapping[str, Any] | Iterable[str] | None) -> Requirements:
        if value is None:
            return cls()
        if isinstance(value, Requirements):
            return value
        if isinstance(value, Mapping):
            names = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - names)
            if unknown:
                raise ValueError(f"unknown requirement(s) {', '.join(unknown)}; valid: {', '.join(sorted(names))}")
            return cls(**value)
        if isinstance(value, str):
            return cls.from_names(value.split(","))
        return cls.from_names(value)

    def required(self) -> tuple[str, ...]:
        return tuple(c for c in CAPABILITIES if getattr(self, c) is True)


@dataclass(slots=True)
class Selection:
    """One ranked model. Fully-matching selections over the whole catalog are shared between calls: read-only."""

    model_id: str
    info: ModelInfo
    score: float  # fraction of requirements known to be met: 1.0 = all known, lower = some unknown
    reasons: list[str] = field(default_factory=list)
    excluded: bool = False
    failed: list[str] = field(default_factory=list)


def _fmt(n: int) -> str:
    return f"{n:,}"


def evaluate(info: ModelInfo, req: Requirements, local: frozenset[str]) -> tuple[list[str], list[str]]:
    """(failed, unknown) requirement descriptions for one model."""
    failed: list[str] = []
    unknown: list[str] = []
    for cap in req.required():
        value = info.has(cap)
        if value is False:
            failed.append(f"{cap}: not supported")
        elif value is None:
            unknown.append(f"{cap}: unknown")
    for label, have, need in (("context", info.context, req.min_context), ("max_output", info.max_output, req.min_output)):
        if need:
            if have is None:
                unknown.append(f"{label}: unknown")
            elif have < need:
                failed.append(f"{label}: {_fmt(have)} < {_fmt(need)}")
    price = info.blended_price
    if req.max_price is not None:
        if price is None:
            unknown.append("price: unknown")
        elif price > req.max_price:
            failed.append(f"price: ${price:.2f}/M > ${req.max_price:.2f}/M")
    if req.max_tier is not None:
        tier = tier_for(price)
        if tier is None:
            unknown.append("tier: unknown")
        elif TIER_ORDER[tier] > TIER_ORDER[req.max_tier]:
            failed.append(f"tier: {tier} > {req.max_tier}")
    if req.allow_providers is not None and info.provider not in req.allow_providers:
        failed.append(f"provider: {info.provider} not in allowed providers")
    if info.provider in req.deny_providers:
        failed.append(f"provider: {info.provider} is denied")
    if req.local_only and info.provider not in local:
        failed.append(f"local_only: {info.provider} is not a local provider")
    return failed, unknown


def _checks(req: Requirements) -> int:
    n = len(req.required()) + bool(req.min_context) + bool(req.min_output)
    return n + (req.max_price is not None) + (req.max_tier is not None)


def _bits(mask: int, n: int) -> str:
    """Bit i of mask as character i ('0'/'1'); a sentinel bit keeps the length exactly n."""
    return bin(mask | (1 << n))[:2:-1]


class _ThresholdIndex:
    """Masks of models whose value is >= (or <=) any threshold, by bisect over the distinct values."""

    def __init__(self, values: Sequence[float | None], *, at_least: bool) -> None:
        self.at_least = at_least
        self.known = 0
        by_value: dict[float, int] = {}
        for i, v in enumerate(values):
            if v is not None:
                self.known |= 1 << i
                by_value[v] = by_value.get(v, 0) | (1 << i)
        self.values = sorted(by_value)
        self.masks: list[int] = []
        acc = 0
        walk = reversed(self.values) if at_least else iter(self.values)
        for v in walk:  # cumulative: >= v walking down, or <= v walking up
            acc |= by_value[v]
            self.masks.append(acc)
        if at_least:
            self.masks.reverse()

    def passing(self, limit: float) -> int:
        if self.at_least:
            k = bisect_left(self.values, limit)
            return self.masks[k] if k < len(self.masks) else 0
        k = bisect_right(self.values, limit) - 1
        return self.masks[k] if k >= 0 else 0


class _Index:
    """Per-catalog arrays and bitmasks, built once on first use."""

    def __init__(self, catalog: Catalog) -> None:
        infos = list(catalog.models.values())
        self.infos = infos
        self.n = n = len(infos)
        self.all = (1 << n) - 1
        self.true: dict[str, int] = {}
        self.false: dict[str, int] = {}
        for cap in CAPABILITIES:
            t = f = 0
            for i, info in enumerate(infos):
                v = getattr(info, cap)
                if v is True:
                    t |= 1 << i
                elif v is False:
                    f |= 1 << i
            self.true[cap], self.false[cap] = t, f
        prices = [info.blended_price for info in infos]
        self.context = _ThresholdIndex([info.context for info in infos], at_least=True)
        self.output = _ThresholdIndex([info.max_output for info in infos], at_least=True)
        self.price = _ThresholdIndex(prices, at_least=False)
        self.tier_limit = {name: limit for limit, name in TIER_LIMITS}  # the most a tier's blended price can be
        self.provider: dict[str, int] = {}
        for i, info in enumerate(infos):
            self.provider[info.provider] = self.provider.get(info.provider, 0) | (1 << i)
        self.local_ids = catalog._local_ids()
        self.local = 0
        for pid in self.local_ids:
            self.local |= self.provider.get(pid, 0)
        self.clean: list[Selection | None] = [None] * n
        self.order: dict[str, list[int]] = {
            "priority": list(range(n)),
            "cost": _order(prices, descending=False),
            "speed": _order([info.speed_tps for info in infos], descending=True),
            "context": _order([info.context for info in infos], descending=True),
        }


    def clean_selection(self, i: int) -> Selection:
        info = self.infos[i]
        sel = self.clean[i] = Selection(info.id, info, 1.0)
        return sel


def _order(values: Sequence[float | None], *, descending: bool) -> list[int]:
    """Stable order by value, unknown last, ties by position."""
    known = [(i, v) for i, v in enumerate(values) if v is not None]
    known.sort(key=lambda p: -p[1] if descending else p[1])
    return [i for i, _v in known] + [i for i, v in enumerate(values) if v is None]


def _index(catalog: Catalog) -> _Index:
    idx = catalog._selection_index
    if not isinstance(idx, _Index) or idx.n != len(catalog.models):
        idx = catalog._selection_index = _Index(catalog)
    return idx


def _select_all(idx: _Index, req: Requirements, prefer: str, limit: int | None, explain: bool) -> list[Selection]:
    ok = idx.all
    unknown_checks: list[tuple[str, int]] = []
    for cap in req.required():
        ok &= ~idx.false[cap]
        unknown_checks.append((f"{cap}: unknown", idx.all & ~(idx.true[cap] | idx.false[cap])))
    for label, tindex, need in (("context", idx.context, req.min_context), ("max_output", idx.output, req.min_output)):
        if need:
            ok &= tindex.passing(need) | ~tindex.known
            unknown_checks.append((f"{label}: unknown", idx.all & ~tindex.known))
    if req.max_price is not None:
        ok &= idx.price.passing(req.max_price) | ~idx.price.known
        unknown_checks.append(("price: unknown", idx.all & ~idx.price.known))
    if req.max_tier is not None and req.max_tier != "high":
        ok &= idx.price.passing(idx.tier_limit[cast(Tier, req.max_tier)]) | ~idx.price.known
    if req.max_tier is not None:
        unknown_checks.append(("tier: unknown", idx.all & ~idx.price.known))
    if req.allow_providers is not None:
        allowed = 0
        for pid in req.allow_providers:
            allowed |= idx.provider.get(pid, 0)
        ok &= allowed
    for pid in req.deny_providers:
        ok &= ~idx.provider.get(pid, 0)
    if req.local_only:
        ok &= idx.local
    ok &= idx.all
    any_unknown = 0
    for _, mask in unknown_checks:
        any_unknown |= mask
    n = idx.n
    known_bits = _bits(ok & ~any_unknown, n)
    unknown_bits = _bits(ok & any_unknown, n)
    order = idx.order[prefer]
    infos = idx.infos
    clean = idx.clean
    out = [clean[i] or idx.clean_selection(i) for i in order if known_bits[i] == "1"]
    if limit is not None and len(out) >= limit:
        return out[:limit]
    checks = [(label, _bits(mask, n)) for label, mask in unknown_checks if mask]
    total = _checks(req)
    buckets: dict[int, list[Selection]] = {}
    for i in order:
        if unknown_bits[i] == "1":
            reasons = [label for label, bits in checks if bits[i] == "1"]
            k = len(reasons)
            buckets.setdefault(k, []).append(Selection(infos[i].id, infos[i], 1 - k / total, reasons))
    for k in sorted(buckets):
        out += buckets[k]
    if limit is not None:
        return out[:limit]
    if explain:
        ok_bits = _bits(ok, n)
        out += _excluded((infos[i] for i in range(n) if ok_bits[i] == "0"), req, idx.local_ids)
    return out


def _excluded(infos: Iterable[ModelInfo], req: Requirements, local: frozenset[str]) -> list[Selection]:
    out = []
    for info in infos:
        failed, unknown = evaluate(info, req, local)
        out.append(Selection(info.id, info, 0.0, unknown, excluded=True, failed=failed))
    return out


def _select_list(catalog: Catalog, ids: Sequence[str], req: Requirements, prefer: str,
                 limit: int | None, explain: bool) -> list[Selection]:
    local = catalog._local_ids()
    total = _checks(req) or 1
    passing: list[tuple[int, int, Selection]] = []
    excluded: list[Selection] = []
    seen: set[str] = set()
    for pos, model_id in enumerate(ids):
        if model_id in seen:
            continue
        seen.add(model_id)
        info = catalog.info(model_id)
        failed, unknown = evaluate(info, req, local)
        if not info.known:
            unknown.append("not in the catalog")
        if failed:
            excluded.append(Selection(model_id, info, 0.0, unknown, excluded=True, failed=failed))
            continue
        k = len(unknown) - (not info.known)
        passing.append((k, pos, Selection(model_id, info, 1 - k / total, unknown)))
    key = _prefer_key(prefer)
    passing.sort(key=lambda t: (t[0], *key(t[2].info), t[1]))
    out = [s for _, _, s in passing]
    if limit is not None:
        out = out[:limit]
    return out + excluded if explain else out


def _prefer_key(prefer: str) -> Any:
    def cost(info: ModelInfo) -> tuple[int, float]:
        p = info.blended_price
        return (1, 0.0) if p is None else (0, p)

    def speed(info: ModelInfo) -> tuple[int, float]:
        return (1, 0.0) if info.speed_tps is None else (0, -info.speed_tps)

    def context(info: ModelInfo) -> tuple[int, float]:
        return (1, 0.0) if info.context is None else (0, -info.context)

    def priority(info: ModelInfo) -> tuple[()]:
        return ()

    return {"cost": cost, "speed": speed, "context": context, "priority": priority}[prefer]


def configured_chain(config: Any) -> list[str]:
    """primary + fallback from a config (or LoadedConfig); [] when nothing is configured."""
    cfg = config.config if hasattr(config, "config") and hasattr(config, "path") else config
    model = getattr(cfg, "model", None)
    if model is None:
        return []
    models = getattr(model, "models", None)
    if models is not None:
        return list(models)
    primary = getattr(model, "primary", None)
    return [m for m in [primary, *(getattr(model, "fallback", None) or [])] if m]


def smart_model_select(
    requirements: Requirements | Mapping[str, Any] | Iterable[str] | None = None,
    *,
    candidates: Sequence[str] | Literal["all"] | None = None,
    prefer: Prefer = "priority",
    limit: int | None = None,
    explain: bool = False,
    catalog: Catalog | None = None,
    config: Any = None,
) -> list[Selection]:
    """Models meeting `requirements`, best first.

    candidates: None = the configured chain (primary + fallback), "all" = the whole catalog, or ids.
    prefer: "priority" keeps chain order; "cost" (blended price ascending), "speed" (tokens/s
    descending) and "context" (descending) put unknown values last and keep chain order on ties.
    explain=True appends the excluded models, each with the requirements it failed.
    """
    req = Requirements.coerce(requirements)
    if prefer not in PREFERENCES:
        raise ValueError(f"prefer must be one of {', '.join(PREFERENCES)}, got {prefer!r}")
    if catalog is None or candidates is None:
        if config is None:
            from detour.config import load_config

            config = load_config()
        if catalog is None:
            from detour.catalog.store import load_catalog

            catalog = load_catalog(config)
        if candidates is None:
            candidates = configured_chain(config) or "all"
    if isinstance(candidates, str):
        if candidates != "all":
            raise ValueError(f"candidates must be 'all' or a list of model ids, got {candidates!r}")
        return _select_all(_index(catalog), req, prefer, limit, explain)
    return _select_list(catalog, list(candidates), req, prefer, limit, explain)
