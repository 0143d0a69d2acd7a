"""OpenAI Chat Completions wire format, by hand from wire.md §2, §3, §4, §6.1 (also DeepSeek-style reasoning)."""

from __future__ import annotations

from typing import Any

from detour.testing.wire import (
    Content,
    Ctx,
    ErrorSpec,
    Frame,
    dumps,
    go_duration,
    input_tokens,
    output_tokens,
    seconds_str,
    split,
    text_of,
)

ID_HEADER = "x-request-id"
_DONE = b"data: [DONE]\n\n"
TERMINAL: bytes | None = _DONE

_FINISH = {"stop": "stop", "tool_calls": "tool_calls", "content_filter": "content_filter"}
_PREFILL = (
    "This model does not support assistant message prefill. The conversation must end with a user message."
)


def _id(ctx: Ctx) -> str:
    return f"chatcmpl-fake{ctx.seq:010d}"


def _call_id(c: Content, ctx: Ctx) -> str:
    return c.tool.id if c.tool and c.tool.id else f"call_fake{ctx.seq:08d}"


def usage(c: Content, ctx: Ctx) -> dict[str, Any]:
    """A realistic ``usage`` object."""
    prompt = input_tokens(c, ctx)
    out, reasoning = output_tokens(c)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": out,
        "total_tokens": prompt + out,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _message(c: Content, ctx: Ctx) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": c.text, "refusal": None, "annotations": []}
    if c.thinking is not None:
        msg["reasoning_content"] = c.thinking
    if c.tool is not None:
        fn = {"name": c.tool.name, "arguments": dumps(c.tool.arguments).decode()}
        msg["tool_calls"] = [{"id": _call_id(c, ctx), "type": "function", "function": fn}]
    return msg


def body(c: Content, ctx: Ctx) -> dict[str, Any]:
    """A non-streaming ``chat.completion``."""
    choice = {"index": 0, "message": _message(c, ctx), "logprobs": None, "finish_reason": _FINISH[c.finish]}
    return {
        "id": _id(ctx),
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "choices": [choice],
        "usage": usage(c, ctx),
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }


def _chunk(ctx: Ctx, delta: dict[str, Any], finish: str | None = None) -> bytes:
    chunk: dict[str, Any] = {
        "id": _id(ctx),
        "object": "chat.completion.chunk",
        "created": ctx.created,
        "model": ctx.model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if ctx.include_usage:
        chunk["usage"] = None
    return b"data: " + dumps(chunk) + b"\n\n"


def _tool_frames(c: Content, ctx: Ctx) -> list[Frame]:
    assert c.tool is not None
    first = {"index": 0, "id": _call_id(c, ctx), "type": "function", "function": {"name": c.tool.name, "arguments": ""}}
    out = [Frame(_chunk(ctx, {"tool_calls": [first]}), True)]
    for piece in split(dumps(c.tool.arguments).decode(), c.chunks):
        out.append(Frame(_chunk(ctx, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}), True))
    return out


def frames(c: Content, ctx: Ctx) -> list[Frame]:
    """The SSE events of a streamed completion, ending with ``data: [DONE]``."""
    out = [Frame(_chunk(ctx, {"role": "assistant", "content": "", "refusal": None}))]
    out += [Frame(_chunk(ctx, {"reasoning_content": p}), True) for p in split(c.thinking or "", c.chunks)]
    out += [Frame(_chunk(ctx, {"content": p}), True) for p in split(c.text or "", c.chunks)]
    if c.tool is not None:
        out += _tool_frames(c, ctx)
    out.append(Frame(_chunk(ctx, {}, _FINISH[c.finish])))
    if ctx.include_usage:
        last = {"id": _id(ctx), "object": "chat.completion.chunk", "created": ctx.created, "model": ctx.model,
                "system_fingerprint": "fp_fake", "choices": [], "usage": usage(c, ctx)}
        out.append(Frame(b"data: " + dumps(last) + b"\n\n"))
    out.append(Frame(_DONE))
    return out


def _err(message: str, type_: str | None, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _rate_headers(retry_after: float | None) -> dict[str, str]:
    reset = go_duration(retry_after if retry_after is not None else 1.0)
    headers = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": reset,
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "29000",
        "x-ratelimit-reset-tokens": go_duration(2.0),
    }
    if retry_after is not None:
        headers["retry-after"] = seconds_str(retry_after)
    return headers


def _rate_limit(spec: ErrorSpec, ctx: Ctx) -> tuple[int, dict[str, Any], dict[str, str]]:
    wait = spec.retry_after if spec.retry_after is not None else 0.644
    msg = (
        f"Rate limit reached for {ctx.model} in organization org-fake on requests per min (RPM): "
        f"Limit 500, Used 500, Requested 1. Please try again in {wait:g}s. "
        "Visit https://platform.openai.com/account/rate-limits to learn more."
    )
    return 429, _err(msg, "requests", "rate_limit_exceeded"), _rate_headers(spec.retry_after)


_QUOTA_MSG = (
    "You exceeded your current quota, please check your plan and billing details. For more information on this "
    "error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
)
_CONTEXT_MSG = (
    "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. "
    "Please reduce the length of the messages."
)
_BY_STATUS: dict[int, tuple[str, str | None, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided: x. You can find your API key at https://platform.openai.com/account/api-keys.",
          "invalid_request_error", "invalid_api_key"),
    403: ("Country, region, or territory not supported", "invalid_request_error", "unsupported_country_region_territory"),
    404: ("The model `{model}` does not exist or you do not have access to it.", "invalid_request_error", "model_not_found"),
    408: ("Request timed out.", "invalid_request_error", None),
    409: ("Conflict.", "invalid_request_error", None),
    422: ("Unprocessable entity.", "invalid_request_error", None),
    429: ("Rate limit reached for {model}.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request. Sorry about that!", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later", "server_error", None),
    504: ("Gateway timeout.", "server_error", None),
}


def _status(code: int, ctx: Ctx) -> dict[str, Any]:
    default = ("Internal error.", "server_error", None) if code >= 500 else ("Request failed.", "invalid_request_error", None)
    msg, type_, err_code = _BY_STATUS.get(code, default)
    return _err(msg.format(model=ctx.model), type_, err_code)


def error(spec: ErrorSpec, ctx: Ctx) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) of an error condition."""
    kind = spec.kind
    if kind == "rate_limit":
        return _rate_limit(spec, ctx)
    if kind == "quota":
        return 429, _err(_QUOTA_MSG, "insufficient_quota", "insufficient_quota"), _rate_headers(None)
    if kind == "overloaded":
        return 503, _status(503, ctx), {}
    if kind == "context_length":
        return 400, _err(_CONTEXT_MSG, "invalid_request_error", "context_length_exceeded", "messages"), {}
    if kind == "reject_prefill":
        return 400, _err(_PREFILL, "invalid_request_error", "invalid_request_error", "messages"), {}
    code = spec.status or 500
    headers = _rate_headers(spec.retry_after) if code == 429 else {}
    return code, _status(code, ctx), headers


def error_frame(body: dict[str, Any]) -> bytes:
    """A mid-stream error: a ``data:`` payload with a top-level ``error`` (§6.7)."""
    return b"data: " + dumps(body) + b"\n\n"


def last_user_text(req: dict[str, Any]) -> str:
    for msg in reversed(req.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            return text_of(msg.get("content"))
    return ""


def ends_with_assistant(req: dict[str, Any]) -> bool:
    msgs = req.get("messages") or []
    return bool(msgs) and isinstance(msgs[-1], dict) and msgs[-1].get("role") == "assistant"

