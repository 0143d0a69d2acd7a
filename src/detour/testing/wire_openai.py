"""OpenAI Chat Completions wire format, by hand from the API reference (also DeepSeek-style reasoning)."""

from __future__ import annotations

from typing import Any

from detour.testing.dialects import Dialect, dialect
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

_FINISH = {"stop": "stop", "tool_calls": "tool_calls", "content_filter": "content_filter", "length": "length"}
_PREFILL = (
    "This model does not support assistant message prefill. The conversation must end with a user message."
)


def _id(c: Content, ctx: Ctx) -> str:
    d = dialect(c.server)
    return d.fixed_id if d is not None and d.fixed_id else f"chatcmpl-fake{ctx.seq:010d}"


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


def _timings(c: Content, ctx: Ctx) -> dict[str, Any]:
    """llama.cpp's non-standard ``timings`` object (server-task.cpp ``result_timings::to_json``)."""
    out, _ = output_tokens(c)
    return {"prompt_n": input_tokens(c, ctx), "prompt_ms": 12.5, "prompt_per_token_ms": 1.25,
            "prompt_per_second": 800.0, "predicted_n": out, "predicted_ms": 40.0,
            "predicted_per_token_ms": 4.0, "predicted_per_second": 250.0}


def _message(c: Content, ctx: Ctx, d: Dialect | None) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": c.text, "refusal": c.refusal, "annotations": []}
    if c.refusal is not None:
        msg["content"] = None  # a refusal comes instead of the content, with finish_reason "stop"
    if d is not None:
        msg = {"role": "assistant", "content": c.text}
    if c.thinking is not None:
        msg[d.reasoning_field if d else "reasoning_content"] = c.thinking
    if c.tool is not None:
        fn = {"name": c.tool.name, "arguments": dumps(c.tool.arguments).decode()}
        msg["tool_calls"] = [{"id": _call_id(c, ctx), "type": "function", "function": fn}]
        if d is not None and d.legacy_function_call:
            msg["content"] = None
            msg["function_call"] = dict(fn)
    return msg


def body(c: Content, ctx: Ctx) -> dict[str, Any]:
    """A non-streaming ``chat.completion``."""
    d = dialect(c.server)
    choice = {"index": 0, "message": _message(c, ctx, d), "logprobs": None, "finish_reason": _FINISH[c.finish]}
    out: dict[str, Any] = {
        "id": _id(c, ctx),
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "choices": [choice],
        "usage": usage(c, ctx),
    }
    if d is None:
        out["service_tier"] = "default"
    fingerprint = d.system_fingerprint if d is not None else "fp_fake"
    if fingerprint:
        out["system_fingerprint"] = fingerprint
    if d is not None and d.timings:
        out["timings"] = _timings(c, ctx)
    return out


class _Chunks:
    """Chunk framing for one streamed answer in one dialect."""

    def __init__(self, c: Content, ctx: Ctx) -> None:
        self.c, self.ctx, self.d = c, ctx, dialect(c.server)
        self.id = _id(c, ctx)
        self.fingerprint = self.d.system_fingerprint if self.d is not None else "fp_fake"

    def _envelope(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        chunk: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk", "created": self.ctx.created,
                                 "model": self.ctx.model}
        if self.fingerprint:
            chunk["system_fingerprint"] = self.fingerprint
        chunk["choices"] = choices
        return chunk

    def chunk(self, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        if self.d is not None and self.d.null_fields and self.c.tool is not None:
            delta = {"role": None, "content": None, "function_call": None, "tool_calls": None, **delta}
        elif self.d is not None and self.d.whole_tool_call:  # Ollama: every delta names the role
            delta = {"role": "assistant", "content": "", **delta}
        chunk = self._envelope([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}])
        if self.ctx.include_usage and self.d is None:
            chunk["usage"] = None
        chunk.update(extra)
        return b"data: " + dumps(chunk) + b"\n\n"

    def usage(self, **extra: Any) -> bytes:
        return b"data: " + dumps({**self._envelope([]), "usage": usage(self.c, self.ctx), **extra}) + b"\n\n"


def _tool_frames(ch: _Chunks) -> list[Frame]:
    c, ctx, d = ch.c, ch.ctx, ch.d
    assert c.tool is not None
    name, args = c.tool.name, dumps(c.tool.arguments).decode()
    head = {"index": 0, "id": _call_id(c, ctx), "type": "function"}
    if d is not None and d.whole_tool_call:
        return [Frame(ch.chunk({"tool_calls": [{**head, "function": {"name": name, "arguments": args}}]}), True)]
    if d is not None and d.legacy_function_call:  # the name and the id ride on every delta, twice over
        return [Frame(ch.chunk({"function_call": {"name": name, "arguments": piece},
                                "tool_calls": [{**head, "function": {"name": name, "arguments": piece}}]}), True)
                for piece in split(args, c.chunks)]
    out = [Frame(ch.chunk({"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]}), True)]
    for piece in split(args, c.chunks):
        out.append(Frame(ch.chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}), True))
    return out


def frames(c: Content, ctx: Ctx) -> list[Frame]:
    """The SSE events of a streamed completion, ending with ``data: [DONE]``."""
    ch = _Chunks(c, ctx)
    d = ch.d
    first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None} if d is None else {"role": "assistant"}
    out = [Frame(ch.chunk(first))]
    reasoning = d.reasoning_field if d is not None else "reasoning_content"
    out += [Frame(ch.chunk({reasoning: p}), True) for p in split(c.thinking or "", c.chunks)]
    if c.refusal is not None:
        out += [Frame(ch.chunk({"refusal": p}), True) for p in split(c.refusal, c.chunks)]
    else:
        out += [Frame(ch.chunk({"content": p}), True) for p in split(c.text or "", c.chunks)]
    if c.tool is not None:
        out += _tool_frames(ch)
    usage_chunk = ctx.include_usage and (d is None or d.stream_usage)
    timings = {"timings": _timings(c, ctx)} if d is not None and d.timings else {}
    out.append(Frame(ch.chunk({}, _FINISH[c.finish], **({} if usage_chunk else timings))))
    if usage_chunk:
        out.append(Frame(ch.usage(**timings)))
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
    if kind == "invalid":
        return 400, _err(spec.message, "invalid_request_error", None, spec.param), {}
    code = spec.status or 500
    headers = _rate_headers(spec.retry_after) if code == 429 else {}
    return code, _status(code, ctx), headers


def error_frame(body: dict[str, Any]) -> bytes:
    """A mid-stream error: a ``data:`` payload with a top-level ``error``."""
    return b"data: " + dumps(body) + b"\n\n"


def last_user_text(req: dict[str, Any]) -> str:
    for msg in reversed(req.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            return text_of(msg.get("content"))
    return ""


def ends_with_assistant(req: dict[str, Any]) -> bool:
    msgs = req.get("messages") or []
    return bool(msgs) and isinstance(msgs[-1], dict) and msgs[-1].get("role") == "assistant"



def streaming(path: str, req: dict[str, Any]) -> tuple[bool, bool]:
    """(stream, include_usage): ``"stream": true`` streams; usage comes only with ``stream_options.include_usage``."""
    stream = req.get("stream") is True
    opts = req.get("stream_options")
    return stream, stream and isinstance(opts, dict) and bool(opts.get("include_usage"))
