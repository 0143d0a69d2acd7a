"""History repair as pure functions: signer rules, the open-loop downgrade, tool-id forms, signature wrapping."""

from __future__ import annotations

import base64
import re

from detour.protocol import anthropic, gemini, history, openai_chat
from detour.protocol.messages import (
    Message,
    Request,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolResultPart,
)


def loop(first: list, *, thinking: str | None = "adaptive") -> Request:
    """user -> assistant(first + a tool call) -> tool result: an unfinished tool loop."""
    return Request(
        "m",
        [
            Message("user", [TextPart("fix it")]),
            Message("assistant", [*first, ToolCallPart("toolu_1", "Read", "{}")]),
            Message("tool", [ToolResultPart("toolu_1", [TextPart("x")])]),
        ],
        thinking=thinking,  # type: ignore[arg-type]
    )


ANT = ThinkingPart("plan", "sig-a", origin="anthropic")
GEM = ThinkingPart("", "Z2Vt", origin="gemini")
UNSIGNED = ThinkingPart("deepseek reasons")


def test_signed_blocks_go_back_only_to_their_signer() -> None:
    req = loop([ANT, GEM, UNSIGNED])
    to_gemini = history.prepare(req, "gemini", "generic").request.messages[1].content
    assert GEM in to_gemini and not any(p is ANT for p in to_gemini)
    to_openai = history.prepare(req, "openai", "deepseek").request.messages[1].content
    assert [p for p in to_openai if isinstance(p, ThinkingPart)] == [UNSIGNED], "only unsigned text may go on"
    assert req.messages[1].content[:3] == [ANT, GEM, UNSIGNED], "the caller's request is never changed"


def test_anthropic_keeps_its_turn_when_it_started_it() -> None:
    prepared = history.prepare(loop([ANT, GEM]), "anthropic", "anthropic", thinking_on=True)
    assert prepared.notes == () and prepared.request.thinking == "adaptive"
    assert prepared.request.messages[1].content[0] is ANT


def test_anthropic_thinking_is_disabled_when_another_model_opened_the_loop() -> None:
    req = loop([UNSIGNED])
    req.extra = {"context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}}
    prepared = history.prepare(req, "anthropic", "anthropic", thinking_on=True)
    assert prepared.notes == (history.DOWNGRADE_THINKING,)
    body = anthropic.encode_request(prepared.request, "claude-x")
    assert body["thinking"] == {"type": "disabled"} and "context_management" not in body
    assert [b["type"] for b in body["messages"][1]["content"]] == ["tool_use"]


def test_a_closed_loop_needs_no_downgrade() -> None:
    req = loop([UNSIGNED])
    req.messages.append(Message("assistant", [TextPart("done")]))
    req.messages.append(Message("user", [TextPart("next")]))
    assert history.open_turn(req.messages) is None
    assert history.prepare(req, "anthropic", "anthropic", thinking_on=True).notes == ()


def test_open_turn_spans_every_step_of_the_loop() -> None:
    req = loop([ANT])
    req.messages += [Message("assistant", [ToolCallPart("call_2", "Grep", "{}")]),
                     Message("tool", [ToolResultPart("call_2", [TextPart("y")])])]
    assert history.open_turn(req.messages) == [1, 3]


def test_tool_ids_take_each_targets_form_and_still_pair() -> None:
    req = loop([])
    req.messages[1].content[-1] = ToolCallPart("toolu_" + "x" * 50, "Read", "{}")
    req.messages[2].content[0] = ToolResultPart("toolu_" + "x" * 50, [TextPart("x")])
    for flavor, pattern in (("mistral", r"^[a-zA-Z0-9]{9}$"), ("openai", r"^.{1,40}$")):
        out = history.prepare(req, "openai", flavor).request.messages
        call, result = out[1].content[-1], out[2].content[0]
        assert isinstance(call, ToolCallPart) and isinstance(result, ToolResultPart)
        assert re.match(pattern, call.id) and call.id == result.tool_call_id
        assert history.prepare(req, "openai", flavor).request.messages[1].content[-1] == call, "stable"
    odd = loop([])
    odd.messages[1].content[-1] = ToolCallPart("a.b", "Read", "{}")
    odd.messages[2].content[0] = ToolResultPart("a.b", [TextPart("x")])
    assert history.anthropic_id("a.b") != "a_b", "sanitising must not merge two ids into one"
    body = anthropic.encode_request(history.prepare(odd, "anthropic", "anthropic").request, "c")
    assert body["messages"][1]["content"][0]["id"] == body["messages"][2]["content"][0]["tool_use_id"]


def test_unchanged_history_is_the_same_object() -> None:
    req = Request("m", [Message("user", [TextPart("hi")])])
    assert history.prepare(req, "anthropic", "anthropic", thinking_on=True).request is req


def test_signatures_shown_to_a_client_say_who_signed_them() -> None:
    assert history.client_signature("sig-a", "anthropic", "anthropic") == "sig-a"
    shown = history.client_signature("Z2Vt", "gemini", "anthropic")
    assert shown == "detour1.gemini.Z2Vt" and history.read_signature(shown, "anthropic") == ("Z2Vt", "gemini")
    assert history.read_signature("sig-a", "anthropic") == ("sig-a", "anthropic")
    on_gemini = history.client_signature("sig-a", "anthropic", "gemini")
    assert on_gemini is not None
    base64.b64decode(on_gemini, validate=True)  # the SDKs decode thoughtSignature as bytes
    assert history.read_signature(on_gemini, "gemini") == ("sig-a", "anthropic")
    assert history.read_signature("Z2Vt", "gemini") == ("Z2Vt", "gemini")


def test_doors_round_trip_a_foreign_signature() -> None:
    from detour.protocol.messages import Response

    resp = Response("r", "gem", [ThinkingPart("t", "Z2Vt", origin="gemini"), ToolCallPart("c1", "f", "{}")])
    shown = anthropic.encode_response(resp, "m")
    assert shown["content"][0]["signature"] == "detour1.gemini.Z2Vt"
    back = anthropic.decode_request({"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": "x"}, {"role": "assistant", "content": shown["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "r"}]}]})
    part = back.messages[1].content[0]
    assert isinstance(part, ThinkingPart) and part.origin == "gemini" and part.signature == "Z2Vt"
    sent = gemini.encode_request(history.prepare(back, "gemini", "generic").request, "gemini-3-pro")
    call = next(p for c in sent["contents"] for p in c["parts"] if "functionCall" in p)
    assert call["thoughtSignature"] == "Z2Vt"
    to_openai = openai_chat.encode_request(history.prepare(back, "openai", "openai").request, "gpt-x")
    assert "Z2Vt" not in str(to_openai)


def test_an_unsigned_block_a_client_sent_back_never_reaches_anthropic_raw() -> None:
    """Claude Code returns another model's reasoning with `signature: ""`; the pass-through must not send it."""
    body = {"model": "m", "max_tokens": 5, "thinking": {"type": "adaptive"}, "messages": [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "sig-a"},
                                          {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "r"}]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "other model", "signature": ""},
                                          {"type": "tool_use", "id": "t2", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t2", "content": "r"}]}]}
    req = anthropic.decode_request(body)
    sent = anthropic.encode_request(history.prepare(req, "anthropic", "anthropic", thinking_on=True).request, "m")
    blocks = [b for m in sent["messages"] if m["role"] == "assistant" for b in m["content"]]
    assert [b.get("signature") for b in blocks if b["type"] == "thinking"] == ["sig-a"]
    assert sent["thinking"] == {"type": "adaptive"}, "Anthropic started the turn: no downgrade"
