"""OpenAI Responses API wire format, by hand from the API reference and the SDK's types.

Strict like the real API with ``store: false`` (``refuse``): it keeps nothing, so ``previous_response_id`` is
not found; reasoning items must carry ``encrypted_content`` this server made (anything else "could not be
verified") and be followed by another item; a ``function_call_output`` needs its ``function_call``; tools are
flat (``tools[i].name``). Messages are the API's own, as quoted in public issue threads.
"""

from __future__ import annotations

import base64
from typing import Any

from detour.testing import wire_openai
from detour.testing.wire import (
    Content,
    Ctx,
    ErrorSpec,
    Frame,
    dumps,
    input_tokens,
    output_tokens,
    split,
    text_of,
)

ID_HEADER = "x-request-id"
TERMINAL: bytes | None = None  # the terminal event carries the whole response; no fixed frame to drop
_PREFIX = "gAAAAB"  # what OpenAI's encrypted_content looks like; the fake only accepts its own


def _id(ctx: Ctx) -> str:
    return f"resp_fake{ctx.seq:010d}"


def encrypted(ctx: Ctx) -> str:
    return _PREFIX + base64.b64encode(f"fake-reasoning:{ctx.seq}".encode()).decode()


def _own(value: str) -> bool:
    try:
        return value.startswith(_PREFIX) and base64.b64decode(value[len(_PREFIX):]).startswith(b"fake-reasoning:")
    except ValueError:
        return False


def usage(c: Content, ctx: Ctx) -> dict[str, Any]:
    prompt = input_tokens(c, ctx)
    out, reasoning = output_tokens(c)
    return {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0}, "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": reasoning}, "total_tokens": prompt + out}


def _items(c: Content, ctx: Ctx) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if c.thinking is not None:
        items.append({"id": f"rs_fake{ctx.seq:08d}", "type": "reasoning", "encrypted_content": encrypted(ctx),
                      "summary": [{"type": "summary_text", "text": c.thinking}]})
    if c.text:
        part = {"type": "output_text", "text": c.text, "annotations": [], "logprobs": []}
        items.append({"id": f"msg_fake{ctx.seq:08d}", "type": "message", "status": "completed", "role": "assistant",
                      "content": [part]})
    if c.tool is not None:
        items.append({"id": f"fc_fake{ctx.seq:08d}", "type": "function_call", "status": "completed",
                      "call_id": c.tool.id or f"call_fake{ctx.seq:08d}", "name": c.tool.name,
                      "arguments": dumps(c.tool.arguments).decode()})
    return items


def _response(c: Content, ctx: Ctx, status: str, output: list[dict[str, Any]], with_usage: bool) -> dict[str, Any]:
    blocked = c.finish == "content_filter"
    return {
        "id": _id(ctx), "object": "response", "created_at": ctx.created, "status": status, "background": False,
        "error": None, "incomplete_details": {"reason": "content_filter"} if blocked and status != "in_progress" else None,
        "instructions": None, "max_output_tokens": None, "model": ctx.model, "output": output,
        "parallel_tool_calls": True, "previous_response_id": None, "reasoning": {"effort": None, "summary": None},
        "store": False, "temperature": 1.0, "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [],
        "top_p": 1.0, "truncation": "disabled", "usage": usage(c, ctx) if with_usage else None, "user": None,
        "metadata": {},
    }


def body(c: Content, ctx: Ctx) -> dict[str, Any]:
    """A non-streaming ``response`` object."""
    status = "incomplete" if c.finish == "content_filter" else "completed"
    return _response(c, ctx, status, _items(c, ctx), True)


class _Seq:
    def __init__(self) -> None:
        self.n = 0

    def frame(self, kind: str, data: dict[str, Any], delta: bool = False) -> Frame:
        payload = {"type": kind, **data, "sequence_number": self.n}
        self.n += 1
        return Frame(b"event: " + kind.encode() + b"\ndata: " + dumps(payload) + b"\n\n", delta)


def frames(c: Content, ctx: Ctx) -> list[Frame]:
    """The SSE events of a streamed response, ending with response.completed."""
    s = _Seq()
    out = [s.frame("response.created", {"response": _response(c, ctx, "in_progress", [], False)}),
           s.frame("response.in_progress", {"response": _response(c, ctx, "in_progress", [], False)})]
    items = _items(c, ctx)
    for pos, item in enumerate(items):
        where = {"item_id": item["id"], "output_index": pos}
        kind = item["type"]
        if kind == "reasoning":
            out.append(s.frame("response.output_item.added", {"output_index": pos, "item": {**item, "summary": []}}))
            text = item["summary"][0]["text"]
            out.append(s.frame("response.reasoning_summary_part.added", {**where, "summary_index": 0,
                                                                           "part": {"type": "summary_text", "text": ""}}))
            out += [s.frame("response.reasoning_summary_text.delta", {**where, "summary_index": 0, "delta": p}, True)
                    for p in split(text, c.chunks)]
            out.append(s.frame("response.reasoning_summary_text.done", {**where, "summary_index": 0, "text": text}))
            out.append(s.frame("response.reasoning_summary_part.done", {**where, "summary_index": 0,
                                                                          "part": {"type": "summary_text", "text": text}}))
        elif kind == "message":
            out.append(s.frame("response.output_item.added", {"output_index": pos, "item": {**item, "status": "in_progress", "content": []}}))
            part = item["content"][0]
            out.append(s.frame("response.content_part.added", {**where, "content_index": 0, "part": {**part, "text": ""}}))
            out += [s.frame("response.output_text.delta", {**where, "content_index": 0, "delta": p, "logprobs": []}, True)
                    for p in split(part["text"], c.chunks)]
            out.append(s.frame("response.output_text.done", {**where, "content_index": 0, "text": part["text"], "logprobs": []}))
            out.append(s.frame("response.content_part.done", {**where, "content_index": 0, "part": part}))
        else:
            out.append(s.frame("response.output_item.added", {"output_index": pos, "item": {**item, "status": "in_progress", "arguments": ""}}))
            out += [s.frame("response.function_call_arguments.delta", {**where, "delta": p}, True)
                    for p in split(item["arguments"], c.chunks)]
            out.append(s.frame("response.function_call_arguments.done", {**where, "name": item["name"], "arguments": item["arguments"]}))
        out.append(s.frame("response.output_item.done", {"output_index": pos, "item": item}))
    if c.finish == "content_filter":
        out.append(s.frame("response.incomplete", {"response": _response(c, ctx, "incomplete", items, True)}))
    else:
        out.append(s.frame("response.completed", {"response": _response(c, ctx, "completed", items, True)}))
    return out


def error(spec: ErrorSpec, ctx: Ctx) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers): the same envelope and rate-limit headers as Chat Completions."""
    status, payload, headers = wire_openai.error(spec, ctx)
    if spec.kind == "context_length":
        payload["error"]["param"] = "input"
    return status, payload, headers


def error_frame(body: dict[str, Any]) -> bytes:
    """A mid-stream failure: an ``error`` event with the SDK's flat fields."""
    err = body.get("error") or {}
    data = {"type": "error", "code": err.get("code"), "message": err.get("message"), "param": err.get("param"),
            "sequence_number": 0}
    return b"event: error\ndata: " + dumps(data) + b"\n\n"


def _err(message: str, param: str | None, code: str | None) -> tuple[int, dict[str, Any]]:
    return 400, {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def _short(value: str) -> str:
    return f"{value[:4]}...{value[-4:]}" if len(value) > 8 else value


def refuse(req: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """What the real API (with nothing stored) rejects in a request body, with its message; None if accepted."""
    prev = req.get("previous_response_id")
    if prev is not None:
        return 400, {"error": {"message": f"Previous response with id '{prev}' not found.", "type": "invalid_request_error",
                               "param": "previous_response_id", "code": "previous_response_not_found"}}
    for i, tool in enumerate(req.get("tools") or ()):
        if isinstance(tool, dict) and tool.get("type") == "function" and not tool.get("name"):
            return _err(f"Missing required parameter: 'tools[{i}].name'.", f"tools[{i}].name", "missing_required_parameter")
    items = req.get("input")
    if not isinstance(items, list):
        return None
    calls: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "function_call":
            calls.add(str(item.get("call_id")))
        elif kind == "function_call_output" and item.get("call_id") not in calls:
            return _err(f"No tool call found for function call output with call_id {item.get('call_id')}.", "input", None)
        elif kind == "reasoning":
            sealed = item.get("encrypted_content")
            if not sealed:
                return _err(f"Item with id '{item.get('id')}' not found. Items are not persisted when `store` is set to "
                            "false. Try again with `store` set to true, or remove this item from your input.", "input", None)
            if not _own(sealed):
                return _err(f"The encrypted content {_short(sealed)} could not be verified.", None, "invalid_encrypted_content")
            if i == len(items) - 1:
                return _err(f"Item '{item.get('id')}' of type 'reasoning' was provided without its required following item.",
                            "input", None)
    return None


def last_user_text(req: dict[str, Any]) -> str:
    items = req.get("input")
    if isinstance(items, str):
        return items
    for item in reversed(items or []):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return text_of(content)
    return ""


def ends_with_assistant(req: dict[str, Any]) -> bool:
    items = req.get("input")
    return isinstance(items, list) and bool(items) and isinstance(items[-1], dict) and items[-1].get("role") == "assistant"


def streaming(path: str, req: dict[str, Any]) -> tuple[bool, bool]:
    """(stream, include_usage): ``"stream": true`` streams; ``response.completed`` always carries usage."""
    return req.get("stream") is True, False
