"""Anthropic Messages codec: request and response bodies, and ``CODEC``, the codec object.

    decode_request(body, headers)  Anthropic /v1/messages body -> neutral Request
    encode_request(req, model)     neutral Request -> Anthropic body (pass-through when nothing changed)
    decode_response(body)          Anthropic Message -> neutral Response
    encode_response(resp, model)   neutral Response -> Anthropic Message
    request_headers(req)           the `anthropic-beta` header to send upstream
    StreamDecoder / StreamEncoder / encode_error  (anthropic_stream, re-exported here)

Block keys with no neutral meaning (``cache_control``, ``citations``...) ride in the part's
``provider_details["anthropic"]``; block types with no neutral part ride whole as an empty TextPart
carrying ``provider_details["anthropic_block"]``, so an Anthropic -> Anthropic trip loses nothing.
Every lossy mapping is listed in docs/translation.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from . import history
from ._codec import Codec
from ._limits import MAX_TOOLS, is_base64
from .anthropic_stream import (
    BLOCK,
    RESPONSE_BLOCKS,
    STOP_TO_FINISH,
    StreamDecoder,
    StreamEncoder,
    block_extras,
    decode_text,
    decode_usage,
    encode_error,
    encode_usage,
    message_id,
    opaque_part,
    stop_details,
    stop_fields,
    string_field,
    tool_input,
)
from .anthropic_stream import fail as _fail
from .history import Prepared, client_signature
from .messages import (
    Credential,
    DocumentPart,
    ImagePart,
    Message,
    Part,
    Request,
    Response,
    ResponseFormat,
    TextPart,
    ThinkingPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "EFFORT_BUDGETS",
    "StreamDecoder",
    "StreamEncoder",
    "decode_request",
    "decode_response",
    "encode_error",
    "encode_request",
    "encode_response",
    "request_headers",
]

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
# planner fact: the image media types this protocol takes; the plan skips a target for others
IMAGE_MEDIA_TYPES = frozenset(IMAGE_TYPES)
DEFAULT_MAX_TOKENS = 4096
MIN_BUDGET = 1024
# reasoning_effort -> thinking.budget_tokens when the target has no effort knob (a design choice, see docs)
EFFORT_BUDGETS = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 32000,
    "max": 32000,
}
ANTHROPIC_EFFORTS = ("low", "medium", "high", "xhigh", "max")
LIST = "anthropic_list"  # provider_details flag: the wire content was a list of blocks, not a string
_TOP_KEYS = frozenset(
    {
        "model", "messages", "system", "tools", "tool_choice", "max_tokens", "temperature", "top_p",
        "stop_sequences", "thinking", "output_config", "output_format", "metadata", "stream", "detour",
    }
)  # fmt: skip
_SAFE_ID = re.compile(r"[^a-zA-Z0-9_-]")


# ================================================================ decode: content blocks


def _decode_image(block: dict[str, Any], path: str) -> Part:
    source = block.get("source")
    if not isinstance(source, dict):
        raise _fail(f"{path}.source", "must be an object")
    kind, details = source.get("type"), block_extras(block, ("type", "source"))
    if kind == "base64":
        media_type = source.get("media_type")
        if media_type not in IMAGE_TYPES:
            raise _fail(
                f"{path}.source.media_type", f"must be one of {', '.join(IMAGE_TYPES)}"
            )
        data = string_field(source, "data", f"{path}.source")
        if not is_base64(data):
            raise _fail(f"{path}.source.data", "must be valid base64")
        return ImagePart(
            data=data,
            media_type=media_type,
            provider_details=details,
        )
    if kind == "url":
        return ImagePart(
            url=string_field(source, "url", f"{path}.source"), provider_details=details
        )
    if kind == "file":
        return opaque_part(block)
    raise _fail(f"{path}.source.type", "must be one of base64, url, file")


def _decode_document(block: dict[str, Any], path: str) -> Part:
    source = block.get("source")
    if not isinstance(source, dict):
        raise _fail(f"{path}.source", "must be an object")
    title = block.get("title")
    details = block_extras(block, ("type", "source", "title"))
    if source.get("type") == "base64" and source.get("media_type") == "application/pdf":
        data = string_field(source, "data", f"{path}.source")
        if not is_base64(data):
            raise _fail(f"{path}.source.data", "must be valid base64")
        return DocumentPart(data=data, title=title, provider_details=details)
    if source.get("type") == "url":
        return DocumentPart(
            url=string_field(source, "url", f"{path}.source"),
            title=title,
            provider_details=details,
        )
    return opaque_part(
        block
    )  # plain-text, content and file sources have no neutral form


_BLOCK_DECODERS = {
    **RESPONSE_BLOCKS,
    "image": _decode_image,
    "document": _decode_document,
}


def _decode_block(block: Any, path: str) -> Part:
    if not isinstance(block, dict):
        raise _fail(path, "must be an object")
    kind = block.get("type")
    if not isinstance(kind, str):
        raise _fail(f"{path}.type", "must be a string")
    decoder = _BLOCK_DECODERS.get(kind)
    return decoder(block, path) if decoder else opaque_part(block)


def _decode_tool_result(block: dict[str, Any], path: str) -> Message:
    content = block.get("content", [])
    details = block_extras(block, ("type", "tool_use_id", "content", "is_error"))
    if block.get("is_error") is False:
        details = details or {"anthropic": {}}
        details["anthropic"]["is_error"] = False
    if isinstance(content, str):
        parts: list[Any] = [TextPart(content)]
    elif isinstance(content, list):
        parts = [
            _decode_result_block(b, f"{path}.content[{i}]")
            for i, b in enumerate(content)
        ]
        details = details or {}
        details[LIST] = True
    else:
        raise _fail(f"{path}.content", "must be a string or a list of blocks")
    is_error = bool(block.get("is_error", False))
    result = ToolResultPart(
        string_field(block, "tool_use_id", path),
        parts,
        is_error,
        provider_details=details,
    )
    return Message("tool", [result])


def _decode_result_block(block: Any, path: str) -> Part:
    part = _decode_block(block, path)
    return part if isinstance(part, (TextPart, ImagePart)) else opaque_part(block)


# ================================================================ decode: messages


def _decode_content(content: Any, path: str) -> tuple[list[Any], bool]:
    if isinstance(content, str):
        return [TextPart(content)], False
    if not isinstance(content, list):
        raise _fail(path, "must be a string or a list of blocks")
    return content, True


def _decode_message(message: Any, path: str) -> list[Message]:
    if not isinstance(message, dict):
        raise _fail(path, "must be an object")
    role = message.get("role")
    if role not in ("user", "assistant", "system"):
        raise _fail(f"{path}.role", "must be one of user, assistant, system")
    blocks, as_list = _decode_content(message.get("content"), f"{path}.content")
    details: dict[str, Any] = (
        {"anthropic": {"inline": True}} if role == "system" else {}
    )
    if as_list:
        details[LIST] = True
    return _split_blocks(role, blocks, as_list, details or None, f"{path}.content")


def _split_blocks(
    role: str, blocks: list[Any], as_list: bool, details: Any, path: str
) -> list[Message]:
    """One wire message -> neutral messages; each tool_result becomes its own `tool` message, in order."""
    if not as_list:
        return [Message(role, blocks, provider_details=details)]  # type: ignore[arg-type]  # role checked by caller
    out: list[Message] = []
    pending: list[Part] = []
    for i, block in enumerate(blocks):
        if (
            isinstance(block, dict)
            and block.get("type") == "tool_result"
            and role == "user"
        ):
            if pending:
                out.append(Message(role, pending, provider_details=details))  # type: ignore[arg-type]  # role is 'user' or 'assistant' here, read from the validated body
                pending = []
            out.append(_decode_tool_result(block, f"{path}[{i}]"))
        else:
            pending.append(_decode_block(block, f"{path}[{i}]"))
    if pending or not out:
        out.append(Message(role, pending, provider_details=details))  # type: ignore[arg-type]  # role is 'user' or 'assistant' here, read from the validated body
    return out


def _decode_system(system: Any) -> list[Message]:
    if isinstance(system, str):
        return [Message("system", [TextPart(system)])]
    if not isinstance(system, list):
        raise _fail("system", "must be a string or a list of text blocks")
    parts: list[Part] = []
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise _fail(f"system[{i}]", "must be a text block")
        parts.append(decode_text(block, f"system[{i}]"))
    return [Message("system", parts, provider_details={LIST: True})]


# ================================================================ decode: tools and parameters


def _decode_tools(tools: Any, details: dict[str, Any]) -> list[Tool]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _fail("tools", "must be a list")
    if len(tools) > MAX_TOOLS:
        raise _fail("tools", f"at most {MAX_TOOLS} tools are accepted, got {len(tools)}")
    out: list[Tool] = []
    server: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _fail(f"tools[{i}]", "must be an object")
        if tool.get("type") not in (None, "custom"):
            server.append(
                {"index": i, "tool": tool}
            )  # server tools (web_search_..., bash_...) have no neutral form
            continue
        out.append(_decode_tool(tool, f"tools[{i}]"))
    if server:
        details["server_tools"] = server
    return out


def _asks_web_search(details: dict[str, Any]) -> bool:
    """A server tool of type ``web_search_YYYYMMDD`` (Claude Code's WebSearch sends one)."""
    return any(str(t["tool"].get("type", "")).startswith("web_search") for t in details.get("server_tools", ()))


def _decode_tool(tool: dict[str, Any], path: str) -> Tool:
    schema = tool.get("input_schema")
    if not isinstance(schema, dict):
        raise _fail(f"{path}.input_schema", "must be an object")
    description = tool.get("description")
    extras = block_extras(tool, ("name", "description", "input_schema"))
    return Tool(string_field(tool, "name", path), description, schema, extras)


_CHOICE_MODES = {"auto": "auto", "any": "required", "tool": "tool", "none": "none"}


def _decode_tool_choice(choice: Any) -> ToolChoice | None:
    if choice is None:
        return None
    if not isinstance(choice, dict) or choice.get("type") not in _CHOICE_MODES:
        raise _fail("tool_choice.type", "must be one of auto, any, tool, none")
    mode = _CHOICE_MODES[choice["type"]]
    name = string_field(choice, "name", "tool_choice") if mode == "tool" else None
    disable = choice.get("disable_parallel_tool_use")
    return ToolChoice(mode, name, None if disable is None else not disable)  # type: ignore[arg-type]  # mode is one of ToolChoice's literals, mapped from the body's type


def _decode_thinking_config(
    req: Request, thinking: Any, details: dict[str, Any]
) -> None:
    if thinking is None:
        return
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int):
            raise _fail("thinking.budget_tokens", "must be an integer")
        req.thinking, req.thinking_budget = "enabled", budget
    elif kind in ("adaptive", "disabled"):
        req.thinking = kind
    else:
        raise _fail("thinking.type", "must be one of enabled, adaptive, disabled")
    details["thinking"] = thinking


def _decode_output_config(req: Request, config: Any, details: dict[str, Any]) -> None:
    if config is None:
        return
    if not isinstance(config, dict):
        raise _fail("output_config", "must be an object")
    details["output_config"] = config
    req.reasoning_effort = config.get("effort")
    _decode_format(req, config.get("format"))


def _decode_format(req: Request, fmt: Any) -> None:
    """``output_config.format`` (or the beta's top-level ``output_format``): Anthropic's json_schema format has no
    name, so the schema's ``title`` is the one a target that wants a name (OpenAI) receives."""
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = fmt.get("schema")
        title = schema.get("title") if isinstance(schema, dict) else None
        req.response_format = ResponseFormat("json_schema", schema, title if isinstance(title, str) else None)


def _decode_metadata(req: Request, metadata: Any) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise _fail("metadata", "must be an object")
    req.metadata = dict(metadata)
    user = metadata.get("user_id")
    req.user = user if isinstance(user, str) else None
    if req.user and req.user.startswith("{"):
        req.metadata.update(_user_id_fields(req.user))


def _user_id_fields(user_id: str) -> dict[str, Any]:
    """Claude Code's user_id is a JSON string holding session_id; it is a natural session key."""
    try:
        fields = orjson.loads(user_id)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(fields, dict):
        return {}
    return {
        k: fields[k] for k in ("session_id", "device_id", "account_uuid") if k in fields
    }


def _decode_sampling(req: Request, body: dict[str, Any]) -> None:
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)):
        raise _fail("max_tokens", "must be an integer")
    if max_tokens is not None and max_tokens < 1:
        raise _fail("max_tokens", "must be at least 1")
    req.max_tokens = max_tokens
    req.temperature = _number(body, "temperature")
    req.top_p = _number(body, "top_p")
    stop = body.get("stop_sequences")
    if stop is not None:
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _fail("stop_sequences", "must be a list of strings")
        req.stop = list(stop)


def _number(body: dict[str, Any], key: str) -> float | None:
    value = body.get(key)
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float))
    ):
        raise _fail(key, "must be a number")
    return value


def _beta(headers: Mapping[str, str] | None) -> list[str]:
    if not headers:
        return []
    value = headers.get("anthropic-beta") or next(
        (v for k, v in headers.items() if k.lower() == "anthropic-beta"), ""
    )
    return [b.strip() for b in value.split(",") if b.strip()]


def decode_request(
    body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> Request:
    """An Anthropic Messages request -> neutral. Raises ValueError naming the JSON path of bad input."""
    if not isinstance(body, dict):
        raise _fail("body", "must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise _fail("messages", "must be a list")
    req = Request(model=string_field(body, "model", "body").strip())
    details: dict[str, Any] = {"raw": body}
    if body.get("system") is not None:
        req.messages = _decode_system(body["system"])
    for i, message in enumerate(messages):
        req.messages += _decode_message(message, f"messages[{i}]")
    req.tools = _decode_tools(body.get("tools"), details)
    req.tool_choice = _decode_tool_choice(body.get("tool_choice"))
    _decode_sampling(req, body)
    _decode_thinking_config(req, body.get("thinking"), details)
    _decode_output_config(req, body.get("output_config"), details)
    if req.response_format is None and body.get("output_format") is not None:
        _decode_format(req, body["output_format"])  # the structured-outputs beta's spelling
    _decode_metadata(req, body.get("metadata"))
    if not isinstance(body.get("stream", False), bool):
        raise _fail("stream", "must be true or false")
    req.stream = bool(body.get("stream", False))
    req.detour = _detour(body.get("detour"))
    req.extra = {k: v for k, v in body.items() if k not in _TOP_KEYS}
    if beta := _beta(headers):
        details["beta"] = beta
    req.provider_details["anthropic"] = details
    req.web_search = _asks_web_search(details)
    details["snapshot"] = _snapshot(req)
    return req


def _detour(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail("detour", "must be an object")
    return value


# ================================================================ pass-through detection


def _snapshot(req: Request) -> tuple[Any, ...]:
    """Every neutral value encode_request reads, by identity: a replaced part/field makes it differ.

    It holds references (not ids) so a freed object's address can't be reused by a replacement.
    In-place edits of dicts (tool schemas, metadata) are not seen; replace them instead.
    """
    leaves: list[Any] = [
        req.messages,
        req.tools,
        req.tool_choice,
        req.max_tokens,
        req.temperature,
        req.top_p,
    ]
    leaves += [
        req.stop,
        req.reasoning_effort,
        req.thinking_budget,
        req.thinking,
        req.response_format,
        req.stream,
    ]
    leaves += [
        req.user,
        req.metadata,
        req.extra,
        req.seed,
        len(req.messages),
        len(req.tools),
        len(req.stop),
    ]
    for message in req.messages:
        leaves += [message, message.role, message.content, len(message.content)]
        for part in message.content:
            leaves += [part, *[getattr(part, name) for name in part.__slots__]]
    for tool in req.tools:
        leaves += [
            tool,
            tool.name,
            tool.description,
            tool.parameters,
            tool.provider_details,
        ]
    choice = req.tool_choice
    if choice is not None:
        leaves += [choice.mode, choice.name, choice.parallel]
    return tuple(leaves)


def _unchanged(req: Request, details: dict[str, Any]) -> bool:
    before = details.get("snapshot")
    if before is None:
        return False
    now = _snapshot(req)
    return len(now) == len(before) and all(a is b for a, b in zip(now, before))


def _from_anthropic(req: Request) -> dict[str, Any] | None:
    details = req.provider_details.get("anthropic")
    return details if details and "raw" in details else None


# ================================================================ encode: parts


def _merge_extras(
    block: dict[str, Any], details: dict[str, Any] | None
) -> dict[str, Any]:
    if details and (extra := details.get("anthropic")):
        block.update(extra)
    return block


def _encode_text(part: TextPart) -> dict[str, Any] | None:
    details = part.provider_details
    if details and BLOCK in details:
        return details[BLOCK]  # type: ignore[no-any-return]  # a JSON value from provider_details/the wire, typed Any
    if not part.text:
        return None  # the API rejects empty text blocks
    return _merge_extras({"type": "text", "text": part.text}, details)


def _image_source(part: ImagePart) -> dict[str, Any]:
    if part.data is not None:
        return {
            "type": "base64",
            "media_type": part.media_type or "image/png",
            "data": part.data,
        }
    url = part.url or ""
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        return {
            "type": "base64",
            "media_type": head[5:].split(";")[0] or "image/png",
            "data": data,
        }
    return {"type": "url", "url": url}


def _encode_image(part: ImagePart) -> dict[str, Any]:
    return _merge_extras(
        {"type": "image", "source": _image_source(part)}, part.provider_details
    )


def _encode_document(part: DocumentPart) -> dict[str, Any]:
    if part.data is not None:
        source = {"type": "base64", "media_type": part.media_type, "data": part.data}
    else:
        source = {"type": "url", "url": part.url or ""}
    block: dict[str, Any] = {"type": "document", "source": source}
    if part.title is not None:
        block["title"] = part.title
    return _merge_extras(block, part.provider_details)


def _tool_id(call_id: str) -> str:
    """Anthropic ids must match ^[a-zA-Z0-9_-]+$; others (call_abc) pass unchanged."""
    if call_id and not _SAFE_ID.search(call_id):
        return call_id
    return _SAFE_ID.sub("_", call_id) or "toolu_missing"


def _encode_tool_call(part: ToolCallPart) -> dict[str, Any]:
    block = {
        "type": "tool_use",
        "id": _tool_id(part.id),
        "name": part.name,
        "input": tool_input(part.arguments),
    }
    return _merge_extras(block, part.provider_details)


def _encode_tool_result(part: ToolResultPart) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "tool_result",
        "tool_use_id": _tool_id(part.tool_call_id),
    }
    details = part.provider_details
    as_list = bool(details and details.get(LIST))
    content = [b for b in map(_encode_part, part.content) if b is not None]
    if (
        not as_list
        and len(part.content) == 1
        and isinstance(part.content[0], TextPart)
        and _plain(content)
    ):
        block["content"] = part.content[0].text  # a string keeps empty results legal
    elif content or as_list:
        block["content"] = content
    _merge_extras(block, details)
    if part.is_error:
        block["is_error"] = True
    return block


def _encode_thinking(part: ThinkingPart) -> dict[str, Any] | None:
    if part.redacted_data is not None:
        block: dict[str, Any] = {
            "type": "redacted_thinking",
            "data": part.redacted_data,
        }
    elif part.signature:
        block = {"type": "thinking", "thinking": part.text, "signature": part.signature}
    else:
        return None  # unsigned reasoning (DeepSeek, Gemini summaries) would be rejected
    return _merge_extras(block, part.provider_details)


_PART_ENCODERS: dict[str, Any] = {
    "text": _encode_text,
    "image": _encode_image,
    "document": _encode_document,
    "tool_call": _encode_tool_call,
    "tool_result": _encode_tool_result,
    "thinking": _encode_thinking,
}


def _encode_part(part: Part) -> dict[str, Any] | None:
    return _PART_ENCODERS[part.kind](part)  # type: ignore[no-any-return]  # a JSON value from provider_details/the wire, typed Any


def _plain(blocks: list[dict[str, Any]]) -> bool:
    return len(blocks) == 1 and len(blocks[0]) == 2 and blocks[0]["type"] == "text"


# ================================================================ encode: messages


def _is_inline(message: Message) -> bool:
    details = message.provider_details
    return bool(details and details.get("anthropic", {}).get("inline"))


def _wants_list(message: Message) -> bool:
    return bool(message.provider_details and message.provider_details.get(LIST))


def _finish_turn(turn: list[Any]) -> dict[str, Any]:
    role, blocks, as_list = turn
    content = blocks[0]["text"] if not as_list and _plain(blocks) else blocks
    return {"role": role, "content": content}


def _split_system(req: Request, inline_ok: bool) -> tuple[list[Message], list[Message]]:
    """Leading system messages become top-level `system`; later ones stay in-line only for Anthropic clients."""
    messages = req.messages
    i = 0
    while (
        i < len(messages)
        and messages[i].role == "system"
        and not (inline_ok and _is_inline(messages[i]))
    ):
        i += 1
    head, rest = messages[:i], messages[i:]
    if not inline_ok:
        head = head + [m for m in rest if m.role == "system"]
        rest = [m for m in rest if m.role != "system"]
    return head, rest


def _encode_turns(messages: list[Message]) -> list[dict[str, Any]]:
    """Merge consecutive same-role turns (tool results join the user turn); start with a user turn."""
    turns: list[list[Any]] = []
    for message in messages:
        blocks = [b for b in map(_encode_part, message.content) if b is not None]
        if not blocks and message.role != "system":
            continue  # an empty turn is rejected; an empty assistant placeholder carries nothing
        role = (
            "assistant"
            if message.role == "assistant"
            else message.role
            if message.role == "system"
            else "user"
        )
        as_list = _wants_list(message) or message.role == "tool"
        if turns and turns[-1][0] == role and role != "system":
            turns[-1][1] += blocks
            turns[-1][2] = True
        else:
            turns.append([role, blocks, as_list])
    first = next((t for t in turns if t[0] != "system"), None)
    if first is not None and first[0] == "assistant":
        turns.insert(
            turns.index(first), ["user", [{"type": "text", "text": "."}], False]
        )
    return [_finish_turn(t) for t in turns]


def _encode_system(
    system: list[Message], extra_text: str | None
) -> str | list[dict[str, Any]] | None:
    blocks = [
        b
        for m in system
        for p in m.content
        if isinstance(p, TextPart) and (b := _encode_text(p))
    ]
    if extra_text:
        blocks.append({"type": "text", "text": extra_text})
    if not blocks:
        return None
    if _plain(blocks) and not any(_wants_list(m) for m in system):
        return blocks[0]["text"]  # type: ignore[no-any-return]  # a JSON value from provider_details/the wire, typed Any
    return blocks


# ================================================================ encode: tools and parameters


def _encode_tool(tool: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        out["description"] = tool.description
    out["input_schema"] = tool.parameters or {"type": "object", "properties": {}}
    details = tool.provider_details
    if details:
        if details.get("strict") is not None:
            out["strict"] = details[
                "strict"
            ]  # OpenAI strict function calling has an Anthropic twin
        _merge_extras(out, details)
    return out


def _encode_tools(req: Request, details: dict[str, Any] | None) -> list[dict[str, Any]]:
    tools = [_encode_tool(t) for t in req.tools]
    for server in (details or {}).get("server_tools", ()):
        tools.insert(min(server["index"], len(tools)), server["tool"])
    return tools


_CHOICE_TYPES = {"auto": "auto", "required": "any", "tool": "tool", "none": "none"}


def _encode_tool_choice(choice: ToolChoice) -> dict[str, Any]:
    out: dict[str, Any] = {"type": _CHOICE_TYPES[choice.mode]}
    if choice.mode == "tool":
        out["name"] = choice.name
    if choice.parallel is not None and choice.mode != "none":
        out["disable_parallel_tool_use"] = not choice.parallel
    return out


def _thinking_config(
    req: Request, details: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Neutral thinking knobs -> `thinking`; an effort becomes a budget only for non-Anthropic clients."""
    original = (details or {}).get("thinking") or {}
    if req.thinking == "disabled" or (
        req.reasoning_effort == "none" and details is None
    ):
        config: dict[str, Any] = {"type": "disabled"}
    elif req.thinking == "adaptive":
        config = {"type": "adaptive"}
    elif req.thinking_budget is not None or req.thinking == "enabled":
        config = {"type": "enabled", "budget_tokens": max(MIN_BUDGET, _budget(req))}
    elif req.reasoning_effort in EFFORT_BUDGETS and details is None:
        config = {
            "type": "enabled",
            "budget_tokens": EFFORT_BUDGETS[req.reasoning_effort],
        }
    else:
        return None
    if original.get("type") == config["type"]:
        config = {**original, **config}  # keeps `display` and any newer keys
    return config


def _budget(req: Request) -> int:
    if req.thinking_budget is not None:
        return req.thinking_budget
    return EFFORT_BUDGETS.get(
        req.reasoning_effort or "medium", EFFORT_BUDGETS["medium"]
    )


def _output_config(req: Request, details: dict[str, Any]) -> dict[str, Any] | None:
    config = dict(details.get("output_config") or {})
    if req.reasoning_effort in ANTHROPIC_EFFORTS:
        config["effort"] = req.reasoning_effort
    else:
        config.pop("effort", None)
    fmt = req.response_format
    if fmt is not None and fmt.type == "json_schema" and fmt.schema is not None:
        config["format"] = {
            **config.get("format", {}),
            "type": "json_schema",
            "schema": fmt.schema,
        }
    else:
        config.pop("format", None)
    return config or None


def _format_instruction(fmt: ResponseFormat | None) -> str | None:
    """Non-Anthropic clients' JSON modes become a system instruction (lossy: the model is not constrained)."""
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_schema" and fmt.schema is not None:
        schema = orjson.dumps(fmt.schema).decode()
        return f"Respond only with a JSON value that conforms to this JSON schema, with no other text: {schema}"
    return "Respond only with a single valid JSON object, with no other text."


def _sampling(body: dict[str, Any], req: Request, thinking_on: bool) -> None:
    if req.temperature is not None and (not thinking_on or req.temperature == 1):
        body["temperature"] = req.temperature  # thinking requires temperature 1
    if req.top_p is not None and (not thinking_on or req.top_p >= 0.95):
        body["top_p"] = req.top_p
    if thinking_on:
        body.pop("top_k", None)
    if req.stop:
        body["stop_sequences"] = list(req.stop)


def _metadata(req: Request, details: dict[str, Any] | None) -> dict[str, Any] | None:
    original = (details or {}).get("raw", {}).get("metadata")
    out = dict(original) if isinstance(original, dict) else {}
    if req.user is not None:
        out["user_id"] = req.user
    else:
        out.pop("user_id", None)
    return out or None


# ================================================================ non-streaming bodies


def decode_response(body: dict[str, Any]) -> Response:
    """An Anthropic Message -> neutral Response."""
    content = body.get("content")
    if not isinstance(content, list):
        raise _fail("content", "must be a list")
    parts: list[Part] = []
    for i, block in enumerate(content):
        if not isinstance(block, dict):
            raise _fail(f"content[{i}]", "must be an object")
        decoder = RESPONSE_BLOCKS.get(block.get("type", ""))
        parts.append(decoder(block, f"content[{i}]") if decoder else opaque_part(block))
    reason = body.get("stop_reason")
    finish = STOP_TO_FINISH.get(reason or "end_turn", "stop")
    usage = decode_usage(body.get("usage") or {})
    return Response(
        body.get("id", ""),
        body.get("model", ""),
        parts,
        finish,
        usage,
        stop_details(body) or {},
    )


def _response_block(part: Part) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        if part.provider_details and BLOCK in part.provider_details:
            return part.provider_details[BLOCK]  # type: ignore[no-any-return]  # a JSON value kept in provider_details, typed Any
        extra = (part.provider_details or {}).get("anthropic") or {}
        return {**extra, "type": "text", "text": part.text}
    if isinstance(part, ThinkingPart):
        if part.redacted_data is not None:
            return {"type": "redacted_thinking", "data": client_signature(part.redacted_data, part.origin, "anthropic")}
        return {
            "type": "thinking",
            "thinking": part.text,
            "signature": client_signature(part.signature, part.origin, "anthropic") or "",
        }
    if isinstance(part, ToolCallPart):
        return {
            "type": "tool_use",
            "id": part.id,
            "name": part.name,
            "input": tool_input(part.arguments),
        }
    return None  # images/documents cannot appear in an assistant message


def encode_response(resp: Response, model: str) -> dict[str, Any]:
    """Neutral -> an Anthropic Message body. Tool-call ids are kept as they are (no `toolu_` prefix)."""
    content = [b for b in map(_response_block, resp.content) if b is not None]
    body: dict[str, Any] = {
        "id": message_id(resp.id),
        "type": "message",
        "role": "assistant",
        "model": model,
    }
    body["content"] = content
    body.update(stop_fields(resp.finish_reason, resp.provider_details))
    body["usage"] = encode_usage(resp.usage)
    return body


# ================================================================ encode: the body


def encode_request(
    req: Request, model: str, *, default_max_tokens: int | None = None
) -> dict[str, Any]:
    """Neutral -> an Anthropic Messages body. An unchanged Anthropic request passes through as it came."""
    details = _from_anthropic(req)
    if details is not None and _unchanged(req, details):
        body = dict(details["raw"])
        body["model"] = model
        body.pop("detour", None)
        return body
    return _encode_body(req, model, details, default_max_tokens)


def _encode_body(
    req: Request, model: str, details: dict[str, Any] | None, default_max: int | None
) -> dict[str, Any]:
    body: dict[str, Any] = dict(req.extra) if details is not None else {}
    body.pop("detour", None)
    body["model"] = model
    head, rest = _split_system(req, inline_ok=details is not None)
    system = _encode_system(
        head, None if details is not None else _format_instruction(req.response_format)
    )
    if system is not None:
        body["system"] = system
    body["messages"] = _encode_turns(rest)
    _encode_generation(body, req, details, default_max)
    if req.tools or (details and details.get("server_tools")):
        body["tools"] = _encode_tools(req, details)
        if req.tool_choice is not None:
            body["tool_choice"] = _encode_tool_choice(req.tool_choice)
    if metadata := _metadata(req, details):
        body["metadata"] = metadata
    if req.stream or (details and "stream" in details["raw"]):
        body["stream"] = req.stream
    return body


def _encode_generation(
    body: dict[str, Any],
    req: Request,
    details: dict[str, Any] | None,
    default: int | None,
) -> None:
    max_tokens = req.max_tokens or default or DEFAULT_MAX_TOKENS
    thinking = _thinking_config(req, details)
    if thinking is not None:
        body["thinking"] = thinking
        budget = thinking.get("budget_tokens")
        if budget is not None and max_tokens <= budget:
            max_tokens += budget  # budget_tokens must stay below max_tokens; the answer keeps its allowance
    body["max_tokens"] = max_tokens
    _sampling(body, req, thinking is not None and thinking["type"] != "disabled")
    if details is not None and (config := _output_config(req, details)):
        body["output_config"] = config


def thinking_on(req: Request) -> bool:
    """Whether the body encode_request makes for ``req`` asks Anthropic to think."""
    config = _thinking_config(req, _from_anthropic(req))
    return config is not None and config.get("type") != "disabled"


def request_headers(req: Request) -> dict[str, str]:
    """Headers an Anthropic upstream needs for this request: the client's `anthropic-beta` list."""
    beta = req.provider_details.get("anthropic", {}).get("beta")
    return {"anthropic-beta": ",".join(beta)} if beta else {}


# ================================================================ the codec object

ANTHROPIC_VERSION = "2023-06-01"


def _betas(req: Request, *, keep_oauth: bool) -> list[str]:
    beta = [b for b in request_headers(req).get("anthropic-beta", "").split(",") if b.strip()]
    return beta if keep_oauth else [b for b in beta if not b.strip().startswith("oauth-")]


class AnthropicCodec(Codec):
    """Anthropic Messages (``POST /messages``), ``protocol: anthropic``."""

    name = "anthropic"
    image_types = IMAGE_MEDIA_TYPES
    default_max_tokens = DEFAULT_MAX_TOKENS
    decode_request = staticmethod(decode_request)
    decode_response = staticmethod(decode_response)
    stream_decoder = staticmethod(StreamDecoder)
    encode_error = staticmethod(encode_error)

    def path(self, model: str, *, stream: bool) -> str:
        return "/messages"

    def headers(self, secret: str, req: Request) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        beta = _betas(req, keep_oauth=False)  # the client's OAuth marker belongs to its own credential only
        if beta:
            headers["anthropic-beta"] = ",".join(beta)
        if secret:
            headers["x-api-key"] = secret
        return headers

    def client_headers(self, credential: Credential, req: Request) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        beta = list(dict.fromkeys([*_betas(req, keep_oauth=True), *credential.oauth_beta]))
        if beta:
            headers["anthropic-beta"] = ",".join(beta)
        if credential.scheme == "api-key":
            headers["x-api-key"] = credential.value
        else:
            headers["authorization"] = f"Bearer {credential.value}"
        return headers

    def image_urls(self, provider: str) -> bool:
        return True  # the `url` image source

    def prepare(self, req: Request, *, provider: str, model: str) -> Prepared:
        return history.prepare(req, self.name, "", thinking_on(req))  # thinking off for a foreign open tool loop

    def encode_request(self, req: Request, model: str, *, provider: str) -> dict[str, Any]:
        return encode_request(req, model)

    def encode_response(self, resp: Response, model: str, req: Request) -> dict[str, Any]:
        return encode_response(resp, model)

    def stream_encoder(self, req: Request) -> StreamEncoder:
        return StreamEncoder(req.model)  # Anthropic streams always carry usage


CODEC = AnthropicCodec()
