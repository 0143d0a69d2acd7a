"""History repair: make a conversation valid for the one upstream it is about to be encoded for.

A long agent session crosses providers. What one model left in the history can make the next refuse the
whole conversation with a permanent 400, so before a request is encoded for a target, ``prepare`` rewrites
a copy of it (never the caller's request, which other candidates still need):

- **Signed reasoning goes back only to its signer.** ``ThinkingPart.origin`` names who signed a thinking
  block's ``signature`` / ``redacted_data`` (``anthropic``, ``gemini``, ``openai`` for encrypted reasoning).
  For any other target the block is dropped. Unsigned reasoning text (DeepSeek, local servers) has no
  signature to protect; codecs that have a place for it (DeepSeek's ``reasoning_content``) keep it.
- **Anthropic with thinking on, mid tool loop.** When the assistant turn of an unfinished tool loop does not
  start with a thinking block Anthropic signed (another model made that step), Anthropic answers 400
  "Expected `thinking` or `redacted_thinking`, but found `tool_use`". The API's own advice is to disable
  thinking: detour sends that request with thinking disabled (and without ``clear_thinking`` context edits,
  which need it) and records the downgrade in the attempt. The next turn, which starts with a user message,
  thinks again.
- **Gemini** gets only Gemini's thought signatures; a function call made by another model carries the
  documented ``skip_thought_signature_validator`` (added by the Gemini codec for unsigned calls).
- **Tool-call ids** in the form each target accepts: Anthropic ``^[a-zA-Z0-9_-]+$`` (its codec), Mistral
  exactly nine alphanumerics, OpenAI at most 40 characters. Ids are mapped by a stable hash, so every tool
  result still pairs with its call and the same history maps the same way on every turn; the client only
  ever sees the ids it was given, since only the upstream copy is rewritten.

Signatures also cross the client: a front door that shows a foreign signer's block to its client wraps the
signature (``client_signature``) so that when the client sends the history back, ``read_signature`` knows
who signed it. A door's own signer's signatures pass unwrapped, byte for byte.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from detour.protocol.messages import (
    Message,
    Part,
    Request,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
)

WRAP = "detour1."  # prefix of a signature detour wrapped for a client: detour1.<origin>.<signature>
_B64_WRAP = WRAP.encode()
DOWNGRADE_THINKING = "thinking disabled: the open tool loop's last step came from another model"
_MISTRAL = frozenset({"mistral"})
_OPENAI_ID_MAX = 40
_ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


# ---------------------------------------------------------------- signers and signatures


def signer(protocol: str, flavor: str = "") -> str:
    """Who signs the reasoning an upstream of this protocol returns (and so who may receive it back)."""
    if protocol in ("anthropic", "gemini"):
        return protocol
    return "openai"  # Responses encrypted reasoning; Chat Completions reasoning is unsigned


_BYTES_SIGNATURES = frozenset({"gemini"})  # doors whose thoughtSignature is bytes on the wire (base64 in JSON)


def client_signature(signature: str | None, origin: str | None, door: str) -> str | None:
    """The signature a front door shows its client: native ones as they are, foreign ones wrapped."""
    if not signature or origin is None or origin == door:
        return signature
    wrapped = f"{WRAP}{origin}.{signature}"
    if door in _BYTES_SIGNATURES:  # the SDKs base64-decode it
        return base64.b64encode(wrapped.encode()).decode()
    return wrapped


def read_signature(signature: str | None, door: str) -> tuple[str | None, str | None]:
    """(signature, origin) of a signature a client sent: unwrapped when detour wrapped it, else the door's."""
    if not signature:
        return signature, None
    text = signature
    if door in _BYTES_SIGNATURES:
        try:
            raw = base64.b64decode(signature, validate=True)
        except ValueError:
            raw = b""
        if not raw.startswith(_B64_WRAP):
            return signature, door
        text = raw.decode("utf-8", "replace")
    if text.startswith(WRAP):
        origin, _, inner = text[len(WRAP):].partition(".")
        if origin and inner:
            return inner, origin
    return signature, door


# ---------------------------------------------------------------- the repair


@dataclass(frozen=True, slots=True)
class Prepared:
    """The request to encode for one target, and what repair changed that the attempt should record."""

    request: Request
    notes: tuple[str, ...] = ()


def prepare(req: Request, protocol: str, flavor: str, thinking_on: bool = False) -> Prepared:
    """``req`` made valid for one target (``protocol`` + provider ``flavor``); ``req`` itself is not changed.

    ``thinking_on``: the target's codec will ask for thinking (only Anthropic's rule depends on it).
    An unchanged request is returned as the same object, so same-protocol pass-through still applies.
    """
    target = signer(protocol, flavor)
    messages, changed = _drop_foreign_reasoning(req.messages, target)
    notes: list[str] = []
    out = req
    if thinking_on:  # only the Anthropic codec asks: its thinking needs a signed block to open a tool loop
        fixed = _anthropic_open_loop(messages)
        if fixed is not None:
            messages, changed = fixed, True
            out = _without_thinking(req)
            notes.append(DOWNGRADE_THINKING)
    ids = _id_mapper(protocol, flavor)
    if ids is not None:
        mapped, ids_changed = _map_ids(messages, ids)
        messages, changed = mapped, changed or ids_changed
    if not changed and out is req:
        return Prepared(req)
    return Prepared(dataclasses.replace(out, messages=messages), tuple(notes))


def _drop_foreign_reasoning(messages: list[Message], target: str) -> tuple[list[Message], bool]:
    out: list[Message] = []
    changed = False
    for message in messages:
        if message.role != "assistant":
            out.append(message)
            continue
        kept = [p for p in message.content if not (p.kind == "thinking" and _foreign(p, target))]
        if len(kept) == len(message.content):
            out.append(message)
        else:
            changed = True
            out.append(_with(message, kept))
    return out, changed


def _with(message: Message, content: list[Part]) -> Message:
    """A copy of ``message`` with other content (a direct constructor call: replace() costs several times more)."""
    return Message(message.role, content, message.name, message.provider_details)


def _foreign(part: Part, target: str) -> bool:
    """A signed reasoning block some other signer made (or one whose signer is unknown)."""
    if not isinstance(part, ThinkingPart):
        return False
    signed = bool(part.signature) or part.redacted_data is not None
    if not signed:  # Anthropic and Gemini take no reasoning they did not sign (an empty signature included)
        return target in ("anthropic", "gemini")
    return part.origin != target


# ---------------------------------------------------------------- Anthropic: thinking in an open tool loop


def open_turn(messages: list[Message]) -> list[int] | None:
    """Indices of the assistant messages of an unfinished tool loop, first one first; None when closed.

    Neutral messages merge into wire turns as the encoders merge them: consecutive non-assistant messages
    form one user turn, and a user turn holding a tool result continues the assistant turn before it.
    """
    i = len(messages) - 1
    assistants: list[int] = []
    while i >= 0:
        has_result = False
        while i >= 0 and messages[i].role != "assistant":
            has_result = has_result or _has_result(messages[i])
            i -= 1
        if not has_result:
            break
        if i < 0:
            return None
        while i >= 0 and messages[i].role == "assistant":
            assistants.append(i)
            i -= 1
    if not assistants:
        return None
    return sorted(assistants)


def _has_result(message: Message) -> bool:
    return any(isinstance(p, ToolResultPart) for p in message.content)


def _anthropic_open_loop(messages: list[Message]) -> list[Message] | None:
    """The messages with the open turn's reasoning dropped, when that turn cannot start with Anthropic's
    thinking; None when the request is valid as it is (closed loop, or the turn starts with a signed block)."""
    turn = open_turn(messages)
    if turn is None:
        return None
    first = [p for p in messages[turn[0]].content if not (isinstance(p, ThinkingPart) and not p.text and not p.signature and p.redacted_data is None)]
    if first and isinstance(first[0], ThinkingPart) and first[0].origin == signer("anthropic"):
        return None
    out = list(messages)
    for i in turn:
        out[i] = _with(out[i], [p for p in out[i].content if not isinstance(p, ThinkingPart)])
    return out


def _without_thinking(req: Request) -> Request:
    extra = req.extra
    edits = (extra.get("context_management") or {}).get("edits") if isinstance(extra.get("context_management"), dict) else None
    if isinstance(edits, list) and any(_clears_thinking(e) for e in edits):
        kept = [e for e in edits if not _clears_thinking(e)]
        extra = dict(extra)
        if kept:
            extra["context_management"] = {**extra["context_management"], "edits": kept}
        else:
            extra.pop("context_management")
    return dataclasses.replace(req, thinking="disabled", thinking_budget=None, extra=extra)


def _clears_thinking(edit: Any) -> bool:
    return isinstance(edit, dict) and str(edit.get("type", "")).startswith("clear_thinking")


# ---------------------------------------------------------------- tool-call ids


def _id_mapper(protocol: str, flavor: str) -> Any:
    """The tool-call id form a target accepts: by flavour first (Mistral), then by codec name."""
    return _FLAVOR_IDS.get(flavor) if flavor in _FLAVOR_IDS else _PROTOCOL_IDS.get(protocol)


def _digest(value: str, n: int) -> str:
    """``n`` hex digits of the id's SHA-256: alphanumeric, stable, collision-free in practice for one history."""
    return hashlib.sha256(value.encode()).hexdigest()[:n]


def mistral_id(call_id: str) -> str:
    """Mistral accepts exactly nine alphanumerics: others are mapped by a stable hash."""
    if len(call_id) == 9 and call_id.isascii() and call_id.isalnum():
        return call_id
    return _digest(call_id, 9)


def openai_id(call_id: str) -> str:
    """OpenAI refuses tool-call ids longer than 40 characters."""
    if call_id and len(call_id) <= _OPENAI_ID_MAX:
        return call_id
    return "call_" + _digest(call_id, 24)


def anthropic_id(call_id: str) -> str:
    """Anthropic ids must match ^[a-zA-Z0-9_-]+$."""
    if _ANTHROPIC_ID.match(call_id):
        return call_id
    return "toolu_" + _digest(call_id, 24)


def _map_ids(messages: list[Message], mapper: Any) -> tuple[list[Message], bool]:
    out: list[Message] = []
    changed = False
    seen: dict[str, str] = {}  # each id is mapped once: a call and its result share the answer

    def mapped(call_id: str) -> str:
        found = seen.get(call_id)
        if found is None:
            found = seen[call_id] = mapper(call_id)
        return found

    for message in messages:
        parts: list[Part] | None = None
        for j, part in enumerate(message.content):
            new: Part | None = None
            if isinstance(part, ToolCallPart):
                if (mid := mapped(part.id)) != part.id:
                    new = ToolCallPart(mid, part.name, part.arguments, part.provider_details)
            elif isinstance(part, ToolResultPart) and (mid := mapped(part.tool_call_id)) != part.tool_call_id:
                new = ToolResultPart(mid, part.content, part.is_error, part.name, part.provider_details)
            if new is not None:
                if parts is None:
                    parts = list(message.content)
                parts[j] = new
        if parts is None:
            out.append(message)
        else:
            changed = True
            out.append(_with(message, parts))
    return out, changed


_FLAVOR_IDS = {flavor: mistral_id for flavor in _MISTRAL}  # OpenAI-compatible flavours with their own id form
_PROTOCOL_IDS = {"openai": openai_id, "anthropic": anthropic_id}  # Gemini and Responses keep ids as they are
