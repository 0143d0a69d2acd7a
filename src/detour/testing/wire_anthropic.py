"""Anthropic Messages wire format, by hand from the API reference."""

from __future__ import annotations

import time
from typing import Any

from detour.testing.wire import (
    ISSUED,
    Content,
    Ctx,
    ErrorSpec,
    Frame,
    dumps,
    input_tokens,
    output_tokens,
    rfc3339,
    seconds_str,
    split,
    text_of,
)

ID_HEADER = "request-id"
_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
TERMINAL: bytes | None = _STOP
_PING = b'event: ping\ndata: {"type":"ping"}\n\n'

_STOP_REASON = {"stop": "end_turn", "tool_calls": "tool_use", "content_filter": "refusal", "length": "max_tokens"}
_PREFILL = (
    "This model does not support assistant message prefill. The conversation must end with a user message."
)


def _id(ctx: Ctx) -> str:
    return f"msg_fake{ctx.seq:016d}"


def _req_id(ctx: Ctx) -> str:
    return f"req_fake{ctx.seq:016d}"


def _tool_id(c: Content, ctx: Ctx) -> str:
    return c.tool.id if c.tool and c.tool.id else f"toolu_fake{ctx.seq:014d}"


def _usage(c: Content, ctx: Ctx, output: int) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens(c, ctx),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output,
        "service_tier": "standard",
    }


def _blocks(c: Content, ctx: Ctx) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if c.thinking is not None:
        ISSUED["anthropic"].add(c.signature)
        blocks.append({"type": "thinking", "thinking": c.thinking, "signature": c.signature})
    if c.refusal is not None:
        blocks.append({"type": "text", "text": c.refusal})  # the refusal is text, with stop_reason "refusal"
    elif c.text or (c.text is not None and c.tool is None and c.finish != "content_filter"):
        blocks.append({"type": "text", "text": c.text})
    if c.tool is not None:
        blocks.append({"type": "tool_use", "id": _tool_id(c, ctx), "name": c.tool.name, "input": c.tool.arguments})
    return blocks


def _stop_details(c: Content) -> dict[str, Any] | None:
    refused = c.finish == "content_filter" or c.refusal is not None
    return {"type": "refusal", "category": None, "explanation": None} if refused else None


def body(c: Content, ctx: Ctx) -> dict[str, Any]:
    """A non-streaming ``message``."""
    msg = {
        "id": _id(ctx),
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": _blocks(c, ctx),
        "stop_reason": "refusal" if c.refusal is not None else _STOP_REASON[c.finish],
        "stop_sequence": None,
        "usage": _usage(c, ctx, output_tokens(c)[0]),
    }
    if (details := _stop_details(c)) is not None:
        msg["stop_details"] = details
    return msg


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dumps(data) + b"\n\n"


def _delta(index: int, delta: dict[str, Any]) -> Frame:
    return Frame(_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}), True)


def _block_frames(index: int, block: dict[str, Any], chunks: int) -> list[Frame]:
    kind = block["type"]
    start: dict[str, Any]
    if kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [_delta(index, {"type": "thinking_delta", "thinking": p}) for p in split(block["thinking"], chunks)]
        deltas.append(Frame(_delta(index, {"type": "signature_delta", "signature": block["signature"]}).data))
    elif kind == "tool_use":
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        pieces = split(dumps(block["input"]).decode(), chunks)
        deltas = [_delta(index, {"type": "input_json_delta", "partial_json": p}) for p in pieces]
    else:
        start = {"type": "text", "text": ""}
        deltas = [_delta(index, {"type": "text_delta", "text": p}) for p in split(block["text"], chunks)]
    head = Frame(_event("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}))
    stop = Frame(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    return [head, *deltas, stop]


def frames(c: Content, ctx: Ctx) -> list[Frame]:
    """message_start, ping, the content blocks, message_delta, message_stop."""
    message = body(c, ctx)
    start = {**message, "content": [], "stop_reason": None, "usage": _usage(c, ctx, 1)}
    start.pop("stop_details", None)
    out = [Frame(_event("message_start", {"type": "message_start", "message": start})), Frame(_PING)]
    for index, block in enumerate(message["content"]):
        out += _block_frames(index, block, c.chunks)
    delta: dict[str, Any] = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    if (details := _stop_details(c)) is not None:
        delta["stop_details"] = details
    usage = {"output_tokens": message["usage"]["output_tokens"]}
    out.append(Frame(_event("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})))
    out.append(Frame(_STOP))
    return out


def _err(ctx: Ctx, type_: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message, **extra}, "request_id": _req_id(ctx)}


def _rate_headers(retry_after: float | None) -> dict[str, str]:
    reset = rfc3339(time.time() + (retry_after if retry_after is not None else 1.0))
    headers: dict[str, str] = {}
    for family, limit in (("requests", 50), ("tokens", 90000), ("input-tokens", 40000), ("output-tokens", 8000)):
        headers[f"anthropic-ratelimit-{family}-limit"] = str(limit)
        headers[f"anthropic-ratelimit-{family}-remaining"] = "0" if family == "requests" else str(limit // 2)
        headers[f"anthropic-ratelimit-{family}-reset"] = reset
    if retry_after is not None:
        headers["retry-after"] = seconds_str(retry_after)
    return headers


_RATE_MSG = (
    "This request would exceed the rate limit for your organization (org-fake) of 50 requests per minute. "
    "For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for "
    "current usage. Please reduce the prompt length or the maximum tokens requested, or try again later."
)
_SPEND_MSG = "You have reached your specified API usage limits. You will regain access on 2099-01-01 at 00:00 UTC."
_CONTEXT_MSG = "prompt is too long: 208656 tokens > 200000 maximum"
_BY_STATUS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model: {model}"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", _RATE_MSG),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}


def _status(code: int, ctx: Ctx) -> dict[str, Any]:
    default = ("api_error", "Internal server error") if code >= 500 else ("invalid_request_error", "Request failed.")
    type_, msg = _BY_STATUS.get(code, default)
    return _err(ctx, type_, msg.format(model=ctx.model))


def error(spec: ErrorSpec, ctx: Ctx) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) of an error condition; quota is the 429 spend-limit form."""
    kind, rid = spec.kind, {ID_HEADER: _req_id(ctx)}
    if kind == "rate_limit":
        return 429, _err(ctx, "rate_limit_error", _RATE_MSG), {**rid, **_rate_headers(spec.retry_after)}
    if kind == "quota":
        details = {"details": {"error_code": "enforced_spend_limit_reached"}}
        return 429, _err(ctx, "rate_limit_error", _SPEND_MSG, **details), rid
    if kind == "overloaded":
        return 529, _status(529, ctx), rid
    if kind == "context_length":
        return 400, _err(ctx, "invalid_request_error", _CONTEXT_MSG), rid
    if kind == "reject_prefill":
        return 400, _err(ctx, "invalid_request_error", _PREFILL), rid
    if kind == "invalid":
        return 400, _err(ctx, "invalid_request_error", spec.message), rid
    code = spec.status or 500
    headers = {**rid, **_rate_headers(spec.retry_after)} if code == 429 else rid
    return code, _status(code, ctx), headers


def error_frame(body: dict[str, Any]) -> bytes:
    """A mid-stream error: ``event: error`` carrying the error envelope."""
    return _event("error", body)


def last_user_text(req: dict[str, Any]) -> str:
    for msg in reversed(req.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            return text_of(msg.get("content"))
    return ""


def ends_with_assistant(req: dict[str, Any]) -> bool:
    msgs = req.get("messages") or []
    return bool(msgs) and isinstance(msgs[-1], dict) and msgs[-1].get("role") == "assistant"


def streaming(path: str, req: dict[str, Any]) -> tuple[bool, bool]:
    """(stream, include_usage): ``"stream": true`` streams; there is no usage switch (``message_delta`` has it)."""
    return req.get("stream") is True, False
