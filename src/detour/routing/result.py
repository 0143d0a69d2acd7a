"""What a routed request returns: the response plus how it was served; and the all-failed error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, get_args

from detour.catalog.model import ModelInfo
from detour.protocol.errors import ErrorKind, Failure
from detour.protocol.messages import Response, Usage


@dataclass(slots=True)
class Attempt:
    """One try on one route. ``key`` is an alias (OPENAI_API_KEY#2, key1), never the key itself."""

    model: str
    provider: str
    key: str
    kind: str  # "ok" or an ErrorKind
    status: int | None = None
    duration: float = 0.0
    retry_after: float | None = None
    message: str = ""
    mode: str = ""  # streaming rescue: "prefill" | "replay"; "" otherwise
    check: str = ""  # bad_answer: the check it failed; ok: "" or what became of the checks (skipped, unresolved)
    route: str = ""  # "rule -> chain" when a route rule chose the chain
    notes: tuple[str, ...] = ()  # what history repair changed for this target (e.g. thinking disabled)


@dataclass(slots=True)
class Result:
    response: Response
    model: str  # the model id that served the answer
    attempts: list[Attempt] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (model id, reason)
    fallback_reason: str | None = None  # why the first choice did not serve, None when it did
    cost: float | None = None  # USD, from usage x catalog prices; None when prices are unknown
    key: str = ""
    error: Failure | None = None  # streams only: the original failure when the answer is truncated
    route: Any = None  # detour.routing.routes.RouteMatch: the route rule that chose the chain, None when none did
    chain: str = ""  # the chain that served

    @property
    def escalations(self) -> list[tuple[str, str]]:
        """(model, check) of each answer a check turned down before this one."""
        return [(a.model, a.check) for a in self.attempts if a.kind == "bad_answer"]

    @property
    def complete(self) -> bool:
        return self.error is None

    def __str__(self) -> str:
        """The answer as a person reads it: its text, else its tool calls (``print(detour.complete(...))``)."""
        text = self.response.text()
        if text or not self.response.tool_calls():
            return text
        return "\n".join(f"{c.name}({c.arguments})" for c in self.response.tool_calls())


ERROR_KINDS: frozenset[str] = frozenset(get_args(ErrorKind))
# Result.fallback_reason (and the x-detour-fallback-reason header): why the chain's first choice did not serve.
FALLBACK_REASONS = """
    <error kind>             tried on this request and failed so: rate_limited, connection_lost, timeout, …
    cooling:<error kind>     not tried: cooling after an earlier failure of that kind (cooling:rate_limited)
    cooling:proactive        not tried: a budget header said 0 requests/tokens left until its reset
    cooling:probe_in_flight  not tried: its cooldown is over and another request holds its one recovery probe
    missing:<capability>     skipped: it lacks what the request needs (missing:tools, missing:image)
    unknown:<capabilities>   skipped (unknownCapability: skip): nobody knows whether it has them
    unsupported:<param>      skipped: it refused that parameter with a 400 (learned, not retried)
    context_too_small        skipped: the request does not fit its context window
    image_url_unsupported    skipped: the request has image URLs its protocol cannot fetch
    media_type:<types>       skipped: its protocol cannot take those media types
    hosted_tool:<name>       skipped: it has no such hosted tool
    cost_tier, price_ratio   skipped: the chain's cost guardrails
    budget                   skipped: its provider's (or the total) budget is spent
    no_endpoint              skipped: its provider has no base URL or key configured
"""


def reason_family(reason: str) -> str:
    """``error`` (tried and failed), ``cooling`` (not tried, cooling) or ``skipped`` (cannot serve it)."""
    if reason.startswith("cooling:"):
        return "cooling"
    return "error" if reason in ERROR_KINDS else "skipped"


def cost_of(usage: Usage, info: ModelInfo | None) -> float | None:
    """usage x prices (USD per Mtok); cached input tokens use the cache-read price when given."""
    if info is None or info.cost_input is None or info.cost_output is None:
        return None
    cached = min(usage.cached_tokens, usage.input_tokens)
    cache_price = info.cost_cache_read if info.cost_cache_read is not None else info.cost_input
    total = (usage.input_tokens - cached) * info.cost_input + cached * cache_price + usage.output_tokens * info.cost_output
    if usage.cache_write_tokens and info.cost_cache_write is not None:
        total += usage.cache_write_tokens * (info.cost_cache_write - info.cost_input)
    return total / 1_000_000


CLIENT_KINDS = frozenset({"bad_request", "context_too_long", "content_blocked"})
RATE_KINDS = frozenset({"rate_limited", "quota_exhausted"})


class AllFailed(Exception):
    """Every candidate failed or was unavailable: one aggregated error.

    ``status``: 429 when all were rate-limited/cooling, 504 when they timed out, the client's own 4xx
    for a client error, else 502. ``retry_after``: seconds until the first candidate comes back.
    """

    def __init__(self, message: str, *, status: int, attempts: list[Attempt], skipped: list[tuple[str, str]],
                 failure: Failure | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.skipped = skipped
        self.failure = failure
        self.retry_after = retry_after


def aggregate_status(attempts: list[Attempt], skipped: list[tuple[str, str]], final: Failure | None) -> int:
    if final is not None and final.kind in CLIENT_KINDS:
        return final.status if final.status and 400 <= final.status < 500 else 400
    kinds = [a.kind for a in attempts if a.kind != "ok"]
    cooling = any(r.startswith("cooling") or r == "budget" for _m, r in skipped)
    if not kinds and not cooling:
        return 400  # nothing could serve the request's needs: the client must change it
    if all(k in RATE_KINDS for k in kinds):
        return 429
    if all(k == "timeout" for k in kinds) and not cooling:
        return 504
    return 502
