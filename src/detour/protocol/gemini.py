"""Gemini ``generateContent`` / ``streamGenerateContent?alt=sse`` codec (AI Studio, v1beta).

The model and the stream flag live in the URL path (``/models/{model}:generateContent``), so
``decode_request`` takes them as arguments and ``request_path`` builds the path for an upstream call.
Every lossy mapping is listed in docs/translation.md.
"""

from __future__ import annotations

import json
import mimetypes
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ._codec import Codec
from .errors import Failure
from .gemini_stream import (
    DUMMY_SIGNATURES,
    StreamDecoder,
    StreamEncoder,
    block_details,
    compact_json,
    decode_finish,
    decode_usage,
    encode_finish,
    encode_usage,
    error_object,
    failure_from_error,
    function_call_part,
    new_id,
    signature_of,
    unwrap_list,
)
from .history import client_signature
from .messages import (
    Accumulator,
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
    new_call_id,
)

__all__ = [
    "EFFORT_BUDGET",
    "StreamDecoder",
    "StreamEncoder",
    "decode_error",
    "decode_request",
    "decode_response",
    "encode_error",
    "encode_request",
    "encode_response",
    "request_path",
    "supports_image_urls",
]

# planner fact: the image MIME types Gemini reads (ai.google.dev image understanding, "Supported image formats");
# the plan skips a Gemini target for any other
IMAGE_MEDIA_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/heic", "image/heif"})

# reasoning_effort -> thinkingBudget: detour's own bridge, not a Google table
EFFORT_BUDGET: dict[str, int] = {
    "none": 0,
    "minimal": 512,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
    "max": 24576,
}
# JSON Schema keys that are no schema keywords at all, or that Gemini does not document for parametersJsonSchema
_SCHEMA_STRIP = frozenset({"$schema", "strict"})
# Gemini rejects a conversation that opens with a model turn and rejects empty text parts
PLACEHOLDER_USER_TEXT = "."
_GEN_KEYS = frozenset(
    {"maxOutputTokens", "temperature", "topP", "stopSequences", "seed", "thinkingConfig"}
    | {"responseMimeType", "responseSchema", "responseJsonSchema"}
)
_PASS_THROUGH = ("safetySettings",)  # Gemini-only request fields re-sent from Request.extra


def request_path(model: str, stream: bool) -> str:
    """The upstream path below the ``/v1beta`` base URL."""
    if stream:
        return f"/models/{model}:streamGenerateContent?alt=sse"
    return f"/models/{model}:generateContent"


def supports_image_urls() -> bool:
    """Gemini only reads ``fileData`` URIs it can reach itself (Files API, GCS, some https); detour never fetches.

    The router may skip Gemini candidates for requests with plain http(s) image URLs
    (reason ``image_url_unsupported``).
    """
    return False


# ================================================================= request: wire -> neutral


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected an object, got {type(value).__name__}")
    return value


def _msg(value: Any, path: str) -> dict[str, Any]:
    """A protobuf message object: proto JSON accepts snake_case names too (the SDK sends ``mime_type``)."""
    return {_camel(k): v for k, v in _obj(value, path).items()}


def _camel(key: str) -> str:
    if "_" not in key:
        return key
    head, *rest = key.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{path}: expected an array, got {type(value).__name__}")
    return value


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{path}: expected a string, got {type(value).__name__}")
    return value


def _num(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{path}: expected a number, got {type(value).__name__}")
    return value


def _int(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{path}: expected an integer, got {type(value).__name__}")
    return value


def decode_request(
    body: dict[str, Any], headers: dict[str, str] | None = None, *, model: str = "", stream: bool = False
) -> Request:
    """A Gemini client's request body -> neutral Request (model and stream come from the URL path)."""
    body = _msg(body, "$")
    req = Request(model=model, stream=stream)
    if body.get("systemInstruction") is not None:
        req.messages.append(_decode_system(body["systemInstruction"], "systemInstruction"))
    req.messages += _ContentDecoder().contents(_list(body.get("contents", []), "contents"))
    if body.get("tools") is not None:
        _decode_tools(_list(body["tools"], "tools"), req)
    if body.get("toolConfig") is not None:
        _decode_tool_config(_msg(body["toolConfig"], "toolConfig"), req)
    if body.get("generationConfig") is not None:
        _decode_generation(_msg(body["generationConfig"], "generationConfig"), req)
    for key in ("safetySettings", "cachedContent", "labels"):
        if key in body:
            req.extra[key] = body[key]
    req.provider_details["gemini"] = {}  # marks Request.extra as Gemini fields
    return req


def _decode_system(value: Any, path: str) -> Message:
    if isinstance(value, str):
        return Message("system", [TextPart(value)])
    parts = _list(_msg(value, path).get("parts", []), f"{path}.parts")
    texts = [
        _str(_msg(p, f"{path}.parts[{i}]").get("text", ""), f"{path}.parts[{i}].text") for i, p in enumerate(parts)
    ]
    return Message("system", [TextPart(t) for t in texts])


class _ContentDecoder:
    """Gemini contents -> neutral messages; pairs id-less calls and responses by name and occurrence."""

    def __init__(self) -> None:
        self._calls: Counter[str] = Counter()
        self._results: Counter[str] = Counter()

    def contents(self, contents: list[Any]) -> list[Message]:
        out: list[Message] = []
        for i, content in enumerate(contents):
            path = f"contents[{i}]"
            content = _msg(content, path)
            parts = _list(content.get("parts", []), f"{path}.parts")
            role = content.get("role") or "user"
            if role == "model":
                out.append(Message("assistant", self._model_parts(parts, path)))
            elif role in ("user", "function"):
                out += self._user_parts(parts, path)
            else:
                raise ValueError(f"{path}.role: unknown role {role!r}")
        return out

    def _user_parts(self, parts: list[Any], path: str) -> list[Message]:
        out: list[Message] = []
        pending: list[Part] = []
        for j, raw in enumerate(parts):
            part = _msg(raw, f"{path}.parts[{j}]")
            if "functionResponse" in part:
                if pending:
                    out.append(Message("user", pending))
                    pending = []
                out.append(self._function_response(part["functionResponse"], f"{path}.parts[{j}].functionResponse"))
            else:
                pending += _decode_plain_part(part, f"{path}.parts[{j}]")
        if pending or not out:
            out.append(Message("user", pending))
        return out

    def _model_parts(self, parts: list[Any], path: str) -> list[Part]:
        out: list[Part] = []
        for j, raw in enumerate(parts):
            part = _msg(raw, f"{path}.parts[{j}]")
            sig, origin = signature_of(part)
            if part.get("thought"):
                out.append(_thought(_str(part.get("text", ""), f"{path}.parts[{j}].text"), sig, origin))
                continue
            if sig:
                out.append(ThinkingPart("", sig, origin=origin))
            if "functionCall" in part:
                out.append(self._function_call(part["functionCall"], f"{path}.parts[{j}].functionCall"))
            else:
                out += _decode_plain_part(part, f"{path}.parts[{j}]")
        return out

    def _function_call(self, raw: Any, path: str) -> ToolCallPart:
        call = _msg(raw, path)
        name = _str(call.get("name"), f"{path}.name")
        args = _obj(call.get("args") or {}, f"{path}.args")
        index = self._calls[name]
        self._calls[name] += 1
        call_id = call.get("id") or f"call_{name}_{index}"
        return ToolCallPart(_str(call_id, f"{path}.id"), name, compact_json(args))

    def _function_response(self, raw: Any, path: str) -> Message:
        resp = _msg(raw, path)
        name = _str(resp.get("name"), f"{path}.name")
        value = _obj(resp.get("response") or {}, f"{path}.response")
        index = self._results[name]
        self._results[name] += 1
        call_id = _str(resp.get("id") or f"call_{name}_{index}", f"{path}.id")
        text, is_error = _response_text(value)
        content: list[TextPart | ImagePart] = [TextPart(text)]
        for k, p in enumerate(_list(resp.get("parts") or [], f"{path}.parts")):
            content += [
                x
                for x in _decode_plain_part(_msg(p, f"{path}.parts[{k}]"), f"{path}.parts[{k}]")
                if isinstance(x, ImagePart)
            ]
        return Message("tool", [ToolResultPart(call_id, content, is_error=is_error, name=name)])


def _thought(text: str, sig: str | None, origin: str | None) -> ThinkingPart:
    """A ``thought: true`` part; a signed one is marked so its signature may go back to Gemini."""
    details = {"gemini": {"thought": True}} if sig and text else None
    return ThinkingPart(text, sig, provider_details=details, origin=origin)


def _response_text(value: dict[str, Any]) -> tuple[str, bool]:
    """A functionResponse.response -> (tool result text, is_error); a lone ``result``/``error`` key is unwrapped."""
    if len(value) == 1 and ("result" in value or "error" in value):
        inner = next(iter(value.values()))
        return (inner if isinstance(inner, str) else compact_json(inner)), "error" in value
    return compact_json(value), False


def _decode_plain_part(part: dict[str, Any], path: str) -> list[Part]:
    if "text" in part:
        text = _str(part["text"], f"{path}.text")
        return [TextPart(text)] if text else []  # an empty text part only carries a signature
    if "inlineData" in part:
        blob = _msg(part["inlineData"], f"{path}.inlineData")
        mime = _str(blob.get("mimeType", ""), f"{path}.inlineData.mimeType")
        data = _str(blob.get("data"), f"{path}.inlineData.data")
        return [
            ImagePart(data=data, media_type=mime)
            if mime.startswith("image/")
            else DocumentPart(data=data, media_type=mime)
        ]
    if "fileData" in part:
        ref = _msg(part["fileData"], f"{path}.fileData")
        uri = _str(ref.get("fileUri"), f"{path}.fileData.fileUri")
        mime = ref.get("mimeType") or mimetypes.guess_type(uri)[0] or "application/octet-stream"
        return [
            ImagePart(url=uri, media_type=mime) if mime.startswith("image/") else DocumentPart(url=uri, media_type=mime)
        ]
    if "functionCall" in part or "functionResponse" in part:
        raise ValueError(f"{path}: function parts are not allowed in this turn")
    return []  # executableCode, videoMetadata...: no neutral meaning


def _decode_tools(tools: list[Any], req: Request) -> None:
    other: list[Any] = []
    for i, raw in enumerate(tools):
        tool = _msg(raw, f"tools[{i}]")
        decls = tool.get("functionDeclarations")
        if decls is None:
            other.append(tool)
            continue
        for j, decl in enumerate(_list(decls, f"tools[{i}].functionDeclarations")):
            req.tools.append(
                _decode_declaration(
                    _msg(decl, f"tools[{i}].functionDeclarations[{j}]"), f"tools[{i}].functionDeclarations[{j}]"
                )
            )
    if other:
        req.extra["tools"] = other


def _decode_declaration(decl: dict[str, Any], path: str) -> Tool:
    name = _str(decl.get("name"), f"{path}.name")
    description = decl.get("description")
    if "parametersJsonSchema" in decl:
        params = _obj(decl["parametersJsonSchema"], f"{path}.parametersJsonSchema")
    elif "parameters" in decl:
        params = _lower_types(_obj(decl["parameters"], f"{path}.parameters"))
    else:
        params = {"type": "object", "properties": {}}
    return Tool(name, _str(description, f"{path}.description") if description is not None else None, params)


def _lower_types(schema: Any) -> Any:
    """Gemini's OpenAPI ``Schema`` spells types in capitals (``OBJECT``); JSON Schema wants lower case."""
    if isinstance(schema, list):
        return [_lower_types(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _lower_types(v) for k, v in schema.items()}
    if isinstance(out.get("type"), str):
        out["type"] = out["type"].lower()
    return out


def _decode_tool_config(config: dict[str, Any], req: Request) -> None:
    fcc = _msg(config.get("functionCallingConfig") or {}, "toolConfig.functionCallingConfig")
    mode = str(fcc.get("mode") or "AUTO").upper()
    names = _list(fcc.get("allowedFunctionNames") or [], "toolConfig.functionCallingConfig.allowedFunctionNames")
    if mode == "NONE":
        req.tool_choice = ToolChoice("none")
    elif mode == "ANY" and len(names) == 1:
        req.tool_choice = ToolChoice("tool", _str(names[0], "toolConfig.functionCallingConfig.allowedFunctionNames[0]"))
    elif mode == "ANY":
        req.tool_choice = ToolChoice("required")
    else:  # AUTO, MODE_UNSPECIFIED, VALIDATED
        req.tool_choice = ToolChoice("auto")
    if len(names) > 1 or mode == "VALIDATED" or set(config) - {"functionCallingConfig"}:
        req.extra["toolConfig"] = config  # restrictions the neutral ToolChoice cannot express


def _decode_generation(gen: dict[str, Any], req: Request) -> None:
    if "maxOutputTokens" in gen:
        req.max_tokens = _int(gen["maxOutputTokens"], "generationConfig.maxOutputTokens")
    if "temperature" in gen:
        req.temperature = _num(gen["temperature"], "generationConfig.temperature")
    if "topP" in gen:
        req.top_p = _num(gen["topP"], "generationConfig.topP")
    if "seed" in gen:
        req.seed = _int(gen["seed"], "generationConfig.seed")
    stops = _list(gen.get("stopSequences") or [], "generationConfig.stopSequences")
    req.stop = [_str(s, f"generationConfig.stopSequences[{i}]") for i, s in enumerate(stops)]
    rest = {k: v for k, v in gen.items() if k not in _GEN_KEYS}
    if gen.get("thinkingConfig") is not None:
        thinking = _msg(gen["thinkingConfig"], "generationConfig.thinkingConfig")
        _decode_thinking(thinking, req)
        if thinking.get("includeThoughts") is False:  # detour asks for thoughts unless told not to
            rest["thinkingConfig"] = {"includeThoughts": False}
    if not _decode_format(gen, req):
        rest.update({k: gen[k] for k in ("responseMimeType", "responseSchema", "responseJsonSchema") if k in gen})
    if rest:
        req.extra["generationConfig"] = rest


def _decode_format(gen: dict[str, Any], req: Request) -> bool:
    """responseMimeType + schema -> ResponseFormat; False when the mime type has no neutral meaning."""
    mime = gen.get("responseMimeType")
    if mime in (None, "text/plain"):
        return "responseSchema" not in gen and "responseJsonSchema" not in gen
    if mime != "application/json":
        return False
    if gen.get("responseJsonSchema") is not None:
        schema = _obj(gen["responseJsonSchema"], "generationConfig.responseJsonSchema")
    elif gen.get("responseSchema") is not None:
        schema = _lower_types(_obj(gen["responseSchema"], "generationConfig.responseSchema"))
    else:
        req.response_format = ResponseFormat("json_object")
        return True
    req.response_format = ResponseFormat("json_schema", schema)
    return True


def _decode_thinking(config: dict[str, Any], req: Request) -> None:
    if config.get("thinkingBudget") is not None:
        budget = _int(config["thinkingBudget"], "generationConfig.thinkingConfig.thinkingBudget")
        if budget == 0:
            req.thinking = "disabled"
        elif budget < 0:
            req.thinking = "adaptive"
        else:
            req.thinking_budget = budget
    if config.get("thinkingLevel") is not None:
        level = _str(config["thinkingLevel"], "generationConfig.thinkingConfig.thinkingLevel").lower()
        req.reasoning_effort = None if level == "thinking_level_unspecified" else level


# ================================================================= request: neutral -> wire


def encode_request(req: Request, model: str) -> dict[str, Any]:
    """A neutral Request -> a Gemini request body (the model goes in the path: see ``request_path``)."""
    body: dict[str, Any] = {"contents": _encode_contents(req.messages)}
    system = [
        {"text": p.text} for m in req.messages if m.role == "system" for p in m.content if isinstance(p, TextPart)
    ]
    if system:
        body["systemInstruction"] = {"parts": system}
    extra = req.extra if "gemini" in req.provider_details else {}  # another protocol's extras mean nothing here
    tools = _encode_tools(req.tools) + list(extra.get("tools") or [])
    if tools:
        body["tools"] = tools
    tool_config = _encode_tool_choice(req.tool_choice) if req.tools else None
    if req.tools and isinstance(extra.get("toolConfig"), dict):
        tool_config = extra["toolConfig"]
    if tool_config:
        body["toolConfig"] = tool_config
    generation = _encode_generation(req, extra.get("generationConfig") or {})
    if generation:
        body["generationConfig"] = generation
    body.update({k: extra[k] for k in _PASS_THROUGH if k in extra})
    return body


def _encode_contents(messages: list[Message]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id -> name, from earlier assistant turns
    for i, message in enumerate(messages):
        if message.role == "system":
            continue
        if message.role == "assistant":
            role, parts = "model", _request_model_parts(message.content, names)
        else:
            role, parts = "user", _user_parts(message.content, names, f"messages[{i}]")
        if not parts:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["parts"] += parts
        else:
            turns.append({"role": role, "parts": parts})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "parts": [{"text": PLACEHOLDER_USER_TEXT}]})
    return turns


def _request_model_parts(parts: list[Part], names: dict[str, str]) -> list[dict[str, Any]]:
    for part in parts:
        if isinstance(part, ToolCallPart):
            names[part.id] = part.name
    out = _model_parts(parts, thoughts=False)
    calls = [p for p in out if "functionCall" in p]
    if calls and not any("thoughtSignature" in p for p in out):
        calls[0]["thoughtSignature"] = "skip_thought_signature_validator"
    return out


def _model_parts(parts: list[Part], *, thoughts: bool) -> list[dict[str, Any]]:
    """Assistant parts -> Gemini parts. A signature-only thought rides on the part that follows it."""
    out: list[dict[str, Any]] = []
    pending: str | None = None
    for part in parts:
        if isinstance(part, ThinkingPart):
            if thoughts and part.text:
                out.append(_thought_part(part))
                continue
            sig = _sendable_signature(part)
            if sig and pending:
                out.append({"text": "", "thoughtSignature": pending})
            pending = sig or pending
            continue
        wire = _model_part(part)
        if wire is None:
            continue
        if pending:
            wire["thoughtSignature"], pending = pending, None
        out.append(wire)
    if pending:
        out.append({"text": "", "thoughtSignature": pending})
    return out


def _thought_part(part: ThinkingPart) -> dict[str, Any]:
    wire: dict[str, Any] = {"text": part.text, "thought": True}
    if signature := client_signature(part.signature, part.origin, "gemini"):
        wire["thoughtSignature"] = signature
    return wire


def _sendable_signature(part: ThinkingPart) -> str | None:
    """Gemini's own signatures as they are; a foreign signer's wrapped (a response shown to a Gemini client).
    On the way to a Gemini upstream, history repair has already dropped every foreign one."""
    if part.redacted_data or not part.signature or part.signature in DUMMY_SIGNATURES:
        return None
    if part.origin is None and (part.provider_details or part.text) and "gemini" not in (part.provider_details or {}):
        return None  # signed reasoning of unknown origin would fail Gemini's signature check
    return client_signature(part.signature, part.origin, "gemini")


def _model_part(part: Part) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"text": part.text} if part.text else None
    if isinstance(part, ToolCallPart):
        return function_call_part(part.id, part.name, part.arguments)
    if isinstance(part, (ImagePart, DocumentPart)):
        return _encode_media(part)
    return None


def _user_parts(parts: list[Part], names: dict[str, str], path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            if part.text:
                out.append({"text": part.text})
        elif isinstance(part, (ImagePart, DocumentPart)):
            out.append(_encode_media(part))
        elif isinstance(part, ToolResultPart):
            out += _encode_tool_result(part, names, path)
    return out


def _encode_tool_result(part: ToolResultPart, names: dict[str, str], path: str) -> list[dict[str, Any]]:
    name = part.name or names.get(part.tool_call_id)
    if not name:
        raise ValueError(f"{path}: tool result {part.tool_call_id!r} has no name and matches no earlier tool call")
    text = "".join(p.text for p in part.content if isinstance(p, TextPart))
    fr: dict[str, Any] = {"name": name, "response": _response_object(text, part.is_error)}
    if part.tool_call_id:
        fr["id"] = part.tool_call_id
    images = [_encode_media(p) for p in part.content if isinstance(p, ImagePart)]
    return [{"functionResponse": fr}, *images]


def _response_object(text: str, is_error: bool) -> dict[str, Any]:
    """Tool result text -> the object Gemini requires; only a JSON object is passed as-is."""
    try:
        value = json.loads(text) if text.strip() else None
    except ValueError:
        value = None
    if not is_error and isinstance(value, dict) and not (len(value) == 1 and ({"result", "error"} & value.keys())):
        return value
    return {"error" if is_error else "result": text}


def _encode_media(part: ImagePart | DocumentPart) -> dict[str, Any]:
    default = "image/jpeg" if isinstance(part, ImagePart) else "application/pdf"
    if part.data is not None:
        return {"inlineData": {"mimeType": part.media_type or default, "data": part.data}}
    url = part.url or ""
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        mime = head[5:].split(";")[0] or part.media_type or default
        return {"inlineData": {"mimeType": mime, "data": data}}
    mime = part.media_type or mimetypes.guess_type(url)[0] or default
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _encode_tools(tools: list[Tool]) -> list[dict[str, Any]]:
    if not tools:
        return []
    decls = []
    for tool in tools:
        decl: dict[str, Any] = {"name": tool.name}
        if tool.description:
            decl["description"] = tool.description
        decl["parametersJsonSchema"] = {k: v for k, v in tool.parameters.items() if k not in _SCHEMA_STRIP}
        decls.append(decl)
    return [{"functionDeclarations": decls}]


def _encode_tool_choice(choice: ToolChoice | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice.mode == "tool" and choice.name:
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice.name]}}
    mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(choice.mode, "AUTO")
    return {"functionCallingConfig": {"mode": mode}}


def _encode_generation(req: Request, extra: dict[str, Any]) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    for key, value in (
        ("maxOutputTokens", req.max_tokens),
        ("temperature", req.temperature),
        ("topP", req.top_p),
        ("seed", req.seed),
    ):
        if value is not None:
            gen[key] = value
    if req.stop:
        gen["stopSequences"] = list(req.stop)
    fmt = req.response_format
    if fmt is not None and fmt.type != "text":
        gen["responseMimeType"] = "application/json"
        if fmt.type == "json_schema" and fmt.schema is not None:
            gen["responseJsonSchema"] = fmt.schema
    thinking = _encode_thinking(req)
    if thinking:
        gen["thinkingConfig"] = thinking
    for key, value in extra.items():  # the neutral fields win; thinkingConfig is merged
        gen[key] = (
            {**gen[key], **value} if isinstance(gen.get(key), dict) and isinstance(value, dict) else gen.get(key, value)
        )
    return gen


def _encode_thinking(req: Request) -> dict[str, Any] | None:
    if req.thinking_budget is not None:
        budget = req.thinking_budget
    elif req.thinking == "disabled":
        budget = 0
    elif req.thinking == "adaptive" or (req.thinking == "enabled" and not req.reasoning_effort):
        budget = -1
    elif req.reasoning_effort in EFFORT_BUDGET:
        budget = EFFORT_BUDGET[req.reasoning_effort]
    else:
        return None
    return {"thinkingBudget": budget, "includeThoughts": True} if budget else {"thinkingBudget": 0}


# ================================================================= response


def decode_response(body: dict[str, Any] | list[Any]) -> Response:
    """A generateContent body -> Response. A JSON array of stream chunks (no ``alt=sse``) is folded too."""
    body = unwrap_list(body)
    if isinstance(body, list):
        return _fold_chunks(body)
    _obj(body, "$")
    if "error" in body:
        raise ValueError(f"$.error: an error body, not a response: {failure_from_error(body).message}")
    candidates = body.get("candidates") or []
    resp = Response(str(body.get("responseId") or new_id()), str(body.get("modelVersion") or ""))
    if isinstance(body.get("usageMetadata"), dict):
        resp.usage = decode_usage(body["usageMetadata"])
    if not candidates:
        feedback = body.get("promptFeedback") or {}
        resp.finish_reason = "content_filter" if feedback.get("blockReason") else "error"
        resp.provider_details = block_details(feedback) if feedback.get("blockReason") else {}
        return resp
    candidate = _obj(candidates[0], "candidates[0]")
    resp.content = _response_parts((candidate.get("content") or {}).get("parts") or [])
    reason, details = decode_finish(candidate.get("finishReason"), bool(resp.tool_calls()))
    resp.finish_reason, resp.provider_details = reason, details or {}
    return resp


def _response_parts(parts: list[Any]) -> list[Part]:
    out: list[Part] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        sig, origin = signature_of(part)
        if part.get("thought"):
            out.append(_thought(str(part.get("text") or ""), sig, origin))
            continue
        if sig:
            out.append(ThinkingPart("", sig, origin=origin))
        if isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            out.append(
                ToolCallPart(
                    str(call.get("id") or new_call_id()),
                    str(call.get("name") or ""),
                    compact_json(call.get("args") or {}),
                )
            )
        elif isinstance(part.get("text"), str) and part["text"]:
            out.append(TextPart(part["text"]))
        elif isinstance(part.get("inlineData"), dict):
            out += _decode_plain_part(part, "part")
    return out


def _fold_chunks(chunks: list[Any]) -> Response:
    decoder, acc = StreamDecoder(), Accumulator()
    for chunk in chunks:
        for event in decoder.feed(b"data: " + json.dumps(chunk).encode() + b"\n\n"):
            acc.add(event)
    for event in decoder.close():
        acc.add(event)
    if acc.error is not None:
        raise ValueError(f"$: stream chunks ended in an error: {acc.error.message}")
    return acc.response()


def encode_response(resp: Response, model: str) -> dict[str, Any]:
    """A neutral Response -> a generateContent body for a Gemini client."""
    body: dict[str, Any] = {}
    gemini = resp.provider_details.get("gemini") or {}
    if resp.finish_reason == "content_filter" and gemini.get("blockReason") and not resp.content:
        body["promptFeedback"] = dict(gemini)
    else:
        parts = _model_parts(resp.content, thoughts=True) or [{"text": ""}]
        candidate = {
            "content": {"role": "model", "parts": parts},
            "finishReason": encode_finish(resp.finish_reason, resp.provider_details),
            "index": 0,
        }
        body["candidates"] = [candidate]
    body["usageMetadata"] = encode_usage(resp.usage)
    body["modelVersion"] = resp.model or model
    body["responseId"] = resp.id
    return body


# ================================================================= errors

_CODE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
}
_CODE_STATUS |= {
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def encode_error(failure_or_status: Failure | int, message: str | None = None) -> tuple[int, dict[str, Any]]:
    """A Failure (or a bare HTTP status) -> (status, Gemini error body)."""
    if isinstance(failure_or_status, Failure):
        inner = error_object(failure_or_status)
        if message:
            inner["message"] = message
        return inner["code"], {"error": inner}
    status = failure_or_status
    grpc = _CODE_STATUS.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
    return status, {"error": {"code": status, "message": message or grpc, "status": grpc, "details": []}}


def decode_error(status: int, body: Any) -> Failure:
    """An upstream Gemini error body (plain or wrapped in a one-element array) -> Failure."""
    payload = unwrap_list(body)
    if not isinstance(payload, dict):
        payload = {"error": {"code": status, "message": str(payload)}}
    return failure_from_error(payload, status)


# ================================================================ the codec object


class GeminiCodec(Codec):
    """Gemini ``generateContent`` / ``streamGenerateContent``, ``protocol: gemini``."""

    name = "gemini"
    image_types = IMAGE_MEDIA_TYPES
    decode_response = staticmethod(decode_response)
    stream_decoder = staticmethod(StreamDecoder)
    encode_error = staticmethod(encode_error)

    def path(self, model: str, *, stream: bool) -> str:
        return request_path(model, stream)

    def headers(self, secret: str, req: Request) -> dict[str, str]:
        return {"x-goog-api-key": secret} if secret else {}

    def client_headers(self, credential: Credential, req: Request) -> dict[str, str]:
        return {"x-goog-api-key": credential.value}

    def image_urls(self, provider: str) -> bool:
        return supports_image_urls()

    def encode_request(self, req: Request, model: str, *, provider: str) -> dict[str, Any]:
        return encode_request(req, model)

    def decode_request(self, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> Request:
        return decode_request(body, dict(headers) if headers is not None else None)  # model/stream: the URL's

    def encode_response(self, resp: Response, model: str, req: Request) -> dict[str, Any]:
        return encode_response(resp, model)

    def stream_encoder(self, req: Request) -> StreamEncoder:
        return StreamEncoder(req.model)  # usageMetadata rides on every chunk


CODEC = GeminiCodec()
