"""The history rules real providers enforce, so a fake refuses what the real API refuses, with its message.

Each check takes a request body and returns the 400 message (and, for OpenAI, the ``param``) the real API
answers with, or None when the body is valid. Messages are the providers' own (seen in public bug reports
against the live APIs); a test that sends an invalid history therefore fails the way production would.

- Anthropic: thinking blocks must carry a signature Anthropic issued; with thinking on, the assistant turn
  of an open tool loop must start with a thinking block; with thinking off, a final assistant message may
  not contain one; tool ids match ``^[a-zA-Z0-9_-]+$``; every tool_result pairs with a tool_use of the
  message before, and every tool_use has its result in the message after.
- OpenAI Chat: a ``tool`` message answers a preceding ``tool_calls`` message; every call gets its answer;
  ids are at most 40 characters; Mistral-hosted models take only nine-alphanumeric ids.
- Gemini 3: in the current turn the first function call of each model step needs a thought signature that
  Gemini issued (or the documented ``skip_thought_signature_validator``); function responses match calls.

Signatures count as issued when a fake of this process emitted them (``wire.ISSUED``) or a test declared
them real (``trust_signature``, for recorded fixtures).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from detour.testing.wire import ISSUED

_ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_MISTRAL_ID = re.compile(r"^[a-zA-Z0-9]{9}$")
_MISTRAL_MODELS = ("mistral", "codestral", "devstral", "magistral", "ministral", "pixtral")
_GEMINI_SKIP = "skip_thought_signature_validator"

Problem = tuple[str, str | None]  # (message, param)


def trust_signature(protocol: str, signature: str) -> None:
    """Declare a signature real (e.g. one recorded from the live API in a fixture)."""
    ISSUED.setdefault(protocol, set()).add(signature)


def check(protocol: str, body: dict[str, Any], model: str) -> Problem | None:
    found = _CHECKS.get(protocol)  # the Responses fake has its own checks (wire_responses.refuse)
    return found(body, model) if found is not None else None


# ---------------------------------------------------------------- Anthropic


_THINKING_FIRST = (
    "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. When `thinking` "
    "is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of "
    "`tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous turns. To avoid "
    "this requirement, disable `thinking`. Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
)
_THINKING_OFF = (
    "messages.{i}.content.{j}: When thinking is disabled, an `assistant` message in the final position cannot "
    "contain `thinking`. To use thinking blocks, enable `thinking` in your request."
)


def _blocks(message: Any) -> list[dict[str, Any]]:
    content = message.get("content") if isinstance(message, dict) else None
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def anthropic(body: dict[str, Any]) -> Problem | None:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    for i in range(len(messages)):
        if (problem := _anthropic_blocks(messages, i)) is not None:
            return problem, None
    thinking = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
    if thinking:
        start = _anthropic_turn_start(messages)
        if start is not None:
            blocks = _blocks(messages[start])
            found = blocks[0].get("type") if blocks else "text"
            if found not in ("thinking", "redacted_thinking"):
                return _THINKING_FIRST.format(i=start, found=found), None
    elif messages and messages[-1].get("role") == "assistant":
        for j, block in enumerate(_blocks(messages[-1])):
            if block.get("type") in ("thinking", "redacted_thinking"):
                return _THINKING_OFF.format(i=len(messages) - 1, j=j), None
    return None


def _anthropic_blocks(messages: list[dict[str, Any]], i: int) -> str | None:
    message = messages[i]
    blocks = _blocks(message)
    if message.get("role") == "assistant":
        for j, block in enumerate(blocks):
            kind = block.get("type")
            if kind == "thinking" and block.get("signature") not in ISSUED.get("anthropic", ()):
                return f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
            if kind == "tool_use" and not _ANTHROPIC_ID.match(str(block.get("id", ""))):
                return f"messages.{i}.content.{j}.tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
        uses = [str(b.get("id")) for b in blocks if b.get("type") == "tool_use"]
        following = _blocks(messages[i + 1]) if i + 1 < len(messages) else []
        answered = {str(b.get("tool_use_id")) for b in following if b.get("type") == "tool_result"}
        missing = [u for u in uses if u not in answered]
        if missing and i + 1 < len(messages):
            return (
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: "
                f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` block in the "
                "next message."
            )
    else:
        previous = _blocks(messages[i - 1]) if i > 0 and messages[i - 1].get("role") == "assistant" else []
        called = {str(b.get("id")) for b in previous if b.get("type") == "tool_use"}
        for j, block in enumerate(blocks):
            if block.get("type") == "tool_result" and str(block.get("tool_use_id")) not in called:
                return (
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding `tool_use` "
                    "block in the previous message."
                )
    return None


def _anthropic_turn_start(messages: list[dict[str, Any]]) -> int | None:
    """The first assistant message of an unfinished tool loop (the request ends in tool results)."""
    i = len(messages) - 1
    start = None
    while i >= 0:
        message = messages[i]
        if message.get("role") == "assistant":
            start = i
            i -= 1
            continue
        if not any(b.get("type") == "tool_result" for b in _blocks(message)):
            break
        i -= 1
    last = messages[-1] if messages else {}
    if last.get("role") == "assistant" or not any(b.get("type") == "tool_result" for b in _blocks(last)):
        return None
    return start


# ---------------------------------------------------------------- OpenAI Chat Completions


_NOT_ANSWERING = (
    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'."
)
_UNANSWERED = (
    "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. "
    "The following tool_call_ids did not have response messages: "
)
_TOO_LONG = (
    "Invalid '{where}': string too long. Expected a string with maximum length 40, but got a string with length "
    "{n} instead."
)


def openai(body: dict[str, Any], model: str) -> Problem | None:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    mistral = model.lower().startswith(_MISTRAL_MODELS)
    pending: list[str] = []
    for i, message in enumerate(messages):
        role = message.get("role")
        if role == "tool":
            call_id = str(message.get("tool_call_id") or "")
            if call_id not in pending:
                return _NOT_ANSWERING, f"messages.[{i}].role"
            pending.remove(call_id)
            continue
        if pending:
            return _UNANSWERED + ", ".join(pending), "messages"
        if role == "assistant":
            for j, call in enumerate(message.get("tool_calls") or []):
                call_id = str((call or {}).get("id") or "")
                if len(call_id) > 40:
                    where = f"messages[{i}].tool_calls[{j}].id"
                    return _TOO_LONG.format(where=where, n=len(call_id)), where
                if mistral and not _MISTRAL_ID.match(call_id):
                    return f"Tool call id was {call_id} but must be a-z, A-Z, 0-9, with a length of 9.", None
                pending.append(call_id)
    return None


# ---------------------------------------------------------------- Gemini


_MISSING_SIG = (
    "Function call is missing a thought_signature in functionCall parts. This is required for tools to work "
    "correctly, and missing thought_signature may lead to degraded model performance. Additional data, function "
    "call `default_api:{name}` , position {position}. Please refer to "
    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
)
_RESPONSES = (
    "Please ensure that the number of function response parts is equal to the number of function call parts of "
    "the function call turn."
)


def gemini(body: dict[str, Any], model: str) -> Problem | None:
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    issued = ISSUED.get("gemini", set())
    for i, content in enumerate(contents):
        parts = [p for p in content.get("parts") or [] if isinstance(p, dict)]
        for part in parts:
            sig = part.get("thoughtSignature")
            if sig is not None and sig != _GEMINI_SKIP and sig not in issued:
                return "Corrupted thought signature.", None
        calls = [p for p in parts if "functionCall" in p]
        if content.get("role") == "model" and calls and i + 1 < len(contents):
            answers = [p for p in contents[i + 1].get("parts") or [] if isinstance(p, dict) and "functionResponse" in p]
            if len(answers) != len(calls):
                return _RESPONSES, None
    if "gemini-3" not in model:
        return None
    for i in _current_turn(contents):
        calls = [p for p in contents[i].get("parts") or [] if isinstance(p, dict) and "functionCall" in p]
        if calls and not calls[0].get("thoughtSignature"):
            name = (calls[0].get("functionCall") or {}).get("name", "")
            return _MISSING_SIG.format(name=name, position=i + 1), None
    return None


def _current_turn(contents: list[dict[str, Any]]) -> list[int]:
    """Model contents after the last user content that is not only function responses."""
    out: list[int] = []
    for i in range(len(contents) - 1, -1, -1):
        content = contents[i]
        parts = [p for p in content.get("parts") or [] if isinstance(p, dict)]
        if content.get("role", "user") == "user" and not all("functionResponse" in p for p in parts):
            break
        if content.get("role") == "model":
            out.append(i)
    return out


_CHECKS: dict[str, Callable[[dict[str, Any], str], Problem | None]] = {
    "anthropic": lambda body, _model: anthropic(body),
    "gemini": gemini,
    "openai": openai,
}
