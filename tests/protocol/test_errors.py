"""The error taxonomy: one case per classification rule, mid-stream errors, transport errors."""

from __future__ import annotations

import json
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, get_args

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detour.protocol.errors import (
    ErrorKind,
    Failure,
    classify,
    classify_exception,
    classify_stream_error,
    rate_state,
    retry_after,
)

NOW = datetime(2025, 1, 15, 20, 0, 0, tzinfo=UTC).timestamp()
KINDS = set(get_args(ErrorKind))


def oai(message: str, type_: str | None = None, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def ant(type_: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message, **extra}, "request_id": "req_1"}


def gem(code: int, status: str, message: str, *details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": code, "status": status, "message": message, "details": list(details)}}


def quota_failure(*ids: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
            {"quotaMetric": "generativelanguage.googleapis.com/generate_content_requests", "quotaId": i} for i in ids
        ],
    }


def retry_info(delay: str) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


def orr(code: int, message: str, **metadata: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "metadata": metadata}}


# (id, protocol, provider, status, headers, body, kind, scope)
CASES: list[tuple[str, str, str | None, int, dict[str, str], Any, str, str]] = [
    # rate limits
    (
        "openai-429-rate-limit-tokens",
        "openai",
        None,
        429,
        {},
        oai(
            "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 29500, "
            "Requested 900. Please try again in 644ms.",
            "tokens",
            "rate_limit_exceeded",
        ),
        "rate_limited",
        "model",
    ),
    (
        "openai-429-slow-down",
        "openai",
        None,
        429,
        {},
        oai("Please reduce your rate of requests.", "rate_limit_error", "slow_down"),
        "rate_limited",
        "model",
    ),
    (
        "anthropic-429-rate-limit",
        "anthropic",
        None,
        429,
        {"retry-after": "12"},
        ant(
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 40,000 input tokens per minute.",
        ),
        "rate_limited",
        "model",
    ),
    (
        "gemini-429-per-minute",
        "gemini",
        None,
        429,
        {},
        gem(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota. Please retry in 53.01s.",
            quota_failure("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
            retry_info("53s"),
        ),
        "rate_limited",
        "model",
    ),
    ("deepseek-429", "openai", "deepseek", 429, {}, oai("Rate Limit Reached"), "rate_limited", "model"),
    (
        "mistral-429-code-1300",
        "openai",
        "mistral",
        429,
        {"Retry-After": "1"},
        {
            "object": "error",
            "message": "Rate limit exceeded",
            "type": "rate_limited",
            "param": None,
            "code": "1300",
            "raw_status_code": 429,
        },
        "rate_limited",
        "model",
    ),
    (
        "mistral-429-no-envelope",
        "openai",
        "mistral",
        429,
        {},
        {"message": "Requests rate limit exceeded"},
        "rate_limited",
        "model",
    ),
    (
        "mistral-429-service-tier-capacity",
        "openai",
        "mistral",
        429,
        {},
        {
            "object": "error",
            "message": "Service tier capacity exceeded for this model.",
            "type": "service_tier_capacity_exceeded",
            "code": "3505",
        },
        "rate_limited",
        "model",
    ),
    (
        "groq-429",
        "openai",
        "groq",
        429,
        {"retry-after": "7"},
        oai(
            "Rate limit reached for model `llama-3.3-70b-versatile` on requests per minute (RPM): Limit 30, Used 30.",
            "requests",
            "rate_limit_exceeded",
        ),
        "rate_limited",
        "model",
    ),
    (
        "openrouter-429-upstream",
        "openai",
        "openrouter",
        429,
        {},
        orr(
            429,
            "google/gemini-2.5-pro is temporarily rate-limited upstream.",
            headers={
                "X-RateLimit-Limit": "20",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(int((NOW + 30) * 1000)),
            },
        ),
        "rate_limited",
        "model",
    ),
    ("ollama-429", "openai", "ollama", 429, {}, {"error": "too many requests"}, "rate_limited", "model"),
    # request too large for the TPM budget: never fits, so it is treated as a context error
    (
        "openai-429-request-too-large",
        "openai",
        None,
        429,
        {},
        oai(
            "Request too large for gpt-4 in organization org-x on tokens per min (TPM): Limit 30000, Requested 36055. "
            "The input or output tokens must be reduced in order to run successfully.",
            "tokens",
            "rate_limit_exceeded",
        ),
        "context_too_long",
        "model",
    ),
    # quota / billing
    (
        "openai-429-insufficient-quota-legacy",
        "openai",
        None,
        429,
        {},
        oai("You exceeded your current quota, please check your plan and billing details.", "insufficient_quota"),
        "quota_exhausted",
        "key",
    ),
    (
        "openai-429-credit-balance-exhausted",
        "openai",
        None,
        429,
        {},
        oai("Your credit balance is exhausted.", "insufficient_quota", "credit_balance_exhausted"),
        "quota_exhausted",
        "key",
    ),
    (
        "openai-429-org-spend-limit",
        "openai",
        None,
        429,
        {},
        oai("Organization spend limit exceeded.", "insufficient_quota", "organization_spend_limit_exceeded"),
        "quota_exhausted",
        "key",
    ),
    (
        "openai-429-project-spend-limit",
        "openai",
        None,
        429,
        {},
        oai("Project spend limit exceeded.", "insufficient_quota", "project_spend_limit_exceeded"),
        "quota_exhausted",
        "key",
    ),
    (
        "openai-429-org-usage-limit",
        "openai",
        None,
        429,
        {},
        oai("Organization usage limit exceeded.", "insufficient_quota", "organization_usage_limit_exceeded"),
        "quota_exhausted",
        "key",
    ),
    (
        "openai-429-quota-message-only",
        "openai",
        None,
        429,
        {},
        {"error": {"message": "You exceeded your current quota, please check your plan and billing details."}},
        "quota_exhausted",
        "key",
    ),
    (
        "anthropic-429-enforced-spend-limit",
        "anthropic",
        None,
        429,
        {},
        ant(
            "rate_limit_error",
            "You have reached your spend limit.",
            details={"error_code": "enforced_spend_limit_reached"},
        ),
        "quota_exhausted",
        "key",
    ),
    (
        "anthropic-billing-error",
        "anthropic",
        None,
        402,
        {},
        ant("billing_error", "Billing issue on this account."),
        "quota_exhausted",
        "key",
    ),
    (
        "anthropic-400-credit-balance-too-low",
        "anthropic",
        None,
        400,
        {},
        ant(
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
            "Billing to upgrade or purchase credits.",
        ),
        "quota_exhausted",
        "key",
    ),
    (
        "anthropic-400-workspace-spend-limit",
        "anthropic",
        None,
        400,
        {},
        ant(
            "invalid_request_error",
            "You have reached your specified workspace API usage limits. You will regain access "
            "on 2025-02-01 at 00:00 UTC.",
        ),
        "quota_exhausted",
        "key",
    ),
    (
        "gemini-429-per-day-per-model",
        "gemini",
        None,
        429,
        {},
        gem(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota. Please retry in 20s.",
            quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
            retry_info("20s"),
        ),
        "quota_exhausted",
        "model",
    ),
    (
        "gemini-429-per-day-per-project",
        "gemini",
        None,
        429,
        {},
        gem(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota.",
            quota_failure("GenerateContentInputTokensPerDayPerProject-FreeTier"),
        ),
        "quota_exhausted",
        "key",
    ),
    (
        "deepseek-402",
        "openai",
        "deepseek",
        402,
        {},
        oai("Insufficient Balance", "unknown_error", "invalid_request_error"),
        "quota_exhausted",
        "key",
    ),
    (
        "mistral-402",
        "openai",
        "mistral",
        402,
        {},
        {"object": "error", "message": "Payment required", "type": "invalid_request_error"},
        "quota_exhausted",
        "key",
    ),
    (
        "openrouter-402-no-retry-after",
        "openai",
        "openrouter",
        402,
        {},
        orr(402, "Your account or API key has insufficient credits. Add more credits and retry the request."),
        "quota_exhausted",
        "key",
    ),
    (
        "openrouter-402-in-flight-budget",
        "openai",
        "openrouter",
        402,
        {"Retry-After": "5"},
        orr(402, "Request would exceed the in-flight budget for this key.", limit_source="in_flight_budget"),
        "rate_limited",
        "key",
    ),
    (
        "openrouter-429-free-models-per-day",
        "openai",
        "openrouter",
        429,
        {},
        orr(
            429,
            "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day",
            limit_source="openrouter_free_tier_daily",
        ),
        "quota_exhausted",
        "model",
    ),
    # overloaded
    ("anthropic-529", "anthropic", None, 529, {}, ant("overloaded_error", "Overloaded"), "overloaded", "model"),
    (
        "openai-503",
        "openai",
        None,
        503,
        {},
        oai("The engine is currently overloaded, please try again later", "server_error"),
        "overloaded",
        "model",
    ),
    (
        "gemini-503-unavailable",
        "gemini",
        None,
        503,
        {},
        gem(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        "overloaded",
        "model",
    ),
    ("deepseek-503", "openai", "deepseek", 503, {}, oai("Server Overloaded"), "overloaded", "model"),
    (
        "groq-498-capacity",
        "openai",
        "groq",
        498,
        {},
        oai("Flex tier capacity exceeded. Please try again later.", "capacity_exceeded", "capacity_exceeded"),
        "overloaded",
        "model",
    ),
    (
        "openrouter-503-no-provider",
        "openai",
        "openrouter",
        503,
        {},
        orr(503, "No instances available that meet your routing requirements."),
        "overloaded",
        "model",
    ),
    (
        "ollama-503-server-busy",
        "openai",
        "ollama",
        503,
        {},
        {"error": "server busy, please try again.  maximum pending requests exceeded"},
        "overloaded",
        "model",
    ),
    # server errors
    (
        "openai-500",
        "openai",
        None,
        500,
        {},
        oai("The server had an error while processing your request. Sorry about that!", "server_error"),
        "server_error",
        "model",
    ),
    (
        "anthropic-500-api-error",
        "anthropic",
        None,
        500,
        {},
        ant("api_error", "Internal server error"),
        "server_error",
        "model",
    ),
    (
        "gemini-500-internal",
        "gemini",
        None,
        500,
        {},
        gem(500, "INTERNAL", "An internal error has occurred."),
        "server_error",
        "model",
    ),
    (
        "openai-502-html",
        "openai",
        None,
        502,
        {},
        b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>",
        "server_error",
        "model",
    ),
    (
        "openrouter-502-upstream-down",
        "openai",
        "openrouter",
        502,
        {},
        orr(502, "Provider returned error", provider_name="Together", raw="upstream connect error"),
        "server_error",
        "model",
    ),
    ("ollama-502-cloud", "openai", "ollama", 502, {}, {"error": "cloud model unreachable"}, "server_error", "model"),
    ("generic-507", "openai", None, 507, {}, "Insufficient Storage", "server_error", "model"),
    (
        "cloudflare-521-origin-down",
        "openai",
        None,
        521,
        {},
        "<html>Web server is down</html>",
        "unreachable",
        "provider",
    ),
    ("cloudflare-524-origin-timeout", "openai", None, 524, {}, "<html>A timeout occurred</html>", "timeout", "model"),
    # timeouts
    (
        "gemini-504-deadline",
        "gemini",
        None,
        504,
        {},
        gem(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
        "timeout",
        "model",
    ),
    (
        "anthropic-504-timeout-error",
        "anthropic",
        None,
        504,
        {},
        ant("timeout_error", "Request timed out"),
        "timeout",
        "model",
    ),
    ("openrouter-408", "openai", "openrouter", 408, {}, orr(408, "Your request timed out"), "timeout", "model"),
    ("openai-409-conflict", "openai", None, 409, {}, oai("Conflict, please retry."), "server_error", "model"),
    # auth
    (
        "openai-401",
        "openai",
        None,
        401,
        {},
        oai(
            "Incorrect API key provided: sk-abc. You can find your API key at ...",
            "invalid_request_error",
            "invalid_api_key",
        ),
        "auth_failed",
        "key",
    ),
    (
        "openai-403-region",
        "openai",
        None,
        403,
        {},
        oai("Country, region, or territory not supported", "request_forbidden", "unsupported_country_region_territory"),
        "auth_failed",
        "key",
    ),
    (
        "anthropic-401",
        "anthropic",
        None,
        401,
        {},
        ant("authentication_error", "invalid x-api-key"),
        "auth_failed",
        "key",
    ),
    (
        "anthropic-403",
        "anthropic",
        None,
        403,
        {},
        ant("permission_error", "Your API key does not have permission to use the specified resource."),
        "auth_failed",
        "key",
    ),
    (
        "gemini-400-api-key-invalid",
        "gemini",
        None,
        400,
        {},
        gem(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
            },
        ),
        "auth_failed",
        "key",
    ),
    (
        "gemini-400-api-key-message-only",
        "gemini",
        None,
        400,
        {},
        [
            {
                "error": {
                    "code": 400,
                    "message": "API key not valid. Please pass a valid API key.",
                    "status": "INVALID_ARGUMENT",
                }
            }
        ],
        "auth_failed",
        "key",
    ),
    (
        "gemini-403-permission-denied",
        "gemini",
        None,
        403,
        {},
        gem(
            403,
            "PERMISSION_DENIED",
            "Generative Language API has not been used in project 123 before or it is disabled.",
        ),
        "auth_failed",
        "key",
    ),
    (
        "gemini-400-failed-precondition",
        "gemini",
        None,
        400,
        {},
        gem(400, "FAILED_PRECONDITION", "User location is not supported for the API use."),
        "auth_failed",
        "key",
    ),
    (
        "deepseek-401",
        "openai",
        "deepseek",
        401,
        {},
        oai("Authentication Fails, Your api key: ****abcd is invalid", "authentication_error"),
        "auth_failed",
        "key",
    ),
    (
        "mistral-403-tier",
        "openai",
        "mistral",
        403,
        {},
        {"object": "error", "message": "Model not available on your tier", "type": "invalid_request_error"},
        "auth_failed",
        "key",
    ),
    ("openrouter-401", "openai", "openrouter", 401, {}, orr(401, "No auth credentials found"), "auth_failed", "key"),
    # model not found
    (
        "openai-404-model-not-found",
        "openai",
        None,
        404,
        {},
        oai(
            "The model `gpt-9` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
        "not_found",
        "model",
    ),
    ("anthropic-404", "anthropic", None, 404, {}, ant("not_found_error", "model: claude-nope"), "not_found", "model"),
    (
        "gemini-404",
        "gemini",
        None,
        404,
        {},
        gem(
            404,
            "NOT_FOUND",
            "models/gemini-9 is not found for API version v1beta, or is not supported for generateContent.",
        ),
        "not_found",
        "model",
    ),
    (
        "groq-404",
        "openai",
        "groq",
        404,
        {},
        oai(
            "The model `llama-9` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
        "not_found",
        "model",
    ),
    (
        "mistral-400-unknown-model",
        "openai",
        "mistral",
        400,
        {},
        {
            "object": "error",
            "message": "Invalid model: mistral-nope",
            "type": "invalid_model",
            "param": "model",
            "code": "unknown_model",
        },
        "not_found",
        "model",
    ),
    (
        "lmstudio-404-model-not-found",
        "openai",
        "lmstudio",
        404,
        {},
        oai('Model "qwen-9" not found. Please specify a valid model.', "invalid_request_error", "model_not_found"),
        "not_found",
        "model",
    ),
    (
        "lmstudio-400-model-not-found-code",
        "openai",
        "lmstudio",
        400,
        {},
        oai('Model "qwen-9" not found.', "invalid_request_error", "model_not_found"),
        "not_found",
        "model",
    ),
    (
        "ollama-native-404",
        "openai",
        "ollama",
        404,
        {},
        b'{"error":"model \'llama9\' not found, try pulling it first"}',
        "not_found",
        "model",
    ),
    (
        "ollama-native-400-not-found-text",
        "openai",
        "ollama",
        400,
        {},
        {"error": "model 'llama9' not found"},
        "not_found",
        "model",
    ),
    (
        "ollama-v1-404",
        "openai",
        "ollama",
        404,
        {},
        oai('model "llama9" not found', "not_found_error"),
        "not_found",
        "model",
    ),
    (
        "openrouter-404",
        "openai",
        "openrouter",
        404,
        {},
        orr(404, "No endpoints found for acme/model-x."),
        "not_found",
        "model",
    ),
    # context length
    (
        "openai-400-context-length",
        "openai",
        None,
        400,
        {},
        oai(
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        ),
        "context_too_long",
        "model",
    ),
    (
        "anthropic-400-prompt-too-long",
        "anthropic",
        None,
        400,
        {},
        ant("invalid_request_error", "prompt is too long: 208656 tokens > 200000 maximum"),
        "context_too_long",
        "model",
    ),
    (
        "anthropic-400-input-plus-max-tokens",
        "anthropic",
        None,
        400,
        {},
        ant(
            "invalid_request_error",
            "input length and `max_tokens` exceed context limit: 199759 + 8192 > 200000, decrease "
            "input length or `max_tokens` and try again",
        ),
        "context_too_long",
        "model",
    ),
    (
        "anthropic-413-request-too-large",
        "anthropic",
        None,
        413,
        {},
        ant("request_too_large", "Request exceeds the maximum allowed number of bytes."),
        "context_too_long",
        "model",
    ),
    (
        "gemini-400-token-count",
        "gemini",
        None,
        400,
        {},
        gem(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        ),
        "context_too_long",
        "model",
    ),
    (
        "deepseek-400-context",
        "openai",
        "deepseek",
        400,
        {},
        oai(
            "This model's maximum context length is 131072 tokens. However, you requested 131134 tokens (122942 in the "
            "messages, 8192 in the completion). Please reduce the length of the messages or completion.",
            "invalid_request_error",
            "invalid_request_error",
        ),
        "context_too_long",
        "model",
    ),
    (
        "openrouter-400-context",
        "openai",
        "openrouter",
        400,
        {},
        orr(
            400,
            "This endpoint's maximum context length is 65536 tokens. However, you requested about 70000 tokens. "
            'Please reduce the length or use the "middle-out" transform.',
        ),
        "context_too_long",
        "model",
    ),
    (
        "groq-413-request-too-large",
        "openai",
        "groq",
        413,
        {},
        oai(
            "Request too large for model `llama-3.1-8b-instant` on tokens per minute (TPM): Limit 6000, Requested 9000.",
            "tokens",
            "rate_limit_exceeded",
        ),
        "context_too_long",
        "model",
    ),
    (
        "lmstudio-mlx-context",
        "openai",
        "lmstudio",
        400,
        {},
        {"error": "Context size has been exceeded."},
        "context_too_long",
        "model",
    ),
    (
        "llamacpp-context",
        "openai",
        None,
        400,
        {},
        oai("the request exceeds the available context size, try increasing it"),
        "context_too_long",
        "model",
    ),
    # content policy
    (
        "openai-400-content-policy-code",
        "openai",
        None,
        400,
        {},
        oai("Your request was rejected.", "invalid_request_error", "content_policy_violation"),
        "content_blocked",
        "model",
    ),
    (
        "openai-400-usage-policy",
        "openai",
        None,
        400,
        {},
        oai(
            "Invalid prompt: your prompt was flagged as potentially violating our usage policy.",
            "invalid_request_error",
            "invalid_prompt",
        ),
        "content_blocked",
        "model",
    ),
    (
        "openai-400-safety-system",
        "openai",
        None,
        400,
        {},
        oai("Your request was rejected as a result of our safety system.", "invalid_request_error"),
        "content_blocked",
        "model",
    ),
    (
        "anthropic-400-content-filter",
        "anthropic",
        None,
        400,
        {},
        ant("invalid_request_error", "Output blocked by content filtering policy"),
        "content_blocked",
        "model",
    ),
    (
        "openrouter-403-moderation",
        "openai",
        "openrouter",
        403,
        {},
        orr(
            403,
            "openai/gpt-4o requires moderation on OpenRouter. Your input was flagged.",
            reasons=["harassment"],
            flagged_input="...",
        ),
        "content_blocked",
        "model",
    ),
    # invalid request
    (
        "openai-400-invalid-value",
        "openai",
        None,
        400,
        {},
        oai(
            "Invalid 'temperature': decimal above maximum value.",
            "invalid_request_error",
            "decimal_above_max_value",
            "temperature",
        ),
        "bad_request",
        "model",
    ),
    (
        "anthropic-400-invalid",
        "anthropic",
        None,
        400,
        {},
        ant("invalid_request_error", "messages: roles must alternate"),
        "bad_request",
        "model",
    ),
    (
        "gemini-400-invalid-argument",
        "gemini",
        None,
        400,
        {},
        gem(400, "INVALID_ARGUMENT", 'Invalid JSON payload received. Unknown name "foo".'),
        "bad_request",
        "model",
    ),
    ("deepseek-422", "openai", "deepseek", 422, {}, oai("Invalid Parameters"), "bad_request", "model"),
    ("groq-424", "openai", "groq", 424, {}, oai("Failed Dependency"), "bad_request", "model"),
]


@pytest.mark.parametrize(
    ("protocol", "provider", "status", "headers", "body", "kind", "scope"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_classify_rule(
    protocol: Any, provider: str | None, status: int, headers: dict[str, str], body: Any, kind: str, scope: str
) -> None:
    failure = classify(protocol, status, headers, body, provider=provider, now=NOW)
    assert (failure.kind, failure.scope, failure.status) == (kind, scope, status)


def test_case_ids_are_unique() -> None:
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


# ---------------------------------------------------------------- details of individual rules


def test_openai_codes_and_message_are_kept() -> None:
    body = oai("You exceeded your current quota.", "insufficient_quota", "organization_spend_limit_exceeded")
    failure = classify("openai", 429, {}, body)
    assert failure.code == "organization_spend_limit_exceeded"
    assert failure.message == "You exceeded your current quota."
    assert not failure.retryable


def test_openai_legacy_quota_code_falls_back_to_type() -> None:
    assert classify("openai", 429, {}, oai("quota", "insufficient_quota")).code == "insufficient_quota"


def test_openai_rate_limit_hint_and_remaining() -> None:
    headers = {
        "X-RateLimit-Remaining-Tokens": "100",
        "X-RateLimit-Remaining-Requests": "499",
        "x-ratelimit-reset-tokens": "1s",
    }
    body = oai("Rate limit reached ... Please try again in 644ms.", "tokens", "rate_limit_exceeded")
    failure = classify("openai", 429, headers, body, now=NOW)
    assert failure == Failure(
        "rate_limited",
        body["error"]["message"],
        429,
        0.644,
        "model",
        "rate_limit_exceeded",
        None,
        {"tokens": 100.0, "requests": 499.0},
    )
    assert failure.retryable


def test_anthropic_retry_after_header() -> None:
    failure = classify("anthropic", 429, {"Retry-After": "12"}, ant("rate_limit_error", "slow down"), now=NOW)
    assert (failure.retry_after_s, failure.code) == (12.0, "rate_limit_error")


def test_anthropic_spend_limit_code_is_the_detail_code() -> None:
    body = ant("rate_limit_error", "spend", details={"error_code": "enforced_spend_limit_reached"})
    assert classify("anthropic", 429, {}, body).code == "enforced_spend_limit_reached"


def test_anthropic_workspace_limit_carries_the_regain_date() -> None:
    body = ant(
        "invalid_request_error",
        "You have reached your specified workspace API usage limits. You will regain "
        "access on 2025-01-16 at 00:00 UTC.",
    )
    assert classify("anthropic", 400, {}, body, now=NOW).retry_after_s == 4 * 3600.0


@pytest.mark.parametrize(("delay", "seconds"), [("53s", 53.0), ("2.463586755s", 2.463586755)])
def test_gemini_retry_info(delay: str, seconds: float) -> None:
    body = gem(
        429,
        "RESOURCE_EXHAUSTED",
        "quota",
        quota_failure("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
        retry_info(delay),
    )
    failure = classify("gemini", 429, {}, body, now=NOW)
    assert (failure.kind, failure.retry_after_s, failure.code) == (
        "rate_limited",
        pytest.approx(seconds),
        "RESOURCE_EXHAUSTED",
    )


def test_gemini_retry_in_message_when_no_retry_info() -> None:
    body = [gem(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota. Please retry in 53.01s.")]
    failure = classify("gemini", 429, {}, body, now=NOW)
    assert (failure.kind, failure.retry_after_s) == ("rate_limited", pytest.approx(53.01))


def test_gemini_per_day_waits_until_pacific_midnight() -> None:
    body = gem(
        429,
        "RESOURCE_EXHAUSTED",
        "quota",
        quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
        retry_info("20s"),
    )
    assert classify("gemini", 429, {}, body, now=NOW).retry_after_s == 12 * 3600.0


def test_gemini_quota_sentence_is_not_openai_billing() -> None:
    body = gem(
        429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details."
    )
    assert classify("openai", 429, {}, [body], provider="gemini").kind == "rate_limited"


def test_openrouter_metadata_reset_and_remaining() -> None:
    reset_ms = str(int((NOW + 30) * 1000))
    body = orr(429, "Rate limit exceeded", headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset_ms})
    failure = classify("openai", 429, {}, body, provider="openrouter", now=NOW)
    assert (failure.retry_after_s, failure.remaining) == (pytest.approx(30.0), {"requests": 0.0})


def test_openrouter_402_in_flight_retry_after() -> None:
    failure = classify(
        "openai", 402, {"Retry-After": "5"}, orr(402, "in-flight budget"), provider="openrouter", now=NOW
    )
    assert failure.retry_after_s == 5.0


def test_openrouter_free_daily_limit_waits_until_utc_midnight() -> None:
    body = orr(429, "Rate limit exceeded: free-models-per-day.")
    assert classify("openai", 429, {}, body, provider="openrouter", now=NOW).retry_after_s == 4 * 3600.0


def test_context_too_long_has_no_wait_even_with_retry_after() -> None:
    body = oai(
        "Request too large for gpt-4 ... on tokens per min (TPM): Limit 30000, Requested 36055.",
        "tokens",
        "rate_limit_exceeded",
    )
    assert classify("openai", 429, {"retry-after": "1"}, body).retry_after_s is None


def test_overloaded_keeps_retry_after() -> None:
    assert classify("anthropic", 529, {"retry-after": "3"}, ant("overloaded_error", "Overloaded")).retry_after_s == 3.0


def test_headers_any_case() -> None:
    upper = classify("openai", 402, {"RETRY-AFTER": "5"}, orr(402, "budget"))
    assert (upper.kind, upper.retry_after_s) == ("rate_limited", 5.0)


@pytest.mark.parametrize("form", ["dict", "str", "bytes", "list"])
def test_body_forms_classify_alike(form: str) -> None:
    body: Any = gem(404, "NOT_FOUND", "models/gemini-9 is not found")
    encoded = {"dict": body, "str": json.dumps(body), "bytes": json.dumps(body).encode(), "list": [body]}[form]
    failure = classify("gemini", 404, {}, encoded)
    assert (failure.kind, failure.code, failure.message) == ("not_found", "NOT_FOUND", "models/gemini-9 is not found")


def test_html_body_becomes_readable_message() -> None:
    html = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"
    assert classify("openai", 502, {}, html).message == "502 Bad Gateway 502 Bad Gateway nginx"


@pytest.mark.parametrize("body", [None, b"", "", b"\xff\xfe not utf8", "{broken json", [], {}])
def test_odd_bodies_fall_back_to_status(body: Any) -> None:
    assert classify("openai", 429, {}, body).kind == "rate_limited"
    assert classify("openai", 400, {}, body).kind == "bad_request"


# ---------------------------------------------------------------- bodies echo prompts


ECHO = "Invalid 'messages[0].content': the user wrote 'HTTP 429 Too Many Requests: rate limit exceeded, retry in 5s'"


def test_bare_429_text_in_a_400_body_is_not_a_rate_limit() -> None:
    failure = classify("openai", 400, {}, oai(ECHO, "invalid_request_error"))
    assert (failure.kind, failure.retry_after_s) == ("bad_request", None)


def test_rate_limit_text_in_a_500_body_is_still_a_server_error() -> None:
    assert classify("openai", 500, {}, oai(ECHO, "server_error")).kind == "server_error"


# ---------------------------------------------------------------- unsupported parameters


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            oai(
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                "invalid_request_error",
                "unsupported_parameter",
                "max_tokens",
            ),
            "max_tokens",
        ),
        (
            oai("Unsupported parameter: 'reasoning_effort' is not supported with this model.", "invalid_request_error"),
            "reasoning_effort",
        ),
        (
            oai(
                "Unsupported value: 'temperature' does not support 0.7 with this model. Only the default (1) value is supported.",
                "invalid_request_error",
                "unsupported_value",
                "temperature",
            ),
            "temperature",
        ),
        (
            oai("Unrecognized request argument supplied: parallel_tool_calls", "invalid_request_error"),
            "parallel_tool_calls",
        ),
        ({"error": "registry.ollama.ai/library/gemma:2b does not support tools"}, "tools"),
        (oai("deepseek-reasoner does not support Function Calling", "invalid_request_error"), "tools"),
        (oai("This model does not support image input.", "invalid_request_error"), "image"),
        (gem(400, "INVALID_ARGUMENT", "Image input modality is not enabled for models/gemma-3-1b-it"), "image"),
        (gem(400, "INVALID_ARGUMENT", "Function calling is not enabled for models/gemma-3-27b-it"), "tools"),
        (gem(400, "INVALID_ARGUMENT", "Developer instruction is not enabled for models/gemma-3-27b-it"), "system"),
        (ant("invalid_request_error", "tools.0.custom.defer_loading: Extra inputs are not permitted"), "tools"),
        (oai("model 'o1-mini' does not support 'logprobs'", "invalid_request_error"), "logprobs"),
        (oai("This model does not support reasoning_effort.", "invalid_request_error"), "reasoning_effort"),
    ],
)
def test_unsupported_param(body: Any, param: str) -> None:
    failure = classify("openai", 400, {}, body)
    assert (failure.kind, failure.unsupported_param) == ("bad_request", param)


def test_plain_bad_request_names_no_param() -> None:
    body = oai(
        "Invalid 'temperature': decimal above maximum value.",
        "invalid_request_error",
        "decimal_above_max_value",
        "temperature",
    )
    assert classify("openai", 400, {}, body).unsupported_param is None


# ---------------------------------------------------------------- mid-stream errors


STREAM_CASES: list[tuple[str, str, str | None, dict[str, Any], str, int | None]] = [
    (
        "openai-chat-error",
        "openai",
        None,
        oai("The server had an error processing your request.", "server_error"),
        "server_error",
        None,
    ),
    (
        "openai-chat-rate-limit",
        "openai",
        None,
        oai("Rate limit reached.", "requests", "rate_limit_exceeded"),
        "rate_limited",
        None,
    ),
    (
        "responses-nested-context",
        "openai",
        None,
        {
            "type": "error",
            "sequence_number": 2,
            "error": {
                "type": "invalid_request_error",
                "code": "context_length_exceeded",
                "message": "Your input exceeds the context window of this model.",
                "param": "input",
            },
        },
        "context_too_long",
        None,
    ),
    (
        "responses-flat-context",
        "openai",
        None,
        {
            "type": "error",
            "code": "context_length_exceeded",
            "message": "Your input exceeds the context window of this model.",
            "param": "input",
            "sequence_number": 2,
        },
        "context_too_long",
        None,
    ),
    (
        "responses-failed-invalid-prompt",
        "openai",
        None,
        {
            "type": "response.failed",
            "response": {"status": "failed", "error": {"code": "invalid_prompt", "message": "Blocked."}},
        },
        "content_blocked",
        None,
    ),
    (
        "groq-x-groq-error",
        "openai",
        "groq",
        {
            "id": "c1",
            "choices": [],
            "x_groq": {"id": "req_1", "error": "Rate limit reached for model. Please try again in 2s."},
        },
        "rate_limited",
        None,
    ),
    (
        "groq-x-groq-internal",
        "openai",
        "groq",
        {"choices": [], "x_groq": {"error": "internal server error"}},
        "server_error",
        None,
    ),
    (
        "mistral-finish-error",
        "openai",
        "mistral",
        {"id": "c1", "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]},
        "server_error",
        None,
    ),
    (
        "openrouter-error-chunk",
        "openai",
        "openrouter",
        {
            "id": "g1",
            "error": {"code": 502, "message": "Provider disconnected"},
            "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
        },
        "server_error",
        502,
    ),
    (
        "anthropic-overloaded-event",
        "anthropic",
        None,
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        "overloaded",
        None,
    ),
    ("anthropic-rate-limit-event", "anthropic", None, ant("rate_limit_error", "Rate limited"), "rate_limited", None),
    ("anthropic-api-error-event", "anthropic", None, ant("api_error", "Internal server error"), "server_error", None),
    (
        "gemini-unavailable-chunk",
        "gemini",
        None,
        gem(503, "UNAVAILABLE", "The model is overloaded."),
        "overloaded",
        503,
    ),
    (
        "gemini-per-day-chunk",
        "gemini",
        None,
        gem(429, "RESOURCE_EXHAUSTED", "quota", quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier")),
        "quota_exhausted",
        429,
    ),
    ("ollama-native-line", "openai", "ollama", {"error": "model 'llama9' not found"}, "not_found", None),
    ("quota-code-only", "openai", None, oai("billing", None, "insufficient_quota"), "quota_exhausted", None),
    ("unknown-payload", "openai", None, {"foo": 1}, "server_error", None),
]


@pytest.mark.parametrize(
    ("protocol", "provider", "payload", "kind", "status"),
    [pytest.param(*case[1:], id=case[0]) for case in STREAM_CASES],
)
def test_classify_stream_error(
    protocol: Any, provider: str | None, payload: dict[str, Any], kind: str, status: int | None
) -> None:
    failure = classify_stream_error(protocol, payload, provider=provider, now=NOW)
    assert (failure.kind, failure.status) == (kind, status)


def test_stream_error_keeps_hint() -> None:
    payload = {"choices": [], "x_groq": {"error": "Rate limit reached. Please try again in 2s."}}
    assert classify_stream_error("openai", payload, provider="groq").retry_after_s == 2.0


# ---------------------------------------------------------------- transport errors


@pytest.mark.parametrize(
    ("exc", "kind", "scope"),
    [
        (httpx.ConnectError("refused"), "unreachable", "provider"),
        (httpx.ConnectTimeout("no SYN-ACK"), "unreachable", "provider"),
        (httpx.ReadTimeout("slow"), "timeout", "model"),
        (httpx.WriteTimeout("slow"), "timeout", "model"),
        (httpx.PoolTimeout("busy pool"), "timeout", "model"),
        (TimeoutError(), "timeout", "model"),
        (ssl.SSLCertVerificationError("bad cert"), "unreachable", "provider"),
        (ssl.SSLError("handshake"), "unreachable", "provider"),
        (socket.gaierror(-2, "Name or service not known"), "unreachable", "provider"),
        (ConnectionRefusedError(), "unreachable", "provider"),
        # after the request was sent: this route's transient, nothing said about the provider
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), "connection_lost", "route"),
        (httpx.ReadError("reset"), "connection_lost", "route"),
        (ConnectionResetError(), "connection_lost", "route"),
        (ValueError("our own bug"), "server_error", "model"),
    ],
)
def test_classify_exception_before_headers(exc: BaseException, kind: str, scope: str) -> None:
    failure = classify_exception(exc)
    assert (failure.kind, failure.scope, failure.code) == (kind, scope, type(exc).__name__)


def test_a_wrapper_of_a_connect_failure_is_unreachable() -> None:
    """An SDK's APIConnectionError (or any "net" wrapper) around a refused connect: nothing was sent."""
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as inner:
            raise ConnectionError("Connection error.") from inner
    except ConnectionError as outer:
        wrapped = outer
    assert (classify_exception(wrapped).kind, classify_exception(wrapped).scope) == ("unreachable", "provider")
    assert classify_exception(ConnectionError("Connection error.")).kind == "connection_lost"


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.RemoteProtocolError("peer closed connection without sending complete message body"), "stream_broken"),
        (httpx.ReadError("reset"), "stream_broken"),
        (ConnectionResetError(), "stream_broken"),
        (httpx.DecodingError("bad gzip"), "stream_broken"),
        (httpx.ReadTimeout("stalled"), "timeout"),
    ],
)
def test_classify_exception_after_headers(exc: BaseException, kind: str) -> None:
    assert classify_exception(exc, after_headers=True).kind == kind


def test_asyncio_timeout_is_timeout() -> None:

    assert classify_exception(TimeoutError()).kind == "timeout"


def test_http_status_error_is_classified_from_its_response() -> None:
    request = httpx.Request("POST", "https://api.example.com/v1/chat/completions")
    response = httpx.Response(
        429, headers={"Retry-After": "4"}, json=oai("quota", "insufficient_quota"), request=request
    )
    exc = httpx.HTTPStatusError("429", request=request, response=response)
    failure = classify_exception(exc)
    assert (failure.kind, failure.status, failure.retry_after_s) == ("quota_exhausted", 429, 4.0)


def test_sdk_status_error_uses_its_body() -> None:
    openai = pytest.importorskip("openai")
    request = httpx.Request("POST", "https://api.openai.com/v1/chat/completions")
    response = httpx.Response(429, request=request)
    exc = openai.RateLimitError(
        "quota", response=response, body={"message": "quota", "type": "insufficient_quota", "code": None}
    )
    assert classify_exception(exc).kind == "quota_exhausted"


# real sockets on 127.0.0.1


@pytest.fixture
def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def _serve_once(handler: Any) -> Iterator[int]:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    done = threading.Event()

    def run() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        try:
            handler(conn)
            done.wait(5)
        finally:
            conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        done.set()
        server.close()
        thread.join(5)


def _reset(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _half_body(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 1000\r\n\r\ndata: {}\n\n")
    conn.close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    yield from _serve_once(lambda conn: conn.recv(65536))


@pytest.fixture
def reset_port() -> Iterator[int]:
    yield from _serve_once(_reset)


@pytest.fixture
def half_body_port() -> Iterator[int]:
    yield from _serve_once(_half_body)


def _post(port: int, timeout: httpx.Timeout | float = 5.0) -> BaseException:
    with httpx.Client(timeout=timeout) as client:
        try:
            client.post(f"http://127.0.0.1:{port}/v1/chat/completions", json={"model": "m"})
        except httpx.HTTPError as exc:
            return exc
    raise AssertionError("the request unexpectedly succeeded")


def test_real_closed_port_is_unreachable(closed_port: int) -> None:
    failure = classify_exception(_post(closed_port))
    assert (failure.kind, failure.scope) == ("unreachable", "provider")


def test_real_silent_server_is_a_timeout(silent_port: int) -> None:
    exc = _post(silent_port, httpx.Timeout(5.0, read=0.2))
    assert isinstance(exc, httpx.ReadTimeout)
    assert classify_exception(exc).kind == "timeout"


def test_real_connection_reset_after_sending_is_a_lost_connection_of_the_route(reset_port: int) -> None:
    failure = classify_exception(_post(reset_port))
    assert (failure.kind, failure.scope) == ("connection_lost", "route")


def test_real_cut_body_after_headers_is_stream_broken(half_body_port: int) -> None:
    url = f"http://127.0.0.1:{half_body_port}/v1/chat/completions"
    with httpx.Client(timeout=5.0) as client, client.stream("POST", url, json={}) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.HTTPError) as caught:
            response.read()
    assert classify_exception(caught.value, after_headers=True).kind == "stream_broken"


# ---------------------------------------------------------------- never raises


RATE_HEADER_NAMES = st.sampled_from(
    [
        "retry-after",
        "Retry-After-Ms",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-tokens",
        "X-RateLimit-Reset",
        "x-ratelimit-remaining",
        "anthropic-ratelimit-tokens-reset",
        "anthropic-ratelimit-unified-5h-utilization",
        "anthropic-ratelimit-unified-status",
        "x-ratelimit-remaining-req-minute",
        "content-type",
    ]
)
HEADERS = st.dictionaries(st.one_of(RATE_HEADER_NAMES, st.text(max_size=20)), st.text(max_size=40), max_size=6)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "error",
                    "message",
                    "code",
                    "type",
                    "status",
                    "details",
                    "metadata",
                    "headers",
                    "@type",
                    "retryDelay",
                    "violations",
                    "quotaId",
                    "param",
                    "choices",
                    "x_groq",
                    "response",
                ]
            )
            | st.text(max_size=8),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)
BODIES = st.one_of(st.none(), st.binary(max_size=200), st.text(max_size=200), JSONISH, JSONISH.map(json.dumps))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    protocol=st.sampled_from(["openai", "anthropic", "gemini"]),
    status=st.integers(min_value=-1, max_value=1000),
    headers=HEADERS,
    body=BODIES,
    provider=st.sampled_from([None, "deepseek", "openrouter", "mistral", "groq", "ollama", "lmstudio", "gemini"]),
)
def test_classify_never_raises(
    protocol: Any, status: int, headers: dict[str, str], body: Any, provider: str | None
) -> None:
    failure = classify(protocol, status, headers, body, provider=provider, now=NOW)
    assert failure.kind in KINDS
    assert failure.scope in ("key", "model", "provider")
    assert failure.retry_after_s is None or failure.retry_after_s >= 0
    assert isinstance(failure.message, str) and len(failure.message) <= 500


@settings(max_examples=200, deadline=None)
@given(payload=JSONISH, protocol=st.sampled_from(["openai", "anthropic", "gemini"]))
def test_stream_error_and_reset_parsers_never_raise(payload: Any, protocol: Any) -> None:
    assert classify_stream_error(protocol, payload).kind in KINDS
    wait = retry_after({}, payload, now=NOW)
    assert wait is None or wait >= 0


@settings(max_examples=200, deadline=None)
@given(headers=HEADERS)
def test_rate_state_never_raises(headers: dict[str, str]) -> None:
    state = rate_state(headers, now=NOW)
    assert state is None or all(v >= 0 for v in state.reset_in.values())


def test_http_status_error_on_an_unread_stream_still_uses_the_status() -> None:
    request = httpx.Request("POST", "https://api.example.com/v1/messages")
    response = httpx.Response(529, stream=httpx.ByteStream(b"{}"), request=request)
    exc = httpx.HTTPStatusError("529", request=request, response=response)
    assert classify_exception(exc, protocol="anthropic").kind == "overloaded"
