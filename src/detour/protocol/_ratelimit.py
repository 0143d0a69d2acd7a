"""Rate-limit budgets and reset signals: retry headers, provider reset headers, hints in body text.

Everything here works on a dict of *lowercased* rate-limit headers built once by ``collect()``;
the public entry points (``retry_after``, ``rate_state``) live in ``detour.protocol.errors``.

Reset values come in four shapes, told apart by looking at the value:

    "6m0s", "20ms", "2.463586755s"   Go / protobuf duration      -> seconds
    "30", "1.5"                      plain number below 1e9      -> seconds
    "1741305600", "1741305600000"    epoch seconds / milliseconds -> seconds from now
    "2025-08-21T12:40:59Z"           RFC 3339 timestamp           -> seconds from now
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.utils import parsedate_to_datetime
from functools import cache

_PREFIXES = ("x-ratelimit", "anthropic-ratelimit-")
_RETRY_HEADERS = frozenset({"retry-after", "retry-after-ms"})
_FIRST = frozenset("xXaArR")  # first letters of every header we read: skip the rest unlowered
_FIRST_BYTES = frozenset((b"x", b"X", b"a", b"A", b"r", b"R"))
_PREFIXES_BYTES = tuple(p.encode() for p in _PREFIXES)
_RETRY_BYTES = frozenset(h.encode() for h in _RETRY_HEADERS)
_EPOCH_MS = 1e11  # numbers above this are epoch milliseconds (year 1973 onwards)
_EPOCH_S = 1e9  # numbers above this are epoch seconds; below, a plain delay in seconds
_WINDOWS = (("-minute", 60.0), ("-hour", 3600.0), ("-day", 86400.0), ("-week", 604800.0), ("-month", 2678400.0))

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|h|m|s)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_WORD_UNITS = {"ms": 1e-3, "mil": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0, "h": 3600.0, "hr": 3600.0, "hou": 3600.0}

_RETRY_IN = re.compile(r"(?:try again|retry)\s+(?:in|after)\s+((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|h|m|s))+)(?![a-z])", re.IGNORECASE)
_RETRY_IN_WORDS = re.compile(
    r"(?:try again|retry)\s+(?:in|after)\s+(\d+(?:\.\d+)?)\s*(milliseconds?|ms|seconds?|secs?|s|minutes?|mins?|hours?|hrs?)\b",
    re.IGNORECASE,
)
_RESETS_AT = re.compile(
    r"(?:resets?|regain access)\s+(?:at|on)\s+(\d{4}-\d{2}-\d{2})"
    r"(?:(?:T|\s+at\s+|\s+)(\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?\s*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)
_RESETS_AT_EPOCH = re.compile(r"resets?\s+at\s+(\d{10,13})\b", re.IGNORECASE)
_DAILY = re.compile(r"per[ -]day|perday|\bdaily\b|\(rpd\)|\(tpd\)", re.IGNORECASE)


@dataclass(slots=True)
class RateState:
    """Budgets read off one response: what is left per limit, and seconds until each limit resets.

    Names are the limit names the provider uses: "requests", "tokens", "input-tokens",
    "output-tokens", "tokens_usage_based", Mistral "requests-minute"/"tokens-minute", and the
    Anthropic subscription windows "unified", "unified-5h", "unified-7d" (those are fractions 0..1).
    """

    remaining: dict[str, float] = field(default_factory=dict)
    reset_in: dict[str, float] = field(default_factory=dict)

    def exhausted(self) -> list[str]:
        """Limits whose remaining budget is zero."""
        return [name for name, left in self.remaining.items() if left <= 0]

    def wait_s(self) -> float | None:
        """Seconds until every exhausted limit has reset; None when nothing is exhausted or no reset is known."""
        waits = [self.reset_in[name] for name in self.exhausted() if name in self.reset_in]
        return max(waits) if waits else None


# ---------------------------------------------------------------- scalar parsers


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def parse_duration(text: str | None) -> float | None:
    """Seconds in a Go/protobuf duration ("6m0s", "20ms", "2m59.56s", "2.463586755s") or a bare number."""
    if not text:
        return None
    text = text.strip()
    if text[-1:].isalpha():
        return _go_duration(text)
    value = _number(text)
    return value if value is not None and value >= 0 else None


def _go_duration(text: str) -> float | None:
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return total if pos and pos == len(text) and math.isfinite(total) else None


def _timestamp(text: str) -> float | None:
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    try:
        return dt.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def reset_value(text: str, now: float) -> float | None:
    """Seconds from ``now`` until a reset given as a duration, a delay, an epoch (s or ms) or RFC 3339."""
    text = text.strip()
    if ":" in text:
        ts = _timestamp(text)
        return None if ts is None else max(0.0, ts - now)
    if text[-1:].isalpha():
        return _go_duration(text)
    value = _number(text)
    if value is None or value < 0:
        return None
    if value > _EPOCH_MS:
        return max(0.0, value / 1000.0 - now)
    return max(0.0, value - now) if value > _EPOCH_S else value


def _http_date(text: str) -> float | None:
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None


# ---------------------------------------------------------------- headers


def collect(headers: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> dict[str, str]:
    """The rate-limit and retry headers only, keys lowercased; one pass, nothing else copied."""
    if not headers:
        return {}
    raw = getattr(headers, "raw", None)
    if isinstance(raw, list):  # httpx.Headers: filter the undecoded bytes, decode only the hits
        return _collect_raw(raw)
    items = headers.items() if hasattr(headers, "items") else headers
    out: dict[str, str] = {}
    for key, value in items:
        if type(key) is not str or key[:1] not in _FIRST:
            continue
        low = key.lower()
        if (low.startswith(_PREFIXES) or low in _RETRY_HEADERS) and type(value) is str:
            out[low] = value
    return out


def _collect_raw(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in raw:
        if key[:1] not in _FIRST_BYTES:
            continue
        low = key.lower()
        if low.startswith(_PREFIXES_BYTES) or low in _RETRY_BYTES:
            out[low.decode("latin-1")] = value.decode("latin-1")
    return out


def header_retry_after(h: Mapping[str, str], now: float) -> float | None:
    """The SDK order: retry-after-ms, then retry-after as seconds, then retry-after as an HTTP date."""
    ms = h.get("retry-after-ms")
    if ms is not None:
        value = _number(ms)
        if value is not None and value >= 0:
            return value / 1000.0
    ra = h.get("retry-after")
    if ra is None:
        return None
    value = _number(ra)
    if value is not None:
        return value if value >= 0 else None
    ts = _http_date(ra)
    return None if ts is None else max(0.0, ts - now)


def _limit_name(name: str) -> str:
    # Mistral says "req-minute" where everyone else says "requests"
    return "requests" + name[3:] if name == "req" or name.startswith("req-") else name


def _put_remaining(state: RateState, name: str, text: str) -> None:
    value = _number(text)
    if value is not None:
        old = state.remaining.get(name)
        state.remaining[name] = value if old is None else min(old, value)


def _put_reset(state: RateState, name: str, text: str, now: float) -> None:
    value = reset_value(text, now)
    if value is not None:
        state.reset_in[name] = value


def _x_ratelimit(state: RateState, rest: str, value: str, now: float) -> None:
    # rest is what follows "x-ratelimit": "-remaining-tokens", "-reset-requests", "-remaining" (OpenRouter)...
    if rest == "-remaining":
        _put_remaining(state, "requests", value)
    elif rest == "-reset":
        _put_reset(state, "requests", value, now)
    elif rest.startswith("-remaining-"):
        _put_remaining(state, _limit_name(rest[11:]), value)
    elif rest.startswith("-reset-"):
        _put_reset(state, _limit_name(rest[7:]), value, now)


def _anthropic(state: RateState, rest: str, value: str, now: float) -> None:
    # rest is what follows "anthropic-ratelimit-": "tokens-remaining", "unified-5h-utilization"...
    name, _, kind = rest.rpartition("-")
    if not name or "overage" in name:
        return
    if kind == "remaining":
        _put_remaining(state, name, value)
    elif kind == "reset":
        _put_reset(state, name, value, now)
    elif kind == "utilization":
        used = _number(value)
        if used is not None:
            _put_remaining(state, name, str(max(0.0, 1.0 - used)))
    elif kind == "status" and name.startswith("unified") and value.strip().lower() == "rejected":
        state.remaining[name] = 0.0


def _infer_window_resets(state: RateState) -> None:
    # Mistral sends no reset header; a "-minute" budget is back within a minute at the latest
    for name in state.exhausted():
        if name in state.reset_in:
            continue
        for suffix, seconds in _WINDOWS:
            if name.endswith(suffix):
                state.reset_in[name] = seconds
                break


def state_from(h: Mapping[str, str], now: float) -> RateState | None:
    """RateState from collected (lowercased) headers; None when none of them is a rate-limit header."""
    state: RateState | None = None
    for key, value in h.items():
        if key.startswith("anthropic-ratelimit-"):
            state = state or RateState()
            _anthropic(state, key[20:], value, now)
        elif key.startswith("x-ratelimit"):
            state = state or RateState()
            _x_ratelimit(state, key[11:], value, now)
    if state is None:
        return None
    _infer_window_resets(state)
    return state


# ---------------------------------------------------------------- body text


def text_hint(text: str, now: float) -> float | None:
    """A wait stated in prose: "try again in 644ms", "retry in 53.01s", "resets at 2025-...", "regain access on ..."."""
    if not text:
        return None
    m = _RETRY_IN.search(text)
    if m:
        return parse_duration(m.group(1))
    m = _RETRY_IN_WORDS.search(text)
    if m:
        return float(m.group(1)) * _word_unit(m.group(2).lower())
    m = _RESETS_AT.search(text)
    if m:
        ts = _timestamp(_iso(m.group(1), m.group(2), m.group(3)))
        return None if ts is None else max(0.0, ts - now)
    m = _RESETS_AT_EPOCH.search(text)
    return reset_value(m.group(1), now) if m else None


def _word_unit(word: str) -> float:
    if word.startswith("mil") or word == "ms":
        return 1e-3
    return _WORD_UNITS.get(word[:3], _WORD_UNITS.get(word[:1], 1.0))


def _iso(day: str, clock: str | None, tz: str | None) -> str:
    clock = clock or "00:00"
    if len(clock.split(":", 1)[0]) == 1:
        clock = "0" + clock
    if tz is None or tz.upper() in ("Z", "UTC", "GMT"):
        offset = "+00:00"
    else:
        offset = tz if ":" in tz else f"{tz[:3]}:{tz[3:]}"
    return f"{day}T{clock}{offset}"


def is_daily(text: str) -> bool:
    """True when the text names a per-day window ("per day", "free-models-per-day", "(RPD)")."""
    return bool(text) and _DAILY.search(text) is not None


@cache
def _pacific() -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("America/Los_Angeles")
    except Exception:  # noqa: BLE001 - no tz database: standard time is late by an hour in summer, never early
        return timezone(timedelta(hours=-8))


def daily_reset_in(now: float, *, pacific: bool = False) -> float:
    """Seconds until the next midnight (UTC, or US Pacific where Gemini resets its per-day quotas)."""
    tz = _pacific() if pacific else UTC
    today = datetime.fromtimestamp(now, tz)
    midnight = datetime(today.year, today.month, today.day, tzinfo=tz) + timedelta(days=1)
    return max(0.0, midnight.timestamp() - now)


# ---------------------------------------------------------------- subscription windows


@dataclass(frozen=True, slots=True)
class Window:
    """One subscription / quota window an upstream reports (Claude Pro/Max 5-hour and weekly, ChatGPT via Codex).

    ``used`` is the fraction spent (0..1); ``resets_at`` an epoch time; ``status`` Anthropic's
    allowed / allowed_warning / rejected when sent.
    """

    name: str  # "5h", "7d", "7d_opus"... (Codex: from the window's length)
    used: float
    resets_at: float | None = None
    status: str | None = None
    minutes: float | None = None


_UNIFIED = "anthropic-ratelimit-unified-"
_CODEX = "x-codex-"
_WINDOW_NAMES = {300.0: "5h", 10080.0: "7d"}


def read_windows(headers: Mapping[str, str] | None, now: float) -> list[Window]:
    """The windows in one response's headers: ``anthropic-ratelimit-unified-{5h,7d}-{utilization,reset,status}``
    and ``x-codex-{primary,secondary}-{used-percent,window-minutes,reset-after-seconds,reset-at}``."""
    if not headers:
        return []
    fields: dict[tuple[str, str], str] = {}
    for key, value in headers.items():
        low = key.lower()
        if low.startswith(_UNIFIED):
            name, _, kind = low[len(_UNIFIED):].rpartition("-")
            if name and "overage" not in name:
                fields[("a:" + name, kind)] = value
        elif low.startswith(_CODEX) and low[len(_CODEX):].startswith(("primary-", "secondary-")):
            name, _, kind = low[len(_CODEX):].partition("-")
            fields[("c:" + name, kind)] = value
    out: list[Window] = []
    for source in dict.fromkeys(k for k, _ in fields):
        window = _anthropic_window(source[2:], fields, source, now) if source[0] == "a" else (
            _codex_window(fields, source, now))
        if window is not None:
            out.append(window)
    return out


def _anthropic_window(name: str, fields: dict[tuple[str, str], str], source: str, now: float) -> Window | None:
    used = _number(fields.get((source, "utilization"), ""))
    if used is None:
        return None
    reset = fields.get((source, "reset"))
    wait = reset_value(reset, now) if reset else None
    status = fields.get((source, "status"))
    return Window(name, min(max(used, 0.0), 1.0), None if wait is None else now + wait, status and status.strip())


def _codex_window(fields: dict[tuple[str, str], str], source: str, now: float) -> Window | None:
    percent = _number(fields.get((source, "used-percent"), ""))
    if percent is None:
        return None
    minutes = _number(fields.get((source, "window-minutes"), ""))
    resets_at: float | None = None
    if (after := _number(fields.get((source, "reset-after-seconds"), ""))) is not None:
        resets_at = now + max(after, 0.0)
    elif (at := _number(fields.get((source, "reset-at"), ""))) is not None:
        resets_at = at / 1000.0 if at > _EPOCH_MS else at
    name = _WINDOW_NAMES.get(minutes or 0.0) or (f"{minutes:g}m" if minutes else source[2:])
    return Window(name, min(max(percent / 100.0, 0.0), 1.0), resets_at, None, minutes)
