"""Reset signals and remaining budgets: every header and body format the providers send, at a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from detour.protocol.errors import RateState, parse_duration, rate_state, retry_after

NOW = datetime(2025, 1, 15, 20, 0, 0, tzinfo=UTC).timestamp()  # winter: Pacific is UTC-8


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


# ---------------------------------------------------------------- parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("1s", 1.0),
        ("20ms", 0.02),
        ("12ms", 0.012),
        ("2m59.56s", 179.56),
        ("7.66s", 7.66),
        ("1h2m3s", 3723.0),
        ("53s", 53.0),
        ("2.463586755s", 2.463586755),
        ("1500us", 0.0015),
        ("30", 30.0),
        ("0.5", 0.5),
        (" 1s ", 1.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", [None, "", "abc", "5x", "1s2", "s", "-1s", "-3", "1s 2s", "nan", "inf"])
def test_parse_duration_rejects(text: str | None) -> None:
    assert parse_duration(text) is None


# ---------------------------------------------------------------- retry-after headers, SDK order


def test_retry_after_ms_wins_over_seconds() -> None:
    assert retry_after({"retry-after-ms": "1500", "retry-after": "30"}, now=NOW) == 1.5


def test_retry_after_seconds() -> None:
    assert retry_after({"Retry-After": "30"}, now=NOW) == 30.0


def test_retry_after_fractional_seconds() -> None:
    assert retry_after({"retry-after": "0.25"}, now=NOW) == 0.25


def test_retry_after_http_date() -> None:
    assert retry_after({"Retry-After": "Wed, 15 Jan 2025 20:00:42 GMT"}, now=NOW) == 42.0


def test_retry_after_http_date_in_past_is_zero() -> None:
    assert retry_after({"retry-after": "Wed, 15 Jan 2025 19:00:00 GMT"}, now=NOW) == 0.0


def test_retry_after_garbage_and_negative_are_ignored() -> None:
    assert retry_after({"retry-after": "soon"}, now=NOW) is None
    assert retry_after({"retry-after": "-5"}, now=NOW) is None
    assert retry_after({"retry-after-ms": "x", "retry-after": "3"}, now=NOW) == 3.0


def test_retry_after_nothing() -> None:
    assert retry_after({}, now=NOW) is None
    assert retry_after(None, None, now=NOW) is None
    assert retry_after({"content-type": "application/json"}, b"{}", now=NOW) is None


def test_retry_after_header_beats_body_hint() -> None:
    body = {"error": {"message": "Please try again in 644ms.", "code": "rate_limit_exceeded"}}
    assert retry_after({"retry-after": "2"}, body, now=NOW) == 2.0


# ---------------------------------------------------------------- provider reset headers


def test_openai_reset_of_the_exhausted_limit() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "6m0s",
        "x-ratelimit-remaining-tokens": "149000",
        "x-ratelimit-reset-tokens": "20ms",
    }
    assert retry_after(headers, now=NOW) == 360.0


def test_groq_reset_durations_take_the_longest_exhausted() -> None:
    headers = {
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "2m59.56s",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "7.66s",
    }
    assert retry_after(headers, now=NOW) == pytest.approx(179.56)


def test_reset_header_without_exhausted_limit_is_not_a_wait() -> None:
    headers = {"x-ratelimit-remaining-requests": "10", "x-ratelimit-reset-requests": "6m0s"}
    assert retry_after(headers, now=NOW) is None


def test_anthropic_rfc3339_reset() -> None:
    headers = {
        "anthropic-ratelimit-input-tokens-remaining": "0",
        "anthropic-ratelimit-input-tokens-reset": "2025-01-15T20:00:59Z",
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": "2025-01-15T20:00:01Z",
    }
    assert retry_after(headers, now=NOW) == 59.0


def test_anthropic_unified_rejected_uses_epoch_seconds_reset() -> None:
    headers = {
        "anthropic-ratelimit-unified-status": "rejected",
        "anthropic-ratelimit-unified-reset": str(int(NOW) + 3600),
    }
    assert retry_after(headers, now=NOW) == 3600.0


def test_mistral_minute_budget_infers_a_minute_window() -> None:
    headers = {"x-ratelimit-remaining-req-minute": "0", "x-ratelimit-limit-req-minute": "60"}
    assert retry_after(headers, now=NOW) == 60.0


def test_openrouter_reset_header_epoch_ms() -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int((NOW + 90) * 1000))}
    assert retry_after(headers, now=NOW) == pytest.approx(90.0)


def test_openrouter_reset_inside_error_metadata_headers() -> None:
    body = {
        "error": {
            "code": 429,
            "message": "Rate limit exceeded: limit_rpm/google/gemini-2.5-pro",
            "metadata": {
                "headers": {
                    "X-RateLimit-Limit": "20",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(int((NOW + 30) * 1000)),
                }
            },
        }
    }
    assert retry_after({}, body, now=NOW) == pytest.approx(30.0)


# ---------------------------------------------------------------- hints in the body


def test_gemini_retry_info_delay() -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "You exceeded your current quota.",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.463586755s"}],
        }
    }
    assert retry_after({}, body, now=NOW) == pytest.approx(2.463586755)


def test_gemini_retry_in_message_fallback() -> None:
    body = [{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "Quota hit. Please retry in 53.01s."}}]
    assert retry_after({}, body, now=NOW) == pytest.approx(53.01)


def test_gemini_error_info_quota_reset_timestamp() -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "Resource has been exhausted",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RATE_LIMIT_EXCEEDED",
                    "metadata": {"quotaResetTimeStamp": "2025-01-15T20:05:00Z"},
                }
            ],
        }
    }
    assert retry_after({}, body, now=NOW) == 300.0


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        ("Rate limit reached for gpt-4o on tokens per min (TPM). Please try again in 644ms.", 0.644),
        ("Rate limit exceeded, try again in 20s", 20.0),
        ("Please try again in 7m12s.", 432.0),
        ("Too many requests. Retry after 1.5 seconds", 1.5),
        ("Limit reached; try again in 2 minutes.", 120.0),
        ("Your limit resets at 2025-01-15T21:00:00Z.", 3600.0),
        ("You will regain access on 2025-01-16 at 00:00 UTC.", 4 * 3600.0),
    ],
)
def test_text_hints(message: str, seconds: float) -> None:
    assert retry_after({}, {"error": {"message": message}}, now=NOW) == pytest.approx(seconds)


def test_per_day_text_means_the_next_utc_midnight() -> None:
    body = {"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-day. Add credits to unlock more."}}
    assert retry_after({}, body, now=NOW) == 4 * 3600.0


def test_gemini_per_day_quota_outlasts_its_short_retry_delay() -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "You exceeded your current quota. Please retry in 20.5s.",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}],
                },
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "20s"},
            ],
        }
    }
    # next midnight in California: 2025-01-16T08:00Z, twelve hours after NOW
    assert retry_after({}, body, now=NOW) == 12 * 3600.0


# ---------------------------------------------------------------- rate_state


def test_rate_state_none_without_rate_limit_headers() -> None:
    assert rate_state(None) is None
    assert rate_state({}) is None
    assert rate_state({"content-type": "application/json", "retry-after": "3"}, now=NOW) is None


def test_rate_state_openai_with_usage_based_variant() -> None:
    state = rate_state(
        {
            "X-RateLimit-Limit-Requests": "10000",
            "X-RateLimit-Remaining-Requests": "9999",
            "X-RateLimit-Remaining-Tokens": "0",
            "x-ratelimit-reset-requests": "6ms",
            "x-ratelimit-reset-tokens": "1s",
            "x-ratelimit-remaining-tokens_usage_based": "149984",
            "x-ratelimit-reset-tokens_usage_based": "6m0s",
        },
        now=NOW,
    )
    assert state == RateState(
        remaining={"requests": 9999.0, "tokens": 0.0, "tokens_usage_based": 149984.0},
        reset_in={"requests": 0.006, "tokens": 1.0, "tokens_usage_based": 360.0},
    )
    assert state.exhausted() == ["tokens"]
    assert state.wait_s() == 1.0


def test_rate_state_anthropic_families() -> None:
    state = rate_state(
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "49",
            "anthropic-ratelimit-requests-reset": "2025-01-15T20:00:01Z",
            "anthropic-ratelimit-tokens-remaining": "24000",
            "anthropic-ratelimit-tokens-reset": "2025-01-15T20:00:10Z",
            "anthropic-ratelimit-input-tokens-remaining": "20000",
            "anthropic-ratelimit-input-tokens-reset": "2025-01-15T20:00:06.5Z",
            "anthropic-ratelimit-output-tokens-remaining": "4000",
            "anthropic-ratelimit-output-tokens-reset": "2025-01-15T20:00:10Z",
        },
        now=NOW,
    )
    assert state is not None
    assert state.remaining == {"requests": 49.0, "tokens": 24000.0, "input-tokens": 20000.0, "output-tokens": 4000.0}
    assert state.reset_in == {"requests": 1.0, "tokens": 10.0, "input-tokens": 6.5, "output-tokens": 10.0}
    assert state.wait_s() is None


def test_rate_state_anthropic_unified_windows() -> None:
    state = rate_state(
        {
            "anthropic-ratelimit-unified-status": "allowed",
            "anthropic-ratelimit-unified-5h-utilization": "1.0",
            "anthropic-ratelimit-unified-5h-reset": str(int(NOW) + 1800),
            "anthropic-ratelimit-unified-7d-utilization": "0.25",
            "anthropic-ratelimit-unified-7d-reset": str(int(NOW) + 86400),
            "anthropic-ratelimit-unified-overage-status": "rejected",
        },
        now=NOW,
    )
    assert state is not None
    assert state.remaining == {"unified-5h": 0.0, "unified-7d": 0.75}
    assert state.reset_in == {"unified-5h": 1800.0, "unified-7d": 86400.0}
    assert state.wait_s() == 1800.0


def test_rate_state_mistral_minute_budgets() -> None:
    state = rate_state(
        {
            "x-ratelimit-limit-req-minute": "60",
            "x-ratelimit-remaining-req-minute": "59",
            "x-ratelimit-limit-tokens-minute": "500000",
            "x-ratelimit-remaining-tokens-minute": "0",
            "x-ratelimit-tokens-query-cost": "12",
        },
        now=NOW,
    )
    assert state == RateState(
        remaining={"requests-minute": 59.0, "tokens-minute": 0.0}, reset_in={"tokens-minute": 60.0}
    )


def test_rate_state_reads_httpx_headers() -> None:
    headers = httpx.Headers({"X-RateLimit-Remaining-Requests": "0", "X-RateLimit-Reset-Requests": "1s"})
    state = rate_state(headers, now=NOW)
    assert state is not None and state.wait_s() == 1.0


def test_rate_state_ignores_unparseable_values() -> None:
    state = rate_state({"x-ratelimit-remaining-requests": "lots", "x-ratelimit-reset-requests": "later"}, now=NOW)
    assert state == RateState()
