"""OpenAI Responses API codec: ``/v1/responses`` bodies <-> the neutral model.

    decode_request   client body      -> Request    (original body kept for the Responses pass-through)
    encode_request   Request          -> upstream body for ``{baseURL}/responses``
    decode_response  upstream body    -> Response
    encode_response  Response         -> client body (a ``response`` object)
    StreamDecoder / StreamEncoder / encode_error   (in openai_responses_stream, re-exported here)

detour is stateless: ``previous_response_id``, ``conversation``, stored ``prompt`` templates and
``background`` runs need OpenAI's storage and are refused with a 400 that says to send the full input.
``store`` is accepted and ignored (nothing is stored; Codex sends ``store: false``).

Reasoning items keep their ``encrypted_content`` as opaque provider detail (``provider_details[PD]``) that
only this codec sends back. Reasoning made by another protocol (an Anthropic signature, a Gemini
thought signature) goes to the client as ``encrypted_content`` in detour's own envelope (``ENVELOPE``
prefix), so it returns on the next turn and is restored for the provider that made it.

Built-in tools only OpenAI runs (``web_search``, ``file_search``, ``code_interpreter``, computer use...)
are kept in ``provider_details[PD]["builtin"]``; a request that *forces* one (``tool_choice``) needs an
OpenAI Responses target, otherwise they are offered only where this codec is the upstream.

Malformed client input raises ``ValueError`` whose message starts with the JSON path; the server answers 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from detour.protocol._codec import Codec
from detour.protocol._limits import MAX_TOOLS, is_base64, opt_bool, opt_dict, opt_int, opt_num
from detour.protocol.messages import (
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
from detour.protocol.openai_responses_stream import (
    ENVELOPE,
    PD,
    StreamDecoder,
    StreamEncoder,
    decode_finish,
    decode_item,
    decode_reasoning,
    decode_usage,
    encode_error,
    encode_format,
    encode_usage,
    namespaces_of,
    new_response_id,
    output_items,
    response_object,
    wants_encrypted,
)

__all__ = [
    "BUILTIN_TOOLS",
    "ENVELOPE",
    "PD",
    "StreamDecoder",
    "StreamEncoder",
    "decode_request",
    "decode_response",
    "decode_usage",
    "encode_error",
    "encode_request",
    "encode_response",
    "encode_usage",
]

BUILTIN_TOOLS = frozenset({
    "web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11",
    "file_search", "code_interpreter", "computer", "computer_use", "computer_use_preview", "image_generation",
    "mcp", "local_shell", "shell", "apply_patch", "custom", "tool_search",
})  # fmt: skip
# output items of OpenAI-run tools: history only a Responses upstream can read; dropped for other targets
_HOSTED_ITEMS = frozenset({
    "web_search_call", "file_search_call", "code_interpreter_call", "computer_call", "computer_call_output",
    "image_generation_call", "mcp_call", "mcp_list_tools", "mcp_approval_request", "mcp_approval_response",
    "local_shell_call", "local_shell_call_output", "shell_call", "shell_call_output", "apply_patch_call",
    "apply_patch_call_output", "custom_tool_call", "custom_tool_call_output", "tool_search_call",
    "tool_search_output", "compaction", "item_reference",
})  # fmt: skip
_STATEFUL = {
    "previous_response_id": "previous_response_id",
    "conversation": "conversation",
    "prompt": "prompt (a stored prompt template)",
}
_KNOWN = frozenset({
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "reasoning", "text",
    "max_output_tokens", "temperature", "top_p", "stream", "stream_options", "metadata", "user", "store",
    "include", "prompt_cache_key", "detour", "background", "safety_identifier",
})  # fmt: skip
_EMPTY_PARAMS: dict[str, Any] = {"type": "object", "properties": {}}
_STATELESS = ("detour is a stateless gateway and keeps no responses or conversations; "
              "send the whole conversation in `input` (with `store: false`) instead")


# ================================================================ request: wire -> neutral


def decode_request(body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Request:
    """A client's Responses body -> Request. ``headers`` are accepted for interface parity."""
    if not isinstance(body, dict):
        raise ValueError("body: expected a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError("model: expected a non-empty string")
    for key, what in _STATEFUL.items():
        if body.get(key) is not None:
            raise ValueError(f"{key}: {what} is not supported: {_STATELESS}")
    if body.get("background") is True:
        raise ValueError(f"background: background responses need stored state: {_STATELESS}, with background false")
    pd: dict[str, Any] = {"raw": body}
    messages: list[Message] = []
    instructions = body.get("instructions")
    if instructions is not None:
        if not isinstance(instructions, str):
            raise ValueError("instructions: expected a string")
        if instructions:
            messages.append(Message("system", [TextPart(instructions)]))
    messages += _decode_input(body.get("input"), pd)
    if not messages:
        raise ValueError("input: expected a non-empty string or array of input items")
    req = Request(model=model, messages=messages, provider_details={PD: pd})
    _decode_tools(body, req, pd)
    pd["shape"] = (len(req.messages), len(req.tools))  # what the fast path checks the router left alone
    req.hosted_tool = pd.get("forced_builtin")  # only OpenAI runs it: the request needs a Responses upstream
    _decode_params(body, req, pd)
    req.extra = {k: v for k, v in body.items() if k not in _KNOWN}
    return req


def _decode_input(raw: Any, pd: dict[str, Any]) -> list[Message]:
    if isinstance(raw, str):
        return [Message("user", [TextPart(raw)])] if raw else []
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError("input: expected a string or an array of input items")
    out: list[Message] = []
    for i, item in enumerate(raw):
        path = f"input[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{path}: expected an object")
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            _add(out, _decode_message(item, path))
        elif kind == "function_call":
            _add_assistant(out, _decode_call(item, path))
        elif kind == "function_call_output":
            out.append(Message("tool", [_decode_output(item, path)]))
        elif kind == "reasoning":
            part = decode_reasoning(item, path)
            if PD not in (part.provider_details or {}):
                pd["foreign_reasoning"] = True
            _add_assistant(out, part)
        elif kind in _HOSTED_ITEMS:
            pd["hosted_items"] = True  # kept in the raw body for a Responses upstream only
        else:
            raise ValueError(f"{path}.type: unsupported input item type {kind!r}; expected message, function_call, "
                             "function_call_output or reasoning")
    return out


def _add(out: list[Message], msg: Message) -> None:
    if msg.role == "assistant":
        for part in msg.content:
            _add_assistant(out, part)
    else:
        out.append(msg)


def _add_assistant(out: list[Message], part: Part) -> None:
    """Consecutive assistant items (reasoning, text, calls) are one assistant turn."""
    if out and out[-1].role == "assistant":
        out[-1].content.append(part)
    else:
        out.append(Message("assistant", [part]))


def _decode_message(item: dict[str, Any], path: str) -> Message:
    role = item.get("role")
    content = item.get("content")
    if role == "assistant":
        return Message("assistant", list[Part](_assistant_parts(content, path + ".content")))
    if role in ("system", "developer"):
        details = {"openai": {"role": "developer"}} if role == "developer" else None
        texts = [p for p in _user_parts(content, path + ".content") if isinstance(p, TextPart)]
        return Message("system", list[Part](texts), None, details)
    if role == "user":
        return Message("user", _user_parts(content, path + ".content"))
    raise ValueError(f"{path}.role: unsupported role {role!r}; expected user, assistant, system or developer")


def _user_parts(content: Any, path: str) -> list[Part]:
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise ValueError(f"{path}: expected a string or an array of content parts")
    return [_user_part(p, f"{path}[{j}]") for j, p in enumerate(content)]


def _user_part(p: Any, path: str) -> Part:
    kind = p.get("type") if isinstance(p, dict) else None
    if kind in ("input_text", "output_text", "text"):
        text = p.get("text")
        if not isinstance(text, str):
            raise ValueError(f"{path}.text: expected a string")
        return TextPart(text)
    if kind == "input_image":
        return _image(p, path)
    if kind == "input_file":
        return _file(p, path)
    raise ValueError(f"{path}.type: unsupported content part type {kind!r}; expected input_text, input_image "
                     "or input_file")


def _image(p: dict[str, Any], path: str) -> ImagePart:
    url = p.get("image_url")
    detail = p.get("detail")
    if detail is not None and not isinstance(detail, str):
        raise ValueError(f"{path}.detail: expected 'low', 'high' or 'auto'")
    if not isinstance(url, str):
        if p.get("file_id") is not None:
            raise ValueError(f"{path}.file_id: uploaded file ids cannot be forwarded; send image_url as a data: URL")
        raise ValueError(f"{path}.image_url: expected an http(s) URL or a base64 data: URL")
    if url.startswith("data:"):
        media_type, data = _split_data_url(url, path + ".image_url")
        return ImagePart(data=data, media_type=media_type, detail=detail)
    if url.startswith(("https://", "http://")):
        return ImagePart(url=url, detail=detail)
    raise ValueError(f"{path}.image_url: expected an http(s) URL or a base64 data: URL")


def _file(p: dict[str, Any], path: str) -> DocumentPart:
    data = p.get("file_data")
    title = p.get("filename")
    if isinstance(data, str):
        if data.startswith("data:"):
            media_type, b64 = _split_data_url(data, path + ".file_data")
            return DocumentPart(data=b64, media_type=media_type, title=title)
        return DocumentPart(data=data, title=title)
    url = p.get("file_url")
    if isinstance(url, str):
        return DocumentPart(url=url, title=title)
    if p.get("file_id") is not None:
        raise ValueError(f"{path}.file_id: uploaded file ids cannot be forwarded; send file_data instead")
    raise ValueError(f"{path}.file_data: expected a base64 string or data: URL")


def _split_data_url(url: str, path: str) -> tuple[str, str]:
    head, sep, data = url.partition(",")
    if not sep or not head.endswith(";base64"):
        raise ValueError(f"{path}: expected a base64 data: URL (data:<type>;base64,<data>)")
    if not is_base64(data):
        raise ValueError(f"{path}: the data after 'base64,' is not valid base64")
    return head[5:-7] or "application/octet-stream", data


def _assistant_parts(content: Any, path: str) -> list[TextPart]:
    if isinstance(content, str):
        return [TextPart(content)] if content else []
    if not isinstance(content, list):
        raise ValueError(f"{path}: expected a string or an array of output_text parts")
    out: list[TextPart] = []
    for j, p in enumerate(content):
        kind = p.get("type") if isinstance(p, dict) else None
        if kind in ("output_text", "input_text", "text") and isinstance(p.get("text"), str):
            out.append(TextPart(p["text"]))
        elif kind == "refusal" and isinstance(p.get("refusal"), str):
            out.append(TextPart(p["refusal"], provider_details={"openai": {"refusal": True}}))
        else:
            raise ValueError(f"{path}[{j}]: expected an output_text or refusal part")
    return out


def _decode_call(item: dict[str, Any], path: str) -> ToolCallPart:
    call_id, name, args = item.get("call_id"), item.get("name"), item.get("arguments", "{}")
    if not isinstance(call_id, str) or not call_id:
        raise ValueError(f"{path}.call_id: expected a non-empty string")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{path}.name: expected a non-empty string")
    if not isinstance(args, str):
        raise ValueError(f"{path}.arguments: expected a JSON string")
    extra = {k: item[k] for k in ("id", "namespace") if isinstance(item.get(k), str)}
    return ToolCallPart(call_id, name, args or "{}", {PD: extra} if extra else None)


def _decode_output(item: dict[str, Any], path: str) -> ToolResultPart:
    call_id = item.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise ValueError(f"{path}.call_id: expected a non-empty string")
    output = item.get("output")
    if isinstance(output, str):
        return ToolResultPart(call_id, [TextPart(output)])
    if isinstance(output, list):
        content: list[TextPart | ImagePart] = []
        for j, p in enumerate(output):
            part = _user_part(p, f"{path}.output[{j}]")
            if not isinstance(part, (TextPart, ImagePart)):
                raise ValueError(f"{path}.output[{j}]: a function output holds text and images only")
            content.append(part)
        return ToolResultPart(call_id, content)
    raise ValueError(f"{path}.output: expected a string or an array of input_text/input_image parts")


def _decode_tools(body: dict[str, Any], req: Request, pd: dict[str, Any]) -> None:
    tools = body.get("tools")
    builtin: list[str] = []
    if tools is not None:
        if not isinstance(tools, list):
            raise ValueError("tools: expected an array")
        if len(tools) > MAX_TOOLS:
            raise ValueError(f"tools: at most {MAX_TOOLS} tools are accepted, got {len(tools)}")
        for i, t in enumerate(tools):
            _decode_tool(t, f"tools[{i}]", req.tools, builtin, None)
    if builtin:
        pd["builtin"] = builtin
    choice, parallel = body.get("tool_choice"), body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise ValueError("parallel_tool_calls: expected a boolean")
    if choice is not None or parallel is not None:
        req.tool_choice = _decode_tool_choice(choice, parallel, pd)


def _decode_tool(t: Any, path: str, out: list[Tool], builtin: list[str], namespace: str | None) -> None:
    kind = t.get("type") if isinstance(t, dict) else None
    if kind == "function":
        name = t.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{path}.name: expected a non-empty string (Responses tools are flat: "
                             "{'type': 'function', 'name': ..., 'parameters': {...}})")
        params = t.get("parameters")
        if params is not None and not isinstance(params, dict):
            raise ValueError(f"{path}.parameters: expected a JSON Schema object")
        details: dict[str, Any] = {}
        if t.get("strict") is not None:
            details["strict"] = t["strict"]
        if namespace:
            details[PD] = {"namespace": namespace}
        out.append(Tool(name, t.get("description"), params if params is not None else dict(_EMPTY_PARAMS), details or None))
    elif kind == "namespace":  # Codex groups tools; each inner function is offered flat, calls name the namespace
        inner = t.get("tools")
        if not isinstance(inner, list):
            raise ValueError(f"{path}.tools: expected an array of function tools")
        for j, sub in enumerate(inner):
            _decode_tool(sub, f"{path}.tools[{j}]", out, builtin, str(t.get("name") or ""))
    elif isinstance(kind, str) and (kind in BUILTIN_TOOLS or kind.startswith(("web_search", "computer"))):
        builtin.append(kind)
    else:
        raise ValueError(f"{path}.type: unsupported tool type {kind!r}; expected function or an OpenAI built-in tool")


def _decode_tool_choice(choice: Any, parallel: bool | None, pd: dict[str, Any]) -> ToolChoice:
    if choice is None or choice == "auto":
        return ToolChoice("auto", None, parallel)
    if choice in ("none", "required"):
        return ToolChoice(choice, None, parallel)
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "function" and isinstance(choice.get("name"), str):
        return ToolChoice("tool", choice["name"], parallel)
    if kind == "allowed_tools":
        mode = choice.get("mode", "auto")
        return ToolChoice("required" if mode == "required" else "auto", None, parallel)
    if isinstance(kind, str) and (kind in BUILTIN_TOOLS or kind.startswith(("web_search", "computer"))):
        pd["forced_builtin"] = kind
        return ToolChoice("required", None, parallel)
    raise ValueError("tool_choice: expected 'auto', 'none', 'required', {'type': 'function', 'name': ...} "
                     "or a built-in tool type")


def _decode_params(body: dict[str, Any], req: Request, pd: dict[str, Any]) -> None:
    req.max_tokens = opt_int(body, "max_output_tokens")
    if req.max_tokens is not None and req.max_tokens < 1:
        raise ValueError("max_output_tokens: expected a positive integer")
    req.temperature = opt_num(body, "temperature")
    req.top_p = opt_num(body, "top_p")
    reasoning = opt_dict(body, "reasoning")
    if reasoning:
        effort = reasoning.get("effort")
        if effort is not None and not isinstance(effort, str):
            raise ValueError("reasoning.effort: expected a string such as 'low', 'medium' or 'high'")
        req.reasoning_effort = effort
        summary = reasoning.get("summary")
        if summary is not None:
            pd["summary"] = summary
    text = opt_dict(body, "text")
    fmt = text.get("format") if text else None
    if fmt is not None:
        req.response_format = _decode_format(fmt)
    req.stream = opt_bool(body, "stream")
    req.include_usage = req.stream
    user = body.get("user") if body.get("user") is not None else body.get("safety_identifier")
    if user is not None and not isinstance(user, str):
        raise ValueError("user: expected a string")
    req.user = user
    req.metadata = opt_dict(body, "metadata") or {}
    include = body.get("include")
    if include is not None:
        if not isinstance(include, list) or not all(isinstance(x, str) for x in include):
            raise ValueError("include: expected an array of strings")
        pd["include"] = list(include)
    key = body.get("prompt_cache_key")
    if key is not None and not isinstance(key, str):
        raise ValueError("prompt_cache_key: expected a string")
    req.detour = dict(opt_dict(body, "detour") or {})
    if key:
        req.detour.setdefault("session", key)  # the client's own session key: keeps a conversation on one model


def _decode_format(fmt: Any) -> ResponseFormat:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind in ("text", "json_object"):
        return ResponseFormat(kind)
    if kind == "json_schema":
        schema = fmt.get("schema")
        if not isinstance(schema, dict):
            raise ValueError("text.format.schema: expected a JSON Schema object")
        name = fmt.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("text.format.name: expected a non-empty string")
        return ResponseFormat("json_schema", schema, name, fmt.get("strict"))
    raise ValueError("text.format.type: expected 'text', 'json_object' or 'json_schema'")


# ================================================================ request: neutral -> wire


def encode_request(req: Request, model: str) -> dict[str, Any]:
    """Request -> an upstream Responses body (stateless: ``store`` false)."""
    pd = req.provider_details.get(PD)
    raw = pd.get("raw") if pd else None
    if raw is not None and _fast_path_ok(req, pd):  # type: ignore[arg-type]  # the details are a dict here (checked above)
        body = dict(raw)
        body["model"] = model
        body["store"] = False
        body.pop("detour", None)
        if req.stream:
            body["stream"] = True
        else:
            body.pop("stream", None)
        return body
    body = {"model": model, "input": _encode_input(req.messages), "store": False}
    instructions = "\n\n".join(p.text for m in req.messages if m.role == "system" and not _is_developer(m)
                               for p in m.content if isinstance(p, TextPart))
    if instructions:
        body["instructions"] = instructions
    if req.tools:
        body["tools"] = [_encode_tool(t) for t in req.tools]
        if req.tool_choice is not None:
            _encode_tool_choice(body, req.tool_choice)
    if req.max_tokens is not None:
        body["max_output_tokens"] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.reasoning_effort is not None:
        body["reasoning"] = {"effort": req.reasoning_effort, "summary": "auto"}
        body["include"] = ["reasoning.encrypted_content"]  # stateless reasoning continues only this way
    if req.response_format is not None and req.response_format.type != "text":
        body["text"] = {"format": encode_format(req.response_format)}
    if req.user is not None:
        body["safety_identifier"] = req.user
    if req.metadata:
        body["metadata"] = {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in req.metadata.items()}
    if req.stream:
        body["stream"] = True
    return body


def _fast_path_ok(req: Request, pd: dict[str, Any]) -> bool:
    """The client spoke Responses and the router changed nothing: send its body (built-in tools and all).

    Not when the input holds reasoning another provider made (detour's envelope): OpenAI would refuse it."""
    return not pd.get("foreign_reasoning") and pd.get("shape") == (len(req.messages), len(req.tools))


def _is_developer(m: Message) -> bool:
    od = m.provider_details.get("openai") if m.provider_details else None
    return bool(od and od.get("role") == "developer")


def _encode_input(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            if _is_developer(m):
                out.append({"type": "message", "role": "developer", "content": _input_parts(m.content)})
            continue
        if m.role == "assistant":
            _encode_assistant(m, out)
            continue
        rest: list[Part] = []
        for p in m.content:
            if isinstance(p, ToolResultPart):
                out.append(_encode_result(p))
            else:
                rest.append(p)
        if rest:
            out.append({"type": "message", "role": "user", "content": _input_parts(rest)})
    return out


def _input_parts(parts: list[Part]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, TextPart):
            out.append({"type": "input_text", "text": p.text})
        elif isinstance(p, ImagePart):
            out.append(_encode_image(p))
        elif isinstance(p, DocumentPart):
            out.append(_encode_file(p))
    return out


def _encode_image(p: ImagePart) -> dict[str, Any]:
    if p.data is not None:
        url = f"data:{p.media_type or 'image/png'};base64,{p.data}"
    elif p.url:
        url = p.url
    else:
        raise ValueError("image has neither data nor url")
    return {"type": "input_image", "image_url": url, "detail": p.detail or "auto"}


def _encode_file(p: DocumentPart) -> dict[str, Any]:
    if p.data is not None:
        return {"type": "input_file", "filename": p.title or "document.pdf",
                "file_data": f"data:{p.media_type};base64,{p.data}"}
    return {"type": "input_file", "file_url": p.url}


def _encode_result(p: ToolResultPart) -> dict[str, Any]:
    if all(isinstance(c, TextPart) for c in p.content):
        output: Any = "".join(c.text for c in p.content if isinstance(c, TextPart))
    else:
        output = _input_parts(list[Part](p.content))
    if p.is_error and isinstance(output, str):
        output = output or "error"
    return {"type": "function_call_output", "call_id": p.tool_call_id, "output": output}


def _encode_assistant(m: Message, out: list[dict[str, Any]]) -> None:
    """Assistant text as an easy input message (the SDK's typed output message needs ids the model never made)."""
    texts: list[str] = []
    for p in m.content:
        if isinstance(p, TextPart):
            texts.append(p.text)
            continue
        if texts:
            out.append({"type": "message", "role": "assistant", "content": "".join(texts)})
            texts = []
        if isinstance(p, ToolCallPart):
            out.append({"type": "function_call", "call_id": p.id, "name": p.name, "arguments": p.arguments})
        elif isinstance(p, ThinkingPart):
            item = reasoning_input(p)
            if item is not None:
                out.append(item)
    if texts:
        out.append({"type": "message", "role": "assistant", "content": "".join(texts)})


def reasoning_input(p: ThinkingPart) -> dict[str, Any] | None:
    """A reasoning item only for reasoning OpenAI made (its encrypted_content); other reasoning is not sent."""
    detail = (p.provider_details or {}).get(PD)
    if not detail or not detail.get("encrypted_content"):
        return None
    summary = [{"type": "summary_text", "text": t} for t in detail.get("summary") or ()]
    item: dict[str, Any] = {"type": "reasoning", "summary": summary, "encrypted_content": detail["encrypted_content"]}
    if detail.get("id"):
        item["id"] = detail["id"]
    return item


def _encode_tool(t: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "function", "name": t.name, "parameters": t.parameters}
    if t.description is not None:
        out["description"] = t.description
    strict = (t.provider_details or {}).get("strict")
    out["strict"] = bool(strict) if strict is not None else False
    return out


def _encode_tool_choice(body: dict[str, Any], tc: ToolChoice) -> None:
    body["tool_choice"] = {"type": "function", "name": tc.name} if tc.mode == "tool" else tc.mode
    if tc.parallel is not None:
        body["parallel_tool_calls"] = tc.parallel


# ================================================================ responses


def decode_response(body: dict[str, Any]) -> Response:
    """An upstream ``response`` object -> Response."""
    if not isinstance(body, dict):
        raise ValueError("body: expected a JSON object")
    output = body.get("output")
    if not isinstance(output, list):
        if body.get("error"):
            raise ValueError(f"error: upstream answered with an error body: {str(body['error'])[:200]}")
        raise ValueError("output: expected an array of output items")
    content: list[Part] = []
    for item in output:
        if isinstance(item, dict):
            content += decode_item(item)
    has_calls = any(isinstance(p, ToolCallPart) for p in content)
    reason, details = decode_finish(body.get("status"), body.get("incomplete_details"), has_calls)
    if reason == "error":
        raise ValueError(f"status: the upstream response failed: {str(body.get('error'))[:200]}")
    usage = decode_usage(body.get("usage") or {})
    return Response(str(body.get("id") or ""), str(body.get("model") or ""), content, reason, usage, details or {})


def encode_response(resp: Response, model: str, req: Request | None = None) -> dict[str, Any]:
    """Response -> a ``response`` object for a Responses client."""
    if resp.finish_reason == "error":
        raise ValueError("finish_reason: a Response that ended in an error must be sent with encode_error")
    output = output_items(resp.content, encrypted=wants_encrypted(req), namespaces=namespaces_of(req))
    status, incomplete = "completed", None
    if resp.finish_reason in ("length", "content_filter"):
        status = "incomplete"
        incomplete = {"reason": "content_filter" if resp.finish_reason == "content_filter" else "max_output_tokens"}
    return response_object(new_response_id(resp.id), model, req, status=status, output=output, usage=resp.usage,
                           incomplete=incomplete)


# ================================================================ the codec object


class OpenAIResponsesCodec(Codec):
    """The Responses API (``POST /responses``), ``protocol: openai-responses``."""

    name = "openai-responses"
    hosted_tools = True  # as an upstream, OpenAI runs its built-in tools itself
    decode_request = staticmethod(decode_request)
    encode_response = staticmethod(encode_response)
    decode_response = staticmethod(decode_response)
    stream_decoder = staticmethod(StreamDecoder)
    encode_error = staticmethod(encode_error)

    def path(self, model: str, *, stream: bool) -> str:
        return "/responses"

    def headers(self, secret: str, req: Request) -> dict[str, str]:
        return {"authorization": f"Bearer {secret}"} if secret else {}

    def image_urls(self, provider: str) -> bool:
        return True  # input_image takes an http(s) URL

    def encode_request(self, req: Request, model: str, *, provider: str) -> dict[str, Any]:
        return encode_request(req, model)

    def stream_encoder(self, req: Request) -> StreamEncoder:
        return StreamEncoder(req.model, request=req)


CODEC = OpenAIResponsesCodec()
