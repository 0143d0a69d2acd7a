"""Planning: which candidates to try, in which order, and why the others were skipped. Pure, no I/O.

    chain entries ─▶ groups [model, *equivalent routes] ─▶ capability / guardrail filter
                 ─▶ strategy order (priority | cost | speed) ─▶ unknown-capability placement
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from detour.catalog.model import CAPABILITIES, TIER_ORDER, ModelInfo
from detour.protocol.codec import Codec
from detour.routing.needs import Needs

if TYPE_CHECKING:  # pragma: no cover
    from detour.config import ChainConfig


@dataclass(frozen=True, slots=True)
class Target:
    """One model on one endpoint, resolved once per config (cached by the router)."""

    model_id: str  # "provider/model"
    provider: str
    model: str  # the name sent on the wire
    codec: Codec  # its wire protocol, from CODECS
    endpoint: Any  # detour.config.Endpoint (base_url, api_keys, headers, ...)
    info: ModelInfo | None = None
    via: str | None = None  # set on an equivalent route: the chain entry it stands in for
    url_images: bool = True  # can take images by URL
    image_types: frozenset[str] | None = None  # image media types its protocol takes (None: not known to refuse any)
    price: float | None = None  # blended USD / Mtok
    tier: int | None = None  # TIER_ORDER value
    keys: tuple[Any, ...] = ()  # detour.routing.keys.Key, aliases + secrets (never shown)
    hosted_tools: bool = False  # the upstream runs its provider's built-in tools (OpenAI Responses)


@dataclass(frozen=True, slots=True)
class Candidate:
    target: Target
    unknown: frozenset[str] = frozenset()  # needs this model might lack (catalog says None)


@dataclass(slots=True)
class Plan:
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (model_id, reason)
    primary: str = ""  # the chain's first choice, planned out or not
    route: Any = None  # detour.routing.routes.RouteMatch when a route rule chose the chain


@dataclass(frozen=True, slots=True)
class Guardrails:
    """A chain's planning rules, read from its validated config (the defaults live in ``ChainConfig``)."""

    strategy: Literal["priority", "cost", "speed"]
    unknown_capability: Literal["last", "skip", "try"]
    max_cost_tier: Literal["free", "low", "medium", "high"] | None
    max_price_ratio: float | None
    allow_downgrade: bool

    @classmethod
    def from_chain(cls, chain: ChainConfig) -> Guardrails:
        return cls(chain.strategy, chain.unknown_capability, chain.max_cost_tier, chain.max_price_ratio,
                   chain.allow_downgrade)


SpeedOf = Callable[[str], float | None]  # measured tokens/s for a model id, None when unmeasured
MissingOf = Callable[[str], frozenset[str]]  # capabilities the health ledger learned a model lacks

_NONE: frozenset[str] = frozenset()


def make_plan(
    groups: Sequence[Sequence[Target]],
    needs: Needs,
    rails: Guardrails,
    *,
    missing: MissingOf = lambda _m: _NONE,
    speed: SpeedOf = lambda _m: None,
) -> Plan:
    """Groups are chain entries, each ``[model, *its equivalent routes]``; the first group is the primary."""
    primary = groups[0][0] if groups and groups[0] else None
    plan = Plan(primary=primary.model_id if primary is not None else "")
    caps = needs.caps | _downgrade_needs(primary, rails)
    ceiling = _price_ceiling(primary, rails)
    max_tier = TIER_ORDER.get(rails.max_cost_tier) if rails.max_cost_tier else None
    kept: list[list[Candidate]] = []
    for group in groups:
        row: list[Candidate] = []
        for target in group:
            reason, unknown = _check(target, needs, caps, missing(target.model_id))
            if reason is None and target is not primary:
                reason = _guardrail(target, ceiling, max_tier)
            if reason is None and unknown and rails.unknown_capability == "skip":
                reason = "unknown:" + ",".join(sorted(unknown))
            if reason is None:
                row.append(Candidate(target, unknown))
            else:
                plan.skipped.append((target.model_id, reason))
        if row:
            kept.append(row)
    ordered = _order(kept, rails.strategy, speed)
    if rails.unknown_capability == "last":
        plan.candidates = [c for c in ordered if not c.unknown] + [c for c in ordered if c.unknown]
    else:
        plan.candidates = ordered
    return plan


def _check(target: Target, needs: Needs, caps: frozenset[str], learned: frozenset[str]) -> tuple[str | None, frozenset[str]]:
    """(skip reason or None, needs of unknown support)."""
    info = target.info
    unknown: set[str] = set()
    for cap in caps:
        if cap in learned:
            return "missing:" + cap, _NONE
        if cap == "local":  # where the model runs is the endpoint's fact, not the catalog's
            have: bool | None = bool(getattr(target.endpoint, "local", False))
        else:  # the catalog's value with the config's declarations on top, even for an uncatalogued model
            have = info.has(cap) if info is not None else None
        if have is False:
            return "missing:" + cap, _NONE
        if have is None:
            unknown.add(cap)
    if needs.min_context and info is not None and info.context and info.context < needs.min_context:
        return "context_too_small", _NONE
    if needs.image_urls and not target.url_images:
        return "image_url_unsupported", _NONE
    if needs.image_types and target.image_types is not None and not needs.image_types <= target.image_types:
        return "media_type:" + ",".join(sorted(needs.image_types - target.image_types)), _NONE
    if needs.hosted_tool and not target.hosted_tools:
        return "hosted_tool:" + needs.hosted_tool, _NONE
    return None, frozenset(unknown) if unknown else _NONE


def _guardrail(target: Target, ceiling: float | None, max_tier: int | None) -> str | None:
    if max_tier is not None and target.tier is not None and target.tier > max_tier:
        return "cost_tier"
    if ceiling is not None and target.price is not None and target.price > ceiling:
        return "price_ratio"
    return None


def _downgrade_needs(primary: Target | None, rails: Guardrails) -> frozenset[str]:
    """allowDowngrade=false: every capability the primary has becomes a need of its fallbacks."""
    if rails.allow_downgrade or primary is None or primary.info is None:
        return _NONE
    return frozenset(c for c in CAPABILITIES if getattr(primary.info, c) is True)


def _price_ceiling(primary: Target | None, rails: Guardrails) -> float | None:
    if rails.max_price_ratio is None or primary is None or primary.price is None:
        return None
    return primary.price * rails.max_price_ratio


def _order(groups: list[list[Candidate]], strategy: str, speed: SpeedOf) -> list[Candidate]:
    """Sort whole groups (an equivalent route stays beside its model); unknown values go last."""
    if strategy == "cost":
        groups = sorted(groups, key=lambda g: _last_if_none(g[0].target.price))
    elif strategy == "speed":
        groups = sorted(groups, key=lambda g: _last_if_none(_neg(speed(g[0].target.model_id))))
    return [c for g in groups for c in g]


def _neg(value: float | None) -> float | None:
    return None if value is None else -value


def _last_if_none(value: float | None) -> tuple[int, float]:
    return (1, 0.0) if value is None else (0, value)


def after_context_failure(remaining: list[Candidate], failed: Target) -> tuple[list[Candidate], list[tuple[str, str]]]:
    """context_too_long: keep only candidates with a larger (or unknown) context than the failed one."""
    limit = failed.info.context if failed.info is not None else None
    if not limit:
        return [c for c in remaining if c.target.model_id != failed.model_id], []
    keep, skipped = [], []
    for c in remaining:
        ctx = c.target.info.context if c.target.info is not None else None
        if c.target.model_id == failed.model_id or (ctx is not None and ctx <= limit):
            skipped.append((c.target.model_id, "context_too_small"))
        else:
            keep.append(c)
    return keep, skipped


def prefer_uncensored(remaining: list[Candidate]) -> list[Candidate]:
    """content_blocked + onContentBlock=switch: uncensored models first, known-moderated ones last."""
    def rank(c: Candidate) -> int:
        info = c.target.info
        if info is None:
            return 1
        return 0 if info.uncensored else (2 if info.moderated or info.uncensored is False else 1)

    return sorted(remaining, key=rank)
