"""The policy table: what to do after a failure, by error kind. Pure: no I/O, no sleeping.

    kind               action                                            cools (default scope)
    rate_limited       onRateLimit: auto-switch | retry | wait | fail    model, until reset
    quota_exhausted    next key of the provider, then switch             key, window or 1 h ladder
    auth_failed        next key of the provider, then switch             key, until config reload
    overloaded         retry with backoff (retryAttempts), then switch   model, transient ladder
    server_error       retry with backoff (retryAttempts), then switch   model, transient ladder
    timeout            switch (no retry on the same route)               model, transient ladder
    unreachable        switch                                            provider, 1 s first step, then the ladder
    connection_lost    retry once at once (fresh connection), switch     route (model + key), transient ladder
    stream_broken      switch                                            model, transient ladder
    context_too_long   switch to a larger (or unknown) context           -
    content_blocked    onContentBlock: fail | switch (uncensored first)  -
    bad_request        fail, unless an unsupported parameter: skip       -
    not_found          switch                                            model, 1 h ladder
    bad_answer         escalate: switch to the next (stronger) candidate  -  (the model is healthy)

Scope: the classifier's own scope is authoritative when it gives one (a Gemini quota that is
``…PerDayPerProjectPerModel`` cools that model, not the whole key); the table's column is only the default for
failures that carry none. ``unreachable`` is only a failure before the request was sent (refused, DNS, TLS,
connect timeout): the one kind that speaks for the provider, and its first cooldown step is short. A reset or
hang-up after sending (``connection_lost``) is this route's transient: nothing was received, so the request is
sent once more on a fresh connection, then the next candidate is tried; siblings on the provider stay available.

Hedged probes (``Walk``): a half-open probe first opens its connection; when that is not up within
``PROBE_HEDGE_S`` (a black-holed host that never answers the SYN) and another candidate remains, the request
goes on to that candidate at once and the connect continues in the background, bounded by
``timeouts.connect``, holding the probe lease: a black-holed primary costs one connect timeout when it first
dies, and ``PROBE_HEDGE_S`` per recovery probe after that. Offline, a short ``timeouts.connect`` (e.g. 1 s) bounds
that first wait too.

Last resort (``Walk``): when every candidate that can serve a request is cooling and at least one of those
cooldowns is a guess (no reset time came from the provider: a ladder step, a quota with no window), the walk
makes one attempt at the guessed candidate whose cooldown ends soonest instead of failing with no attempt;
success closes that cooldown. A cooldown the provider stated (Retry-After, reset headers, remaining=0) is
never cut short, and auth / not-found cooldowns are facts, not guesses (``health.store.Cooldown.guessed``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeAlias

from detour.health.ladder import backoff
from detour.protocol.errors import Failure

if TYPE_CHECKING:  # pragma: no cover
    from detour.config import ChainConfig

Action: TypeAlias = Literal["retry", "next_key", "switch", "fail", "skip"]
PROBE_HEDGE_S = 0.3  # how long a recovery probe may hold a request while it connects


@dataclass(frozen=True, slots=True)
class Settings:
    """A chain's failure policy, read from its validated config (the defaults live in ``ChainConfig``)."""

    on_rate_limit: Literal["auto-switch", "retry", "wait", "fail"]
    retry_attempts: int
    max_retry_wait: float
    on_content_block: Literal["fail", "switch"]

    @classmethod
    def from_chain(cls, chain: ChainConfig) -> Settings:
        return cls(chain.on_rate_limit, chain.retry_attempts, chain.max_retry_wait, chain.on_content_block)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    wait: float = 0.0  # seconds to sleep before a retry (never more than max_retry_wait)
    cool: str | None = None  # which scope to cool: "key" | "model" | "provider" | "route" (model + key)


SCOPES: dict[str, str] = {
    "rate_limited": "model",
    "quota_exhausted": "key",
    "auth_failed": "key",
    "overloaded": "model",
    "server_error": "model",
    "timeout": "model",
    "unreachable": "provider",
    "connection_lost": "route",
    "stream_broken": "model",
    "not_found": "model",
}


def decide(failure: Failure, retries: int, s: Settings, *, rand: Callable[[], float] | None = None) -> Decision:
    """``retries``: retries already spent on this route for this request."""
    kind = failure.kind
    scope = _scope(failure)
    if kind == "rate_limited":
        return _rate_limited(failure, retries, s, scope, rand)
    if kind in ("quota_exhausted", "auth_failed"):
        return Decision("next_key", cool=scope)
    if kind in ("overloaded", "server_error"):
        if retries < s.retry_attempts:
            wait = failure.retry_after_s if failure.retry_after_s is not None else _backoff(retries + 1, rand)
            if wait <= s.max_retry_wait:
                return Decision("retry", wait=wait)
        return Decision("switch", cool=scope)
    if kind == "connection_lost":
        # nothing was received, so nothing can be duplicated: once more on a fresh connection, then switch
        return Decision("retry") if retries == 0 else Decision("switch", cool=scope)
    if kind in ("timeout", "unreachable", "stream_broken", "not_found"):
        return Decision("switch", cool=scope)
    if kind in ("context_too_long", "bad_answer"):
        return Decision("switch")
    if kind == "content_blocked":
        return Decision("switch" if s.on_content_block == "switch" else "fail")
    if kind == "bad_request" and failure.unsupported_param:
        return Decision("skip")
    return Decision("fail")


def _rate_limited(failure: Failure, retries: int, s: Settings, scope: str, rand: Callable[[], float] | None) -> Decision:
    mode = s.on_rate_limit
    after = failure.retry_after_s
    if mode == "fail":
        return Decision("fail", cool=scope)
    if mode == "retry" and retries < s.retry_attempts:
        wait = after if after is not None else _backoff(retries + 1, rand)
        if wait <= s.max_retry_wait:
            return Decision("retry", wait=wait)
    if mode == "wait" and retries == 0 and after is not None and after <= s.max_retry_wait:
        return Decision("retry", wait=after)
    return Decision("switch", cool=scope)


def after_probe(failure: Failure, decision: Decision) -> Decision:
    """A half-open probe is one request: when it fails, the next cooldown step starts, never a retry burst."""
    return Decision("switch", cool=_scope(failure)) if decision.action == "retry" else decision


def _scope(failure: Failure) -> str:
    """The classifier's scope when it gave one (it read the provider's own words), else the table's default."""
    return failure.scope or SCOPES.get(failure.kind, "model")


def _backoff(attempt: int, rand: Callable[[], float] | None) -> float:
    return backoff(attempt, rand=rand) if rand is not None else backoff(attempt)


UNSUPPORTED_PARAMS: dict[str, str] = {
    "tools": "tools",
    "tool_choice": "tools",
    "functions": "tools",
    "parallel_tool_calls": "tools",
    "reasoning_effort": "reasoning",
    "reasoning": "reasoning",
    "thinking": "thinking",
    "thinking_config": "thinking",
    "thinkingconfig": "thinking",
    "response_format": "structured_output",
    "response_schema": "structured_output",
    "image_url": "image",
    "image": "image",
    "document": "pdf",
}


def capability_for_param(param: str | None) -> str | None:
    """An unsupported parameter named by a 400 -> the capability to remember as missing."""
    if not param:
        return None
    key = param.lower().rsplit(".", 1)[-1]
    return UNSUPPORTED_PARAMS.get(key, f"param:{key}")
