"""OpenAI Chat Completions codec: ``/v1/chat/completions`` bodies <-> the neutral model.

The same wire format serves every OpenAI-compatible upstream; ``flavor`` picks the dialect
(parameter names, supported fields), one data row each in ``FLAVORS``.

    decode_request   client body  -> Request    (original body kept for the pass-through fast path)
    encode_request   Request      -> upstream body
    decode_response  upstream body -> Response
    encode_response  Response     -> client body
    StreamDecoder / StreamEncoder / encode_error   (in openai_chat_stream, re-exported here)

Malformed client input raises ``ValueError`` whose message starts with the JSON path; the server answers 400.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from detour.protocol import history
from detour.protocol._codec import Codec
from detour.protocol._limits import MAX_TOOLS, is_base64, opt_bool, opt_dict, opt_int, opt_num
from detour.protocol.history import Prepared
from detour.protocol.messages import (
    DocumentPart,
    FinishReason,
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
    new_call_id,
)
from detour.protocol.openai_chat_stream import (
    StreamDecoder,
    StreamEncoder,
    decode_finish,
    decode_usage,
    encode_error,
    encode_usage,
    new_completion_id,
)

__all__ = [
    "FLAVORS",
    "Flavor",
    "StreamDecoder",
    "StreamEncoder",
    "decode_request",
    "decode_response",
    "encode_error",
    "encode_request",
    "encode_response",
]


@dataclass(frozen=True, slots=True)
class Flavor:
    """What one OpenAI-compatible dialect calls things and accepts."""

    max_tokens_field: str = "max_tokens"
    seed_field: str = "seed"
    stream_options: bool = True  # accepts stream_options.include_usage
    remote_images: bool = True  # accepts http(s) image URLs (else data: URLs only)
    developer_role: bool = False  # knows role "developer"
    reasoning_back: bool = False  # wants reasoning_content back on assistant turns that made tool calls
    user: bool = True
    metadata: bool = False


FLAVORS: dict[str, Flavor] = {
    "openai": Flavor("max_completion_tokens", developer_role=True, metadata=True),
    "deepseek": Flavor(reasoning_back=True),
    "groq": Flavor("max_completion_tokens"),
    "mistral": Flavor(seed_field="random_seed", stream_options=False, user=False),
    "ollama": Flavor(remote_images=False),
    "lmstudio": Flavor(remote_images=False),
    "openrouter": Flavor(),
    "xai": Flavor("max_completion_tokens"),
    "generic": Flavor(),
}

# top-level keys with a neutral meaning; everything else goes to Request.extra
_KNOWN = frozenset({
    "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "stop", "seed", "reasoning_effort", "response_format", "stream", "stream_options",
    "user", "metadata", "detour",
})  # fmt: skip
_EMPTY_PARAMS: dict[str, Any] = {"type": "object", "properties": {}}


# ================================================================ request: wire -> neutral


def decode_request(body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Request:
    """A client's Chat Completions body -> Request. ``headers`` are accepted for interface parity."""
    if not isinstance(body, dict):
        raise ValueError("body: expected a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("model: expected a non-empty string")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise ValueError("messages: expected a non-empty array")
    flags: dict[str, Any] = {"raw": body}  # flags record what a fast-path pass-through must not send blindly
    messages = [_decode_message(m, i, flags) for i, m in enumerate(raw_messages)]
    flags["decoded"] = messages  # the fast path applies only while the request still holds this very list
    req = Request(model=model, messages=messages, provider_details={"openai": flags})
    _decode_tools(body, req)
    _decode_params(body, req)
    req.extra = {k: v for k, v in body.items() if k not in _KNOWN}
    req.web_search = "web_search_options" in body  # the search-preview models' web search
    return req


def _decode_message(m: Any, i: int, flags: dict[str, Any]) -> Message:
    path = f"messages[{i}]"
    if not isinstance(m, dict):
        raise ValueError(f"{path}: expected an object")
    role = m.get("role")
    name = _opt_str(m, "name", path)
    if role == "user":
        return Message("user", _user_content(m.get("content"), path + ".content", flags), name)
    if role == "assistant":
        return Message("assistant", _assistant_parts(m, path, flags), name)
    if role == "system" or role == "developer":
        details = None
        if role == "developer":
            flags["developer"] = True
            details = {"openai": {"role": "developer"}}
        return Message("system", list[Part](_text_parts(m.get("content"), path + ".content")), name, details)
    if role == "tool":
        call_id = m.get("tool_call_id")
        if not isinstance(call_id, str):
            raise ValueError(f"{path}.tool_call_id: expected a string")
        result = ToolResultPart(call_id, list(_text_parts(m.get("content"), path + ".content")))
        return Message("tool", [result])
    raise ValueError(f"{path}.role: unsupported role {role!r}")


def _text_parts(content: Any, path: str) -> list[TextPart]:
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise ValueError(f"{path}: expected a string or an array of text parts")
    out: list[TextPart] = []
    for j, p in enumerate(content):
        if not isinstance(p, dict) or p.get("type") != "text" or not isinstance(p.get("text"), str):
            raise ValueError(f"{path}[{j}]: expected a text part {{'type': 'text', 'text': ...}}")
        out.append(TextPart(p["text"]))
    return out


def _user_content(content: Any, path: str, flags: dict[str, Any]) -> list[Part]:
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise ValueError(f"{path}: expected a string or an array of content parts")
    return [_user_part(p, f"{path}[{j}]", flags) for j, p in enumerate(content)]


def _user_part(p: Any, path: str, flags: dict[str, Any]) -> Part:
    kind = p.get("type") if isinstance(p, dict) else None
    if kind == "text":
        text = p.get("text")
        if not isinstance(text, str):
            raise ValueError(f"{path}.text: expected a string")
        return TextPart(text)
    if kind == "image_url":
        return _image_part(p.get("image_url"), path + ".image_url", flags)
    if kind == "file":
        return _file_part(p.get("file"), path + ".file")
    if kind == "input_audio":
        raise ValueError(f"{path}.input_audio: audio input is not supported")
    raise ValueError(f"{path}.type: unsupported content part type {kind!r}")


def _image_part(obj: Any, path: str, flags: dict[str, Any]) -> ImagePart:
    url = obj.get("url") if isinstance(obj, dict) else None
    if not isinstance(url, str):
        raise ValueError(f"{path}: expected an object with 'url'")
    detail = obj.get("detail")
    if url.startswith("data:"):
        media_type, data = _split_data_url(url, path + ".url")
        return ImagePart(data=data, media_type=media_type, detail=detail)
    if url.startswith(("https://", "http://")):
        flags["remote_image"] = True
        return ImagePart(url=url, detail=detail)
    raise ValueError(f"{path}.url: expected an http(s) URL or a base64 data: URL")


def _split_data_url(url: str, path: str) -> tuple[str, str]:
    head, sep, data = url.partition(",")
    if not sep or not head.endswith(";base64"):
        raise ValueError(f"{path}: expected a base64 data: URL (data:<type>;base64,<data>)")
    if not is_base64(data):
        raise ValueError(f"{path}: the data after 'base64,' is not valid base64")
    return head[5:-7] or "application/octet-stream", data


def _file_part(obj: Any, path: str) -> DocumentPart:
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected an object with 'file_data'")
    data = obj.get("file_data")
    if not isinstance(data, str):
        if "file_id" in obj:
            raise ValueError(f"{path}.file_id: uploaded file ids cannot be forwarded; send file_data instead")
        raise ValueError(f"{path}.file_data: expected a base64 string or data: URL")
    title = obj.get("filename")
    if data.startswith("data:"):
        media_type, b64 = _split_data_url(data, path + ".file_data")
        return DocumentPart(data=b64, media_type=media_type, title=title)
    return DocumentPart(data=data, title=title)


def _assistant_parts(m: dict[str, Any], path: str, flags: dict[str, Any]) -> list[Part]:
    parts: list[Part] = []
    reasoning = m.get("reasoning_content") or m.get("reasoning")  # DeepSeek / Ollama, OpenRouter
    if reasoning:
        if not isinstance(reasoning, str):
            raise ValueError(f"{path}.reasoning_content: expected a string")
        flags["reasoning"] = True
        parts.append(ThinkingPart(reasoning))
    content = m.get("content")
    if isinstance(content, str):
        if content:
            parts.append(TextPart(content))
    elif isinstance(content, list):
        parts += [_assistant_content_part(p, f"{path}.content[{j}]") for j, p in enumerate(content)]
    elif content is not None:
        raise ValueError(f"{path}.content: expected a string, an array of parts or null")
    refusal = m.get("refusal")
    if refusal:
        parts.append(_refusal_part(refusal))
    calls = m.get("tool_calls")
    if calls:
        if not isinstance(calls, list):
            raise ValueError(f"{path}.tool_calls: expected an array")
        parts += [_tool_call(tc, f"{path}.tool_calls[{j}]") for j, tc in enumerate(calls)]
    if m.get("function_call"):
        raise ValueError(f"{path}.function_call: deprecated function_call is not supported; use tool_calls")
    return parts


def _refusal_part(text: str) -> TextPart:
    return TextPart(text, provider_details={"openai": {"refusal": True}})


def _assistant_content_part(p: Any, path: str) -> TextPart:
    kind = p.get("type") if isinstance(p, dict) else None
    if kind == "text" and isinstance(p.get("text"), str):
        return TextPart(p["text"])
    if kind == "refusal" and isinstance(p.get("refusal"), str):
        return _refusal_part(p["refusal"])
    raise ValueError(f"{path}: expected a text or refusal part")


def _tool_call(tc: Any, path: str) -> ToolCallPart:
    if not isinstance(tc, dict) or tc.get("type", "function") != "function":
        raise ValueError(f"{path}.type: only function tool calls are supported")
    fn = tc.get("function")
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise ValueError(f"{path}.function: expected an object with 'name'")
    args = fn.get("arguments", "{}")
    if not isinstance(args, str):
        raise ValueError(f"{path}.function.arguments: expected a JSON string")
    call_id = tc.get("id")
    if not isinstance(call_id, str):
        raise ValueError(f"{path}.id: expected a string")
    return ToolCallPart(call_id, fn["name"], args)


def _decode_tools(body: dict[str, Any], req: Request) -> None:
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise ValueError("tools: expected an array")
        if len(tools) > MAX_TOOLS:
            raise ValueError(f"tools: at most {MAX_TOOLS} tools are accepted, got {len(tools)}")
        req.tools = [_decode_tool(t, f"tools[{i}]") for i, t in enumerate(tools)]
    choice, parallel = body.get("tool_choice"), body.get("parallel_tool_calls")
    if choice is not None or parallel is not None:
        if parallel is not None and not isinstance(parallel, bool):
            raise ValueError("parallel_tool_calls: expected a boolean")
        req.tool_choice = _decode_tool_choice(choice, parallel)


def _decode_tool(t: Any, path: str) -> Tool:
    if not isinstance(t, dict) or t.get("type") != "function":
        raise ValueError(f"{path}.type: only 'function' tools are supported")
    fn = t.get("function")
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise ValueError(f"{path}.function: expected an object with 'name'")
    params = fn.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise ValueError(f"{path}.function.parameters: expected a JSON Schema object")
    strict = fn.get("strict")
    details = {"strict": strict} if strict is not None else None
    return Tool(fn["name"], fn.get("description"), params if params is not None else dict(_EMPTY_PARAMS), details)


def _decode_tool_choice(choice: Any, parallel: bool | None) -> ToolChoice:
    if choice is None or choice == "auto":
        return ToolChoice("auto", None, parallel)
    if choice == "none" or choice == "required":
        return ToolChoice(choice, None, parallel)
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if isinstance(name, str):
            return ToolChoice("tool", name, parallel)
    raise ValueError("tool_choice: expected 'auto', 'none', 'required' or {'type': 'function', 'function': {'name'}}")


def _decode_params(body: dict[str, Any], req: Request) -> None:
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    for name in ("max_completion_tokens", "max_tokens"):  # both are checked, whichever wins
        value = opt_int(body, name)
        if value is not None and value < 1:
            raise ValueError(f"{name}: expected a positive integer")
    req.max_tokens = opt_int(body, key)
    req.temperature = opt_num(body, "temperature")
    req.top_p = opt_num(body, "top_p")
    req.stop = _decode_stop(body.get("stop"))
    req.seed = opt_int(body, "seed")
    req.reasoning_effort = _opt_str(body, "reasoning_effort", "")
    if body.get("response_format") is not None:
        req.response_format = _decode_response_format(body["response_format"])
    req.stream = opt_bool(body, "stream")
    options = opt_dict(body, "stream_options")
    req.include_usage = bool(options and options.get("include_usage"))
    req.user = _opt_str(body, "user", "")
    req.metadata = opt_dict(body, "metadata") or {}
    req.detour = opt_dict(body, "detour") or {}


def _decode_stop(stop: Any) -> list[str]:
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return list(stop)
    raise ValueError("stop: expected a string or an array of strings")


def _decode_response_format(rf: Any) -> ResponseFormat:
    kind = rf.get("type") if isinstance(rf, dict) else None
    if kind == "text" or kind == "json_object":
        return ResponseFormat(kind)
    if kind == "json_schema":
        js = rf.get("json_schema")
        if not isinstance(js, dict) or not isinstance(js.get("schema", {}), dict):
            raise ValueError("response_format.json_schema: expected an object with a 'schema' object")
        return ResponseFormat("json_schema", js.get("schema"), js.get("name"), js.get("strict"))
    raise ValueError("response_format.type: expected 'text', 'json_object' or 'json_schema'")


def _opt_str(obj: dict[str, Any], key: str, path: str) -> str | None:
    v = obj.get(key)
    if v is None or isinstance(v, str):
        return v
    raise ValueError(f"{path + '.' if path else ''}{key}: expected a string")


# ================================================================ request: neutral -> wire


def encode_request(req: Request, model: str, *, flavor: str = "openai") -> dict[str, Any]:
    """Request -> an upstream Chat Completions body in the given dialect."""
    fl = FLAVORS.get(flavor)
    if fl is None:
        raise ValueError(f"unknown OpenAI flavor {flavor!r}; expected one of {sorted(FLAVORS)}")
    od = req.provider_details.get("openai")
    body: dict[str, Any] = {"model": model}
    if od is not None:  # extras are OpenAI fields only when the client spoke OpenAI
        body.update(req.extra)
    raw = od.get("raw") if od else None
    if raw is not None and _fast_path_ok(req, raw, od, fl):  # type: ignore[arg-type]  # raw and the details are dicts here (checked above)
        body["messages"] = raw["messages"]  # reused as-is: no re-serialisation of content
        if req.tools:
            body["tools"] = raw["tools"]
    else:
        body["messages"] = _encode_messages(req.messages, fl)
        if req.tools:
            body["tools"] = [_encode_tool(t) for t in req.tools]
    _encode_params(body, req, fl)
    return body


def _fast_path_ok(req: Request, raw: dict[str, Any], od: dict[str, Any], fl: Flavor) -> bool:
    if len(req.messages) != len(raw["messages"]) or len(req.tools) != len(raw.get("tools") or ()):
        return False  # the router changed the conversation without clearing provider_details
    if od.get("decoded", req.messages) is not req.messages:
        return False  # history repair rewrote the conversation for this target
    if od.get("developer") and not fl.developer_role:
        return False
    if od.get("reasoning") and not fl.reasoning_back:
        return False
    return not (od.get("remote_image") and not fl.remote_images)


def _encode_params(body: dict[str, Any], req: Request, fl: Flavor) -> None:
    if req.max_tokens is not None:
        body[fl.max_tokens_field] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.stop:
        body["stop"] = list(req.stop)
    if req.seed is not None:
        body[fl.seed_field] = req.seed
    if req.reasoning_effort is not None:
        body["reasoning_effort"] = req.reasoning_effort
    if req.response_format is not None:
        body["response_format"] = _encode_response_format(req.response_format)
    if req.tools and req.tool_choice is not None:  # tool_choice without tools is a 400 upstream
        _encode_tool_choice(body, req.tool_choice)
    if req.stream:
        body["stream"] = True
        if fl.stream_options:  # always ask for usage: the gateway needs it even if the client did not
            body["stream_options"] = {"include_usage": True}
    if req.user is not None and fl.user:
        body["user"] = req.user
    if req.metadata and fl.metadata:
        body["metadata"] = req.metadata


def _encode_tool_choice(body: dict[str, Any], tc: ToolChoice) -> None:
    if tc.mode == "tool":
        body["tool_choice"] = {"type": "function", "function": {"name": tc.name}}
    else:
        body["tool_choice"] = tc.mode
    if tc.parallel is not None:
        body["parallel_tool_calls"] = tc.parallel


def _encode_response_format(rf: ResponseFormat) -> dict[str, Any]:
    if rf.type != "json_schema":
        return {"type": rf.type}
    js: dict[str, Any] = {"name": _schema_name(rf.name), "schema": rf.schema or {}}
    if rf.strict is not None:
        js["strict"] = rf.strict
    return {"type": "json_schema", "json_schema": js}


def _schema_name(name: str | None) -> str:
    """The client's schema name (or title) in the form OpenAI accepts (``^[a-zA-Z0-9_-]{1,64}$``), else "response"."""
    safe = re.sub(r"[^a-zA-Z0-9_-]+", "_", name or "").strip("_")[:64]
    return safe or "response"


def _encode_tool(t: Tool) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": t.name}
    if t.description is not None:
        fn["description"] = t.description
    fn["parameters"] = t.parameters
    strict = t.provider_details.get("strict") if t.provider_details else None
    if strict is not None:
        fn["strict"] = strict
    return {"type": "function", "function": fn}


def _encode_messages(messages: list[Message], fl: Flavor) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    deferred: list[dict[str, Any]] = []  # tool-result images: OpenAI tool messages hold text only
    for i, m in enumerate(messages):
        role = m.role
        if role == "tool" or (role == "user" and any(p.kind == "tool_result" for p in m.content)):
            _encode_results(m, i, fl, out, deferred)
            rest: list[Part] = [p for p in m.content if p.kind != "tool_result"]
            if not rest:
                continue
            m = Message("user", rest, m.name)
        if deferred:
            out.append({"role": "user", "content": deferred})
            deferred = []
        if role == "assistant":
            out.append(_encode_assistant(m, fl))
        elif role == "system":
            out.append(_encode_system(m, fl))
        else:
            out.append(_encode_user(m, i, fl))
    if deferred:
        out.append({"role": "user", "content": deferred})
    return out


def _encode_results(m: Message, i: int, fl: Flavor, out: list[dict[str, Any]], deferred: list[dict[str, Any]]) -> None:
    for p in m.content:
        if isinstance(p, ToolResultPart):
            texts = [c for c in p.content if isinstance(c, TextPart)]
            deferred += [_encode_image(c, i, fl) for c in p.content if isinstance(c, ImagePart)]
            out.append({"role": "tool", "tool_call_id": p.tool_call_id, "content": _text_value(texts)})


def _text_value(texts: list[TextPart]) -> str | list[dict[str, Any]]:
    if len(texts) == 1:
        return texts[0].text
    return [{"type": "text", "text": t.text} for t in texts] if texts else ""


def _encode_system(m: Message, fl: Flavor) -> dict[str, Any]:
    od = m.provider_details.get("openai") if m.provider_details else None
    role = "developer" if fl.developer_role and od and od.get("role") == "developer" else "system"
    msg: dict[str, Any] = {"role": role, "content": _text_value([p for p in m.content if isinstance(p, TextPart)])}
    if m.name:
        msg["name"] = m.name
    return msg


def _encode_user(m: Message, i: int, fl: Flavor) -> dict[str, Any]:
    parts = m.content
    content: Any
    if len(parts) == 1 and isinstance(parts[0], TextPart):
        content = parts[0].text
    else:
        content = [w for w in (_encode_user_part(p, i, fl) for p in parts) if w is not None] or ""
    msg: dict[str, Any] = {"role": "user", "content": content}
    if m.name:
        msg["name"] = m.name
    return msg


def _encode_user_part(p: Part, i: int, fl: Flavor) -> dict[str, Any] | None:
    if isinstance(p, TextPart):
        return {"type": "text", "text": p.text}
    if isinstance(p, ImagePart):
        return _encode_image(p, i, fl)
    if isinstance(p, DocumentPart):
        return _encode_document(p, i)
    return None  # tool calls / thinking have no place in a user turn


def _encode_image(p: ImagePart, i: int, fl: Flavor) -> dict[str, Any]:
    if p.data is not None:
        url = f"data:{p.media_type or 'image/png'};base64,{p.data}"
    elif p.url and fl.remote_images:
        url = p.url
    elif p.url:
        raise ValueError(f"messages[{i}]: this upstream accepts only data: image URLs, got {p.url[:80]!r}")
    else:
        raise ValueError(f"messages[{i}]: image has neither data nor url")
    image: dict[str, Any] = {"url": url}
    if p.detail:
        image["detail"] = p.detail
    return {"type": "image_url", "image_url": image}


def _encode_document(p: DocumentPart, i: int) -> dict[str, Any]:
    if p.data is None:
        raise ValueError(f"messages[{i}]: a document URL cannot be sent over OpenAI chat; inline its data")
    file = {"file_data": f"data:{p.media_type};base64,{p.data}", "filename": p.title or "document.pdf"}
    return {"type": "file", "file": file}


def _split_assistant(parts: list[Part]) -> tuple[list[str], list[str], list[str], list[dict[str, Any]]]:
    """An assistant turn's texts, refusals, reasoning texts and wire tool calls."""
    texts: list[str] = []
    refusals: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, TextPart):
            (refusals if _is_refusal(p) else texts).append(p.text)
        elif isinstance(p, ToolCallPart):
            calls.append({"id": p.id, "type": "function", "function": {"name": p.name, "arguments": p.arguments}})
        elif isinstance(p, ThinkingPart) and p.text:
            thinking.append(p.text)
    return texts, refusals, thinking, calls


def _encode_assistant(m: Message, fl: Flavor) -> dict[str, Any]:
    texts, refusals, thinking, calls = _split_assistant(m.content)
    msg: dict[str, Any] = {"role": "assistant", "content": _assistant_content(texts, bool(calls or refusals))}
    if calls:
        msg["tool_calls"] = calls
        if thinking and fl.reasoning_back:
            msg["reasoning_content"] = "".join(thinking)
    if refusals:
        msg["refusal"] = "".join(refusals)
    if m.name:
        msg["name"] = m.name
    return msg


def _assistant_content(texts: list[str], has_other: bool) -> Any:
    if len(texts) == 1:
        return texts[0]
    if texts:
        return [{"type": "text", "text": t} for t in texts]
    return None if has_other else ""


def _is_refusal(p: TextPart) -> bool:
    od = p.provider_details.get("openai") if p.provider_details else None
    return bool(od and od.get("refusal"))


# ================================================================ responses


def decode_response(body: dict[str, Any]) -> Response:
    """An upstream chat.completion -> Response (first choice only)."""
    if not isinstance(body, dict):
        raise ValueError("body: expected a JSON object")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        if body.get("error"):
            raise ValueError(f"error: upstream answered with an error body: {str(body['error'])[:200]}")
        raise ValueError("choices: expected a non-empty array")
    choice = choices[0]
    msg = choice.get("message") or {}
    reason, details = decode_finish(choice.get("finish_reason"))
    content = _response_parts(msg)
    refusal = msg.get("refusal")
    if refusal:
        content.append(_refusal_part(refusal))
        details = {**(details or {}), "refusal": refusal}
        reason = "content_filter" if reason == "stop" else reason
    usage = decode_usage(body.get("usage") or {})
    return Response(str(body.get("id") or ""), str(body.get("model") or ""), content, reason, usage, details or {})


def _response_parts(msg: dict[str, Any]) -> list[Part]:
    parts: list[Part] = []
    reasoning = msg.get("reasoning_content") or msg.get("reasoning")  # DeepSeek / Ollama, Groq
    if isinstance(reasoning, str) and reasoning:
        parts.append(ThinkingPart(reasoning))
    content = msg.get("content")
    if isinstance(content, str) and content:
        parts.append(TextPart(content))
    elif isinstance(content, list):  # some compatible servers return text parts here
        parts += [TextPart(p["text"]) for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
    calls = msg.get("tool_calls")
    for tc in calls or ():
        fn = tc.get("function") or {}
        parts.append(ToolCallPart(tc.get("id") or new_call_id(), fn.get("name") or "", fn.get("arguments") or "{}"))
    fc = msg.get("function_call")
    if fc and not calls:  # llama.cpp-style servers send both for one call: the legacy field is a copy
        parts.append(ToolCallPart(new_call_id(), fc.get("name") or "", fc.get("arguments") or "{}"))
    return parts


def encode_response(resp: Response, model: str) -> dict[str, Any]:
    """Response -> a chat.completion for an OpenAI client."""
    if resp.finish_reason == "error":
        raise ValueError("finish_reason: a Response that ended in an error must be sent with encode_error")
    texts, refusals, thinking, calls = _split_assistant(resp.content)
    refusal = "".join(refusals) or resp.provider_details.get("refusal") or None
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts else (None if calls or refusal else ""),
        "refusal": refusal,
    }
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    finish: FinishReason = "tool_calls" if calls and resp.finish_reason == "stop" else resp.finish_reason
    return {
        "id": new_completion_id(resp.id),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": encode_usage(resp.usage),
    }


# ================================================================ the codec object


def flavor_for(provider: str) -> str:
    """The dialect a provider id speaks: its own row in ``FLAVORS``, else ``generic``."""
    return provider if provider in FLAVORS else "generic"


class OpenAIChatCodec(Codec):
    """Chat Completions (``POST /chat/completions``) in every flavour, ``protocol: openai``."""

    name = "openai"
    decode_request = staticmethod(decode_request)
    decode_response = staticmethod(decode_response)
    stream_decoder = staticmethod(StreamDecoder)
    encode_error = staticmethod(encode_error)

    def path(self, model: str, *, stream: bool) -> str:
        return "/chat/completions"

    def headers(self, secret: str, req: Request) -> dict[str, str]:
        return {"authorization": f"Bearer {secret}"} if secret else {}

    def image_urls(self, provider: str) -> bool:
        return FLAVORS[flavor_for(provider)].remote_images

    def prepare(self, req: Request, *, provider: str, model: str) -> Prepared:
        return history.prepare(req, self.name, flavor_for(provider))  # tool-call ids per flavour (Mistral)

    def encode_request(self, req: Request, model: str, *, provider: str) -> dict[str, Any]:
        return encode_request(req, model, flavor=flavor_for(provider))

    def encode_response(self, resp: Response, model: str, req: Request) -> dict[str, Any]:
        return encode_response(resp, model)

    def stream_encoder(self, req: Request) -> StreamEncoder:
        return StreamEncoder(req.model, include_usage=req.include_usage)


CODEC = OpenAIChatCodec()
