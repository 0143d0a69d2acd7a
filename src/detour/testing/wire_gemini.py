"""Gemini generateContent wire format, by hand from the API reference (SSE events end in CRLF CRLF)."""

from __future__ import annotations

import base64
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
    seconds_str,
    split,
    text_of,
)

ID_HEADER = "x-goog-request-id"
TERMINAL: bytes | None = None

_FINISH = {"stop": "STOP", "tool_calls": "STOP", "content_filter": "SAFETY", "length": "MAX_TOKENS"}
_SAFETY = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}]
_PREFILL = (
    "This model does not support assistant message prefill. The conversation must end with a user message."
)


def _sig(c: Content) -> str:
    sig = base64.b64encode(c.signature.encode()).decode()
    ISSUED["gemini"].add(sig)
    return sig


def _rid(ctx: Ctx) -> str:
    return f"fake{ctx.seq:012d}"


def usage(c: Content, ctx: Ctx) -> dict[str, Any]:
    """A realistic ``usageMetadata``; thoughts are counted apart from candidates."""
    prompt = input_tokens(c, ctx)
    out, reasoning = output_tokens(c)
    meta: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": out - reasoning,
        "totalTokenCount": prompt + out,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if reasoning:
        meta["thoughtsTokenCount"] = reasoning
    return meta


def _parts(c: Content) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if c.thinking is not None:
        parts.append({"text": c.thinking, "thought": True, "thoughtSignature": _sig(c)})
    if c.text:
        parts.append({"text": c.text})
    if c.tool is not None:
        call: dict[str, Any] = {"name": c.tool.name, "args": c.tool.arguments}
        if c.tool.id:
            call["id"] = c.tool.id
        parts.append({"functionCall": call})
    return parts or [{"text": ""}]


def _response(ctx: Ctx, candidate: dict[str, Any] | None, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"candidates": [candidate]} if candidate is not None else {}
    if meta is not None:
        out["usageMetadata"] = meta
    out["modelVersion"] = ctx.model
    out["responseId"] = _rid(ctx)
    return out


def _blocked(c: Content, ctx: Ctx) -> dict[str, Any]:
    prompt = input_tokens(c, ctx)
    meta = {"promptTokenCount": prompt, "totalTokenCount": prompt}
    return {"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": _SAFETY}, **_response(ctx, None, meta)}


def body(c: Content, ctx: Ctx) -> dict[str, Any]:
    """A non-streaming ``GenerateContentResponse``."""
    if c.prompt_blocked:
        return _blocked(c, ctx)
    candidate: dict[str, Any] = {"content": {"parts": _parts(c), "role": "model"}, "finishReason": _FINISH[c.finish]}
    if c.finish == "content_filter" or c.refusal is not None:
        candidate = {"finishReason": "SAFETY", "safetyRatings": _SAFETY}
    candidate["index"] = 0
    return _response(ctx, candidate, usage(c, ctx))


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + dumps(data) + b"\r\n\r\n"


def _piece(ctx: Ctx, part: dict[str, Any]) -> Frame:
    candidate = {"content": {"parts": [part], "role": "model"}, "index": 0}
    return Frame(_sse(_response(ctx, candidate)), True)


def frames(c: Content, ctx: Ctx) -> list[Frame]:
    """``data:`` fragments with new parts only; finishReason and usageMetadata on the last; no [DONE]."""
    if c.prompt_blocked:
        return [Frame(_sse(_blocked(c, ctx)))]
    out: list[Frame] = []
    thoughts = split(c.thinking or "", c.chunks)
    for i, piece in enumerate(thoughts):
        part: dict[str, Any] = {"text": piece, "thought": True}
        if i == len(thoughts) - 1:
            part["thoughtSignature"] = _sig(c)
        out.append(_piece(ctx, part))
    out += [_piece(ctx, {"text": p}) for p in split(c.text or "", c.chunks)]
    if c.tool is not None:
        out.append(_piece(ctx, _parts(Content(text=None, tool=c.tool))[0]))
    last: dict[str, Any] = {"content": {"parts": [{"text": ""}], "role": "model"}, "finishReason": _FINISH[c.finish]}
    if c.finish == "content_filter" or c.refusal is not None:
        last = {"finishReason": "SAFETY", "safetyRatings": _SAFETY}
    last["index"] = 0
    out.append(Frame(_sse(_response(ctx, last, usage(c, ctx)))))
    return out


def _err(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return {"error": error}


_RPC = "type.googleapis.com/google.rpc."
_METRIC = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
_HELP = {"@type": _RPC + "Help", "links": [{"description": "Learn more about Gemini API quotas",
                                           "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}


def _quota_failure(ctx: Ctx, quota_id: str, limit: str) -> dict[str, Any]:
    violation = {"quotaMetric": _METRIC, "quotaId": quota_id,
                 "quotaDimensions": {"location": "global", "model": ctx.model}, "quotaValue": limit}
    return {"@type": _RPC + "QuotaFailure", "violations": [violation]}


def _rate_limit(spec: ErrorSpec, ctx: Ctx, per_day: bool) -> dict[str, Any]:
    quota_id = "GenerateRequestsPerDayPerProjectPerModel-FreeTier" if per_day else (
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier")
    limit = "250" if per_day else "10"
    msg = (
        "You exceeded your current quota, please check your plan and billing details. For more information on this "
        f"error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: {_METRIC}, "
        f"limit: {limit}, model: {ctx.model}"
    )
    details = [_quota_failure(ctx, quota_id, limit), _HELP]
    if spec.retry_after is not None:
        msg += f"\nPlease retry in {spec.retry_after:g}s."
        details.append({"@type": _RPC + "RetryInfo", "retryDelay": seconds_str(spec.retry_after) + "s"})
    return _err(429, "RESOURCE_EXHAUSTED", msg, details)


_CONTEXT_MSG = "The input token count (1234567) exceeds the maximum number of tokens allowed (1048576)."
_BY_STATUS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", (
        "models/{model} is not found for API version v1beta, or is not supported for generateContent. "
        "Call ListModels to see the list of available models and their supported methods."
    )),
    409: ("ABORTED", "The operation was aborted."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    499: ("CANCELLED", "The operation was cancelled."),
    500: ("INTERNAL", (
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting"
    )),
    501: ("UNIMPLEMENTED", "Method not implemented."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}


def _status(code: int, ctx: Ctx) -> dict[str, Any]:
    default = ("INTERNAL", "Internal error.") if code >= 500 else ("FAILED_PRECONDITION", "Request failed.")
    status, msg = _BY_STATUS.get(code, default)
    return _err(code, status, msg.format(model=ctx.model))


def error(spec: ErrorSpec, ctx: Ctx) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers); Gemini sends no rate-limit headers, only RetryInfo in the body."""
    kind = spec.kind
    if kind == "rate_limit":
        return 429, _rate_limit(spec, ctx, per_day=False), {}
    if kind == "quota":
        return 429, _rate_limit(spec, ctx, per_day=True), {}
    if kind == "overloaded":
        return 503, _status(503, ctx), {}
    if kind == "context_length":
        return 400, _err(400, "INVALID_ARGUMENT", _CONTEXT_MSG), {}
    if kind == "reject_prefill":
        return 400, _err(400, "INVALID_ARGUMENT", _PREFILL), {}
    if kind == "invalid":
        return 400, _err(400, "INVALID_ARGUMENT", spec.message), {}
    code = spec.status or 500
    if code == 429:
        return 429, _rate_limit(spec, ctx, per_day=False), {}
    return code, _status(code, ctx), {}


def error_frame(body: dict[str, Any]) -> bytes:
    """A mid-stream error: a ``data:`` chunk whose JSON starts with ``{"error":``."""
    return _sse(body)


def last_user_text(req: dict[str, Any]) -> str:
    for content in reversed(req.get("contents") or []):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            return text_of(content.get("parts"))
    return ""


def ends_with_assistant(req: dict[str, Any]) -> bool:
    contents = req.get("contents") or []
    return bool(contents) and isinstance(contents[-1], dict) and contents[-1].get("role") == "model"


def streaming(path: str, req: dict[str, Any]) -> tuple[bool, bool]:
    """(stream, include_usage): the ``:streamGenerateContent`` path streams; the body has no stream switch."""
    return ":streamGenerateContent" in path, False
