"""One error taxonomy for every provider, translated at one boundary.

Every failed attempt becomes a ``Failure`` whose ``kind`` is one of::

    Failure.kind
    ├── transient (retry the same model after a wait, or fall back)
    │   ├── rate_limited      429 rate limits, OpenRouter 402 with Retry-After
    │   ├── overloaded        503, 529, Groq 498, Anthropic overloaded_error, Gemini UNAVAILABLE
    │   ├── server_error      500, 502, other 5xx, 409
    │   ├── timeout           408, 504, read/write/pool timeouts
    │   ├── unreachable       nothing was sent: connection refused, DNS, TLS, connect timeout (scope "provider")
    │   ├── connection_lost   reset or hang-up after the request was sent, before any response header
    │   │                     (scope "route": this model on this key; says nothing about the provider)
    │   └── stream_broken     connection lost after the response headers
    └── final for this route (fall back without retrying the same model)
        ├── quota_exhausted   billing codes, 402, per-day quotas (scope "key" unless the quota is per model)
        ├── auth_failed       401, 403, Gemini API_KEY_INVALID / FAILED_PRECONDITION (scope "key")
        ├── not_found         404, model_not_found
        ├── context_too_long  context-length errors, 413, OpenAI "Request too large ... TPM"
        ├── content_blocked   content-policy rejections, OpenRouter 403 moderation
        └── bad_request       any other 4xx; ``unsupported_param`` names a rejected parameter

Entry points: ``classify`` (an HTTP error response), ``classify_stream_error`` (an error payload after a
200), ``classify_exception`` (a transport error), plus ``retry_after`` / ``rate_state`` / ``parse_duration``
for reset signals. Order of evidence: the HTTP status, then the provider's code/type/status fields,
then message text (a rate-limit word in a non-429 body is never trusted: bodies echo prompts).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from detour.protocol._ratelimit import (
    RateState,
    Window,
    collect,
    daily_reset_in,
    header_retry_after,
    is_daily,
    parse_duration,
    read_windows,
    reset_value,
    state_from,
    text_hint,
)

__all__ = [
    "TRANSIENT",
    "ErrorKind",
    "Failure",
    "RateState",
    "Scope",
    "Window",
    "classify",
    "classify_exception",
    "classify_stream_error",
    "parse_duration",
    "rate_state",
    "retry_after",
    "windows",
]

ErrorKind: TypeAlias = Literal[
    "rate_limited",
    "quota_exhausted",
    "overloaded",
    "server_error",
    "timeout",
    "unreachable",
    "auth_failed",
    "not_found",
    "context_too_long",
    "content_blocked",
    "bad_request",
    "stream_broken",
    "connection_lost",
    "bad_answer",  # an HTTP 200 answer that failed one of the chain's answer checks (detour.routing.checks)
]
# "route" is one model on one key; None on a Failure means "the policy table's default" (routing.policy.SCOPES)
Scope: TypeAlias = Literal["key", "model", "provider", "route"]

TRANSIENT: frozenset[str] = frozenset(
    {"rate_limited", "overloaded", "server_error", "timeout", "unreachable", "connection_lost", "stream_broken"}
)


@dataclass(slots=True)
class Failure:
    kind: ErrorKind
    message: str = ""
    status: int | None = None
    retry_after_s: float | None = None
    scope: Scope | None = None  # set by the classifiers (authoritative); None: the policy table decides
    code: str | None = None  # the provider's own code/type, e.g. "insufficient_quota"
    unsupported_param: str | None = None  # set on a bad_request that names an unsupported parameter
    remaining: dict[str, float] = field(default_factory=dict)

    @property
    def retryable(self) -> bool:
        """True when the same model may succeed after a wait."""
        return self.kind in TRANSIENT


_MAX_MESSAGE = 500
_Decision: TypeAlias = tuple[ErrorKind, Scope]
_WAIT_KINDS = frozenset({"rate_limited", "quota_exhausted", "overloaded", "server_error", "timeout"})

# ---------------------------------------------------------------- signal tables (lowercase unless noted)

_QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "credit_balance_exhausted",
        "organization_spend_limit_exceeded",
        "project_spend_limit_exceeded",
        "organization_usage_limit_exceeded",
        "billing_hard_limit_reached",
        "billing_not_active",
        "billing_error",
        "enforced_spend_limit_reached",
    }
)
_QUOTA_TEXT = (
    "credit balance is too low",
    "reached your specified api usage limits",
    "reached your specified workspace api usage limits",
    "insufficient balance",
    "insufficient credits",
    "insufficient_quota",
)
_AUTH_CODES = frozenset({"invalid_api_key", "api_key_invalid", "failed_precondition", "authentication_error"})
_AUTH_TEXT = ("api key not valid", "invalid api key", "incorrect api key", "api key expired")
_NOT_FOUND_CODES = frozenset({"model_not_found", "unknown_model", "not_found_error", "not_found"})
_NOT_FOUND_RE = re.compile(r"\bmodels?\b[^\n]{0,160}?(?:\bnot found\b|\bdoes not exist\b)")
_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_TEXT = (
    "maximum context length",
    "context length exceeded",
    "context_length_exceeded",
    "prompt is too long",
    "exceed context limit",
    "exceeds the maximum number of tokens allowed",
    "exceeds the available context size",
    "longer than the model's context length",
    "input tokens exceed the configured limit",
    "context size has been exceeded",
    "exceeds the context window",
    "request too large for",
)
_CONTENT_CODES = frozenset(
    {
        "content_policy_violation",
        "content_filter",
        "invalid_prompt",
        "bio_policy",
        "image_content_policy_violation",
        "moderation_blocked",
        "responsibleaipolicyviolation",
    }
)
_CONTENT_TEXT = (
    "violating our usage policy",
    "usage policies",
    "safety system",
    "content filtering policy",
    "content management policy",
    "content policy",
    "flagged by",
    "requires moderation",
    "moderation",
)
_OVERLOADED_CODES = frozenset({"overloaded_error", "unavailable", "capacity_exceeded"})
_TIMEOUT_CODES = frozenset({"timeout_error", "deadline_exceeded"})
_RATE_TEXT = ("rate limit", "ratelimit", "too many requests", "rate_limit")
_OVERLOADED_TEXT = ("overloaded", "server busy", "capacity", "temporarily unavailable")
_TIMEOUT_TEXT = ("timed out", "timeout", "deadline exceeded")

# a code/type with no HTTP status (mid-stream) stands for the status it normally comes with
_CODE_STATUS: dict[str, int] = {
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "rate_limited": 429,
    "slow_down": 429,
    "1300": 429,
    "resource_exhausted": 429,
    "tokens": 429,
    "requests": 429,
    "overloaded_error": 529,
    "capacity_exceeded": 498,
    "unavailable": 503,
    "api_error": 500,
    "server_error": 500,
    "internal": 500,
    "internal_error": 500,
    "timeout_error": 504,
    "deadline_exceeded": 504,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "unauthenticated": 401,
    "permission_error": 403,
    "permission_denied": 403,
    "billing_error": 402,
    "not_found_error": 404,
    "not_found": 404,
    "model_not_found": 404,
    "unknown_model": 404,
    "request_too_large": 413,
    "invalid_request_error": 400,
    "invalid_argument": 400,
    "failed_precondition": 400,
}
# Cloudflare origin errors in front of a provider
_STATUS_5XX: dict[int, _Decision] = {
    503: ("overloaded", "model"),
    504: ("timeout", "model"),
    529: ("overloaded", "model"),
    521: ("unreachable", "provider"),
    522: ("timeout", "model"),
    523: ("unreachable", "provider"),
    524: ("timeout", "model"),
}

_UNSUPPORTED_NAMED = (
    re.compile(r"unsupported (?:parameter|value):\s*['\"`]?([\w.\[\]-]+)", re.IGNORECASE),
    re.compile(r"unrecognized request arguments? supplied:\s*['\"`]?([\w.]+)", re.IGNORECASE),
    re.compile(r"^([\w-]+)(?:\.[\w.-]+)?: extra inputs are not permitted", re.IGNORECASE),
    re.compile(r"['\"`]([\w.]+)['\"`] is not supported", re.IGNORECASE),
)
_UNSUPPORTED_TRIGGER = re.compile(r"does not support|do not support|is not supported|are not supported|is not enabled")
_QUOTED_AFTER = re.compile(r"^\s*(?:the\s+)?['\"`]([a-z_][\w.]*)['\"`]")
_QUOTED_BEFORE = re.compile(r"['\"`]([a-z_][\w.]*)['\"`]\s*(?:parameter\s*)?$")
_PARAM_WORDS = (
    (("tool", "function call"), "tools"),
    (("image", "vision", "multimodal"), "image"),
    (("reasoning", "thinking"), "reasoning_effort"),
    (("developer instruction", "system"), "system"),
    (("json mode", "response_format", "structured output", "json schema"), "response_format"),
    (("audio",), "audio"),
    (("stream",), "stream"),
    (("logprobs",), "logprobs"),
)
_TAGS = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"\s+")


# ---------------------------------------------------------------- the error envelope


@dataclass(slots=True)
class _Err:
    """The fields every provider envelope boils down to."""

    message: str = ""
    code: str | None = None  # string code: OpenAI code, Mistral "1300", Anthropic details.error_code
    type: str | None = None  # OpenAI/Anthropic/Mistral type
    grpc: str | None = None  # Gemini status, e.g. "RESOURCE_EXHAUSTED"
    num: int | None = None  # numeric code (Gemini, OpenRouter): mirrors the HTTP status
    param: str | None = None
    details: list[Any] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    text: str = ""  # lowercased message plus any upstream raw error, for substring rules

    def codes(self) -> tuple[str, ...]:
        return tuple(c.lower() for c in (self.code, self.type, self.grpc) if c)

    def provider_code(self) -> str | None:
        return self.code or self.type or self.grpc


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _from_text(text: str) -> _Err:
    if "<" in text:
        text = _TAGS.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()[:_MAX_MESSAGE]
    return _Err(message=text, text=text.lower())


def _from_dict(d: Mapping[str, Any]) -> _Err:
    err = _Err(message=_str(d.get("message")) or "")
    code = d.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        err.num = code
    else:
        err.code = _str(code)
    kind = _str(d.get("type"))
    err.type = None if kind == "error" else kind
    status = d.get("status")
    if isinstance(status, str):
        err.grpc = status or None
    elif isinstance(status, int) and not isinstance(status, bool) and err.num is None:
        err.num = status
    err.param = _str(d.get("param"))
    _details(err, d.get("details"))
    meta = d.get("metadata")
    if isinstance(meta, dict):
        err.metadata = meta
    raw = err.metadata.get("raw")
    extra = raw if isinstance(raw, str) else ""
    err.text = f"{err.message} {extra}".lower() if extra else err.message.lower()
    return err


def _details(err: _Err, details: Any) -> None:
    if isinstance(details, list):
        err.details = details
    elif isinstance(details, dict):  # Anthropic: error.details.error_code
        code = _str(details.get("error_code"))
        err.code = code or err.code


def _envelope(body: Any) -> _Err:
    """Parse any error body: bytes/str (JSON or not), a dict, or Gemini's one-element list."""
    if body is None:
        return _Err()
    if isinstance(body, (bytes, bytearray, memoryview)):
        body = bytes(body).decode("utf-8", "replace")
    if isinstance(body, str):
        stripped = body.strip()
        if not stripped.startswith(("{", "[")):
            return _from_text(stripped)
        try:
            body = json.loads(stripped)
        except (ValueError, RecursionError):
            return _from_text(stripped)
    if isinstance(body, list):
        body = body[0] if body else None
    if not isinstance(body, dict):
        return _from_text(str(body)) if isinstance(body, (str, int, float)) else _Err()
    inner = body.get("error")
    if isinstance(inner, dict):
        return _from_dict(inner)
    if isinstance(inner, str) and inner:  # Ollama native, Groq x_groq.error
        return _from_text(inner)
    return _from_dict(body)  # Mistral flat envelope, Responses flat error event


# ---------------------------------------------------------------- Gemini details


def _google(err: _Err, suffix: str) -> list[dict[str, Any]]:
    return [d for d in err.details if isinstance(d, dict) and str(d.get("@type", "")).endswith(suffix)]


def _quota_ids(err: _Err) -> list[str]:
    ids: list[str] = []
    for detail in _google(err, "QuotaFailure"):
        violations = detail.get("violations")
        for v in violations if isinstance(violations, list) else ():
            if isinstance(v, dict) and isinstance(v.get("quotaId"), str):
                ids.append(v["quotaId"])
    return ids


def _error_reasons(err: _Err) -> list[str]:
    return [str(d.get("reason", "")).lower() for d in _google(err, "ErrorInfo")]


def _google_hint(err: _Err, now: float) -> float | None:
    for detail in _google(err, "RetryInfo"):
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and (value := parse_duration(delay)) is not None:
            return value
    for detail in _google(err, "ErrorInfo"):
        meta = detail.get("metadata")
        if not isinstance(meta, dict):
            continue
        for key in ("quotaResetDelay", "quotaResetTimeStamp"):
            if isinstance(meta.get(key), str) and (value := reset_value(meta[key], now)) is not None:
                return value
    return None


# ---------------------------------------------------------------- classification by status


def _has(err: _Err, codes: frozenset[str]) -> bool:
    return any(c in codes for c in err.codes())


def _says(err: _Err, phrases: tuple[str, ...]) -> bool:
    return any(p in err.text for p in phrases)


def _effective_status(status: int, err: _Err) -> int:
    if 400 <= status <= 599:
        return status
    if err.num is not None and 400 <= err.num <= 599:
        return err.num
    for code in err.codes():
        if code in _CODE_STATUS:
            return _CODE_STATUS[code]
    return 0


def _decide(protocol: str, provider: str | None, status: int, h: Mapping[str, str], err: _Err) -> _Decision:
    if (status == 0 or 400 <= status < 500) and _has(err, _QUOTA_CODES):
        return "quota_exhausted", "key"
    if status == 429:
        return _on_429(protocol, provider, err)
    if 400 <= status < 500:
        return _on_4xx(provider, status, h, err)
    if 500 <= status < 600:
        return _on_5xx(status, err)
    return _by_text(err)


def _on_429(protocol: str, provider: str | None, err: _Err) -> _Decision:
    if "request too large" in err.text:  # bigger than the whole per-minute budget: waiting never helps
        return "context_too_long", "model"
    daily_ids = [q for q in _quota_ids(err) if "PerDay" in q]
    if daily_ids:
        return "quota_exhausted", "model" if all("PerModel" in q for q in daily_ids) else "key"
    if is_daily(err.text):
        return "quota_exhausted", "model"
    if "exceeded your current quota" in err.text and _openai_legacy_quota(protocol, provider, err):
        return "quota_exhausted", "key"
    return "rate_limited", "model"


# the codecs whose "exceeded your current quota" means billing (Gemini says it for per-minute limits too)
_BILLING_QUOTA_SENTENCE = frozenset({"openai", "openai-responses"})


def _openai_legacy_quota(protocol: str, provider: str | None, err: _Err) -> bool:
    return protocol in _BILLING_QUOTA_SENTENCE and provider != "gemini" and err.grpc is None and not err.details


def _on_4xx(provider: str | None, status: int, h: Mapping[str, str], err: _Err) -> _Decision:
    if status == 401:
        return "auth_failed", "key"
    if status == 402:
        waits = "retry-after" in h or "retry-after-ms" in h  # OpenRouter in-flight budget: a wait, not a bill
        return ("rate_limited", "key") if waits else ("quota_exhausted", "key")
    if status == 403:
        return _on_403(provider, err)
    if status == 404:
        return "not_found", "model"
    if status == 408:
        return "timeout", "model"
    if status == 409:
        return "server_error", "model"
    if status == 413:
        return "context_too_long", "model"
    if status == 498:
        return "overloaded", "model"
    return _on_400(err)


def _on_403(provider: str | None, err: _Err) -> _Decision:
    flagged = "flagged_input" in err.metadata or "reasons" in err.metadata
    if provider == "openrouter" or flagged or _has(err, _CONTENT_CODES) or _says(err, _CONTENT_TEXT):
        return "content_blocked", "model"
    return "auth_failed", "key"


def _on_400(err: _Err) -> _Decision:
    for decide in (_auth_signal, _quota_signal, _not_found_signal, _context_signal, _content_signal):
        found = decide(err)
        if found is not None:
            return found
    return "bad_request", "model"


def _auth_signal(err: _Err) -> _Decision | None:
    # Gemini: a bad key is a 400; FAILED_PRECONDITION (region/billing) means this key cannot use the API
    if _has(err, _AUTH_CODES) or "api_key_invalid" in _error_reasons(err) or _says(err, _AUTH_TEXT):
        return "auth_failed", "key"
    return None


def _quota_signal(err: _Err) -> _Decision | None:
    return ("quota_exhausted", "key") if _says(err, _QUOTA_TEXT) else None


def _not_found_signal(err: _Err) -> _Decision | None:
    if _has(err, _NOT_FOUND_CODES) or _NOT_FOUND_RE.search(err.text):
        return "not_found", "model"
    return None


def _context_signal(err: _Err) -> _Decision | None:
    return ("context_too_long", "model") if _has(err, _CONTEXT_CODES) or _says(err, _CONTEXT_TEXT) else None


def _content_signal(err: _Err) -> _Decision | None:
    return ("content_blocked", "model") if _has(err, _CONTENT_CODES) or _says(err, _CONTENT_TEXT) else None


def _on_5xx(status: int, err: _Err) -> _Decision:
    if _has(err, _OVERLOADED_CODES):
        return "overloaded", "model"
    if _has(err, _TIMEOUT_CODES):
        return "timeout", "model"
    if status in _STATUS_5XX:
        return _STATUS_5XX[status]
    if "overloaded" in err.text:
        return "overloaded", "model"
    return "server_error", "model"


def _by_text(err: _Err) -> _Decision:
    """No status and no known code (a bare mid-stream error string): message text is all there is."""
    for decide in (_auth_signal, _quota_signal, _not_found_signal, _context_signal, _content_signal):
        found = decide(err)
        if found is not None:
            return found
    if _says(err, _RATE_TEXT):
        return "rate_limited", "model"
    if _says(err, _OVERLOADED_TEXT):
        return "overloaded", "model"
    if _says(err, _TIMEOUT_TEXT):
        return "timeout", "model"
    return "server_error", "model"


# ---------------------------------------------------------------- unsupported parameters


def _unsupported_param(err: _Err) -> str | None:
    if err.param and (err.code or "").startswith("unsupported_"):
        return err.param
    message = err.message
    for pattern in _UNSUPPORTED_NAMED:
        m = pattern.search(message)
        if m:
            return m.group(1)
    m = _UNSUPPORTED_TRIGGER.search(err.text)
    if m is None:
        return None
    after, before = err.text[m.end() : m.end() + 48], err.text[max(0, m.start() - 48) : m.start()]
    for window, quoted in ((after, _QUOTED_AFTER), (before, _QUOTED_BEFORE)):
        name = _param_in(window, quoted)
        if name:
            return name
    return None


def _param_in(window: str, quoted: re.Pattern[str]) -> str | None:
    m = quoted.search(window)
    if m:
        return m.group(1)
    for words, name in _PARAM_WORDS:
        if any(w in window for w in words):
            return name
    return None


# ---------------------------------------------------------------- reset signals


def _rate_headers(h: dict[str, str], err: _Err) -> dict[str, str]:
    """Real headers plus OpenRouter's upstream headers tucked into error.metadata.headers."""
    inner = err.metadata.get("headers")
    if not isinstance(inner, dict) or not inner:
        return h
    merged = collect({str(k): str(v) for k, v in inner.items()})
    merged.update(h)
    return merged


def _body_wait(err: _Err, now: float) -> float | None:
    hint = _google_hint(err, now)
    if hint is None:
        hint = text_hint(err.message, now)
    if any("PerDay" in q for q in _quota_ids(err)):  # Gemini states seconds even when the day is spent
        return max(hint or 0.0, daily_reset_in(now, pacific=True))
    if hint is None and is_daily(err.text):
        return daily_reset_in(now, pacific=err.grpc is not None)
    return hint


def _wait(h: Mapping[str, str], state: RateState | None, err: _Err, now: float) -> float | None:
    wait = header_retry_after(h, now)
    if wait is None and state is not None:
        wait = state.wait_s()
    return wait if wait is not None else _body_wait(err, now)


def retry_after(
    headers: Mapping[str, str] | None,
    body: bytes | str | dict[str, Any] | list[Any] | None = None,
    *,
    now: float | None = None,
) -> float | None:
    """Seconds to wait before the same request can succeed, or None when nothing says.

    Order: retry-after-ms, retry-after (seconds, then HTTP date), then the reset of an exhausted
    provider limit (x-ratelimit-*, anthropic-ratelimit-*, OpenRouter metadata headers), then the body
    (Gemini RetryInfo, "try again in 644ms", "resets at ...", a per-day window).
    """
    now = time.time() if now is None else now
    err = _envelope(body)
    h = _rate_headers(collect(headers), err)
    return _wait(h, state_from(h, now), err, now)


def rate_state(headers: Mapping[str, str] | None, *, now: float | None = None) -> RateState | None:
    """Remaining budgets and resets from any response's headers; None (cheaply) when there are none."""
    h = collect(headers)
    if not h:
        return None
    return state_from(h, time.time() if now is None else now)


# ---------------------------------------------------------------- public classifiers


def classify(
    protocol: str,
    status: int,
    headers: Mapping[str, str] | None,
    body: bytes | str | dict[str, Any] | list[Any] | None,
    *,
    provider: str | None = None,
    now: float | None = None,
) -> Failure:
    """Classify an upstream HTTP error response (status first, then codes, then message text)."""
    return _classify(protocol, status, collect(headers), _envelope(body), provider, now)


def _classify(
    protocol: str, status: int | None, h: dict[str, str], err: _Err, provider: str | None, now: float | None
) -> Failure:
    status = status or 0
    effective = _effective_status(status, err)
    kind, scope = _decide(protocol, (provider or "").lower() or None, effective, h, err)
    shown = status if status >= 400 else (err.num if err.num is not None and 100 <= err.num <= 599 else None)
    failure = Failure(kind, err.message[:_MAX_MESSAGE], status=shown, scope=scope, code=err.provider_code())
    if kind == "bad_request":
        failure.unsupported_param = _unsupported_param(err)
    now = time.time() if now is None else now
    rates = _rate_headers(h, err)
    state = state_from(rates, now) if rates else None
    if state is not None:
        failure.remaining = state.remaining
    if kind in _WAIT_KINDS:
        failure.retry_after_s = _wait(rates, state, err, now)
    return failure


def _stream_envelope(payload: Any) -> _Err:
    if not isinstance(payload, dict):
        return _envelope(payload)
    if payload.get("error"):
        return _envelope({"error": payload["error"]})
    response = payload.get("response")
    if isinstance(response, dict) and isinstance(response.get("error"), dict):  # Responses response.failed
        return _from_dict(response["error"])
    groq = payload.get("x_groq")
    if isinstance(groq, dict) and isinstance(groq.get("error"), str) and groq["error"]:
        return _from_text(groq["error"])
    if payload.get("type") == "error":  # Responses flat error event
        return _from_dict(payload)
    if _finish_error(payload):  # Mistral / OpenRouter: the stream just says it failed
        return _Err(message="upstream stream ended with finish_reason 'error'", text="")
    return _from_dict(payload)


def _finish_error(payload: Mapping[str, Any]) -> bool:
    choices = payload.get("choices")
    return isinstance(choices, list) and any(
        isinstance(c, dict) and c.get("finish_reason") == "error" for c in choices
    )


def classify_stream_error(
    protocol: str, payload: Any, *, provider: str | None = None, now: float | None = None
) -> Failure:
    """Classify an error that arrived inside a 200 stream: the payload's own fields decide."""
    return _classify(protocol, 0, {}, _stream_envelope(payload), provider, now)


# ---------------------------------------------------------------- transport errors

# matched by class name along the MRO, so httpx, httpcore, anyio, the SDKs and builtins share one table.
# "net" is a connection that failed once the request was on its way: connection_lost before the response
# headers, stream_broken after them. Only the connect phase (nothing sent) is "unreachable".
_EXCEPTION_KINDS: dict[str, str] = {
    "ConnectTimeout": "unreachable",  # nothing was sent: the host never answered
    "ConnectError": "unreachable",
    "ProxyError": "unreachable",
    "UnsupportedProtocol": "unreachable",
    "InvalidURL": "unreachable",
    "SSLError": "unreachable",
    "SSLCertVerificationError": "unreachable",
    "CertificateError": "unreachable",
    "gaierror": "unreachable",
    "ConnectionRefusedError": "unreachable",
    "ReadTimeout": "timeout",
    "WriteTimeout": "timeout",
    "PoolTimeout": "timeout",
    "TimeoutException": "timeout",
    "APITimeoutError": "timeout",
    "TimeoutError": "timeout",
    "RemoteProtocolError": "net",
    "ReadError": "net",
    "WriteError": "net",
    "NetworkError": "net",
    "LocalProtocolError": "net",
    "ProtocolError": "net",
    "APIConnectionError": "net",
    "ConnectionResetError": "net",
    "ConnectionAbortedError": "net",
    "BrokenPipeError": "net",
    "ConnectionError": "net",
    "EndOfStream": "net",
    "ClosedResourceError": "net",
    "BrokenResourceError": "net",
    "IncompleteRead": "net",
    "OSError": "net",
    "DecodingError": "decode",
    "StreamIncomplete": "decode",
}
_SCOPES: dict[str, Scope] = {"unreachable": "provider", "connection_lost": "route"}


def classify_exception(
    exc: BaseException,
    *,
    after_headers: bool = False,
    protocol: str = "openai",
    provider: str | None = None,
) -> Failure:
    """Classify a transport error; ``after_headers`` means the response had started (a broken stream).

    A wrapper (an SDK's APIConnectionError, httpx's errors around httpcore's) is looked through: when what
    it wraps failed to connect, the request never left and the failure is ``unreachable``.
    """
    status_failure = _status_exception(exc, protocol, provider)
    if status_failure is not None:
        return status_failure
    kind = _exception_kind(exc, after_headers)
    message = f"{type(exc).__name__}: {exc}"[:_MAX_MESSAGE]
    return Failure(kind, message, scope=_SCOPES.get(kind, "model"), code=type(exc).__name__)


def _exception_kind(exc: BaseException, after_headers: bool) -> ErrorKind:
    found = _class_kind(exc)
    if found in ("net", None) and not after_headers and _connect_phase(exc):
        return "unreachable"
    if found == "net":
        return "stream_broken" if after_headers else "connection_lost"
    if found == "decode" or found is None:
        return "stream_broken" if after_headers else "server_error"
    return found  # type: ignore[return-value]  # the table maps each protocol to a Failure, checked by the classifier tests


def _class_kind(exc: BaseException) -> str | None:
    for cls in type(exc).__mro__:
        found = _EXCEPTION_KINDS.get(cls.__name__)
        if found is not None:
            return found
    return None


def _connect_phase(exc: BaseException) -> bool:
    """Whether a wrapped cause (``__cause__`` / ``__context__`` chain) is a connect-phase failure."""
    seen: set[int] = {id(exc)}
    inner = exc.__cause__ or exc.__context__
    while inner is not None and id(inner) not in seen:
        if _class_kind(inner) == "unreachable":
            return True
        seen.add(id(inner))
        inner = inner.__cause__ or inner.__context__
    return False


def _status_exception(exc: BaseException, protocol: str, provider: str | None) -> Failure | None:
    """httpx.HTTPStatusError and SDK status errors carry a response: classify that instead."""
    try:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
        headers = collect(getattr(response, "headers", None))
    except Exception:  # noqa: BLE001 - a half-built response must not hide the real error
        return None
    if not isinstance(status, int) or isinstance(status, bool) or status < 400:
        return None
    return _classify(protocol, status, headers, _envelope(_exception_body(exc, response)), provider, None)


def _exception_body(exc: BaseException, response: Any) -> Any:
    for source, name in ((exc, "body"), (exc, "details"), (response, "content")):  # SDKs, google-genai, httpx
        try:
            body = getattr(source, name, None)
        except Exception:  # noqa: BLE001 - httpx.ResponseNotRead on a streamed response
            continue
        if body is not None:
            return body
    return None


def windows(headers: Mapping[str, str] | None, *, now: float | None = None) -> list[Window]:
    """Subscription windows (Anthropic unified 5h/7d, Codex primary/secondary) reported in response headers."""
    return read_windows(headers, time.time() if now is None else now)
