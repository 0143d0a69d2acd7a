"""A long agent session crossing providers mid tool loop, over real sockets, against the strict fakes.

The fakes refuse what the real APIs refuse (detour.testing.strict): a thinking block another provider signed,
an open tool loop whose turn does not start with Anthropic's thinking, a Gemini 3 function call without a
thought signature, tool ids in a form the target refuses, results that pair with no call. Each test drives
the gateway through the official SDKs, replays the client's own history each turn, and checks that no
upstream ever answered 400 and that the client only ever saw its own tool ids.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from detour.testing import B, FakeProvider, trust_signature
from detour.testing.behaviors import Recorded

FIXTURE = Path(__file__).parents[1] / "protocol" / "fixtures" / "anthropic" / "claude_code_request.json"
CAPS = {"tools": True, "reasoning": True, "context": 200000, "max_output": 64000, "cost_input": 1.0, "cost_output": 4.0}
COOL = 0.6  # seconds a rate-limited primary stays out


def providers(fake: FakeProvider) -> dict[str, Any]:
    return {
        "ant": {"baseURL": fake.anthropic_base, "protocol": "anthropic", "apiKey": "sk-ant-fake",
                "models": {"claude-x": dict(CAPS)}},
        "oai": {"baseURL": fake.openai_base, "protocol": "openai", "apiKey": "sk-oai-fake",
                "models": {"gpt-x": dict(CAPS)}},
        "gem": {"baseURL": fake.gemini_base, "protocol": "gemini", "apiKey": "gem-fake",
                "models": {"gemini-3-pro": dict(CAPS)}},
    }


def chain(primary: str, *fallback: str) -> dict[str, Any]:
    return {"primary": primary, "fallback": list(fallback), "retryAttempts": 0, "affinity": "none"}


def claude_code_body() -> dict[str, Any]:
    body = json.loads(FIXTURE.read_text())
    for message in body["messages"]:  # recorded from the live API: real Anthropic signatures
        for block in message["content"] if isinstance(message["content"], list) else []:
            if block.get("type") == "thinking":
                trust_signature("anthropic", block["signature"])
    body["model"] = "detour"
    return body


def refused(fake: FakeProvider) -> list[tuple[str, str]]:
    return [(r.model or "", r.refused) for r in fake.requests if r.refused]


def served(fake: FakeProvider, since: int) -> list[str]:
    return [r.model or "" for r in fake.requests[since:]]


class ClaudeCode:
    """Sends the growing conversation as Claude Code does: streamed, whole history, its own tool ids."""

    def __init__(self, url: str) -> None:
        self.client = anthropic.Anthropic(base_url=url, api_key="unused", max_retries=0)
        self.body = claude_code_body()
        self.seen_ids: list[str] = []

    def turn(self) -> dict[str, Any]:
        body = self.body
        extra = {k: v for k, v in body.items() if k not in ("model", "max_tokens", "messages", "system", "tools", "metadata")}
        with self.client.messages.stream(
            model=body["model"], max_tokens=body["max_tokens"], messages=body["messages"], system=body["system"],
            tools=body["tools"], metadata=body["metadata"], extra_body=extra,
        ) as stream:
            final = stream.get_final_message()
        blocks = [b.model_dump(exclude_none=True) for b in final.content]
        self.body["messages"].append({"role": "assistant", "content": blocks})
        return {"blocks": blocks, "stop": final.stop_reason, "model": final.model}

    def tool_results(self, blocks: list[dict[str, Any]]) -> None:
        uses = [b for b in blocks if b["type"] == "tool_use"]
        assert uses, f"expected a tool call, got {blocks}"
        self.seen_ids += [u["id"] for u in uses]
        content = [{"type": "tool_result", "tool_use_id": u["id"], "content": f"result of {u['name']}"} for u in uses]
        self.body["messages"].append({"role": "user", "content": content})

    def say(self, text: str) -> None:
        self.body["messages"].append({"role": "user", "content": [{"type": "text", "text": text}]})


def _anthropic_ids(rec: Recorded) -> list[str]:
    out = []
    for message in rec.body.get("messages", []):
        for block in message["content"] if isinstance(message["content"], list) else []:
            if block.get("type") == "tool_use":
                out.append(block["id"])
    return out


def test_claude_code_session_switches_mid_tool_loop_and_back(make_gateway, fake: FakeProvider) -> None:
    fake.script("claude-x",
                B.thinking_tool("Read the file first.", "Read", {"file_path": "a.py"}, id="toolu_ant_1", signature="sig-ant-1"),
                B.rate_limit(retry_after=COOL),
                B.text("All done: the bug was in a.py."))
    fake.script("gpt-x",
                B.thinking_tool("Now grep for callers.", "Grep", {"pattern": "foo"}, id="call_oai_1"),
                B.overloaded())
    fake.script("gemini-3-pro", B.thinking_tool("Edit the caller.", "Edit", {"file_path": "b.py"}, signature="gem-sig-1"))
    gw = make_gateway(provider=providers(fake), model=chain("ant/claude-x", "oai/gpt-x", "gem/gemini-3-pro"))
    cc = ClaudeCode(gw.url)
    cc.say("Please fix the failing test.")

    first = cc.turn()  # Anthropic thinks and calls a tool
    assert first["model"] == "ant/claude-x" and first["blocks"][0] == {
        "type": "thinking", "thinking": "Read the file first.", "signature": "sig-ant-1"}
    cc.tool_results(first["blocks"])

    start = len(fake.requests)
    second = cc.turn()  # Anthropic rate-limited: OpenAI continues the open tool loop
    assert served(fake, start) == ["claude-x", "gpt-x"] and second["model"] == "oai/gpt-x"
    cc.tool_results(second["blocks"])

    start = len(fake.requests)
    third = cc.turn()  # Anthropic cooling, OpenAI overloaded: Gemini 3 continues it
    assert served(fake, start) == ["gpt-x", "gemini-3-pro"] and third["model"] == "gem/gemini-3-pro"
    gem_thinking = third["blocks"][0]
    assert gem_thinking["type"] == "thinking" and gem_thinking["signature"].startswith("detour1.gemini.")
    cc.tool_results(third["blocks"])
    gemini_sent = fake.requests[-1].body
    model_turns = [c for c in gemini_sent["contents"] if c["role"] == "model"]
    calls = [p for c in model_turns for p in c["parts"] if "functionCall" in p]
    assert [c["functionCall"]["name"] for c in calls][-2:] == ["Read", "Grep"]
    assert all(c.get("thoughtSignature") == "skip_thought_signature_validator" for c in calls[-2:]), \
        "calls made by other models carry Gemini's documented bypass"
    assert "sig-ant-1" not in json.dumps(gemini_sent), "Anthropic's signature never goes to Gemini"

    time.sleep(COOL + 0.2)
    start = len(fake.requests)
    fourth = cc.turn()  # the primary is back: Anthropic finishes the loop
    assert served(fake, start) == ["claude-x"] and fourth["model"] == "ant/claude-x" and fourth["stop"] == "end_turn"
    sent = fake.requests[-1].body
    thinking = [b for m in sent["messages"] if m["role"] == "assistant" for b in m["content"]
                if isinstance(b, dict) and b["type"] in ("thinking", "redacted_thinking")]
    assert {"type": "thinking", "thinking": "Read the file first.", "signature": "sig-ant-1"} in thinking
    assert all(not b.get("signature", "").startswith("detour1.") and b.get("signature") != "" for b in thinking), \
        "only Anthropic's own blocks go back to Anthropic"
    assert sent["thinking"] == {"type": "adaptive"}, "the turn started with Anthropic's thinking: no downgrade"
    assert all(re.match(r"^[a-zA-Z0-9_-]+$", i) for i in _anthropic_ids(fake.requests[-1]))

    assert refused(fake) == [], "no upstream answered 400"
    gemini_id = cc.seen_ids[2]
    assert cc.seen_ids[:2] == ["toolu_ant_1", "call_oai_1"] and gemini_id
    assert len(set(cc.seen_ids)) == 3
    client_ids = [b["id"] for m in cc.body["messages"] if m["role"] == "assistant" for b in m["content"]
                  if b["type"] == "tool_use"]
    assert client_ids[-3:] == cc.seen_ids, "the client's history holds exactly the ids it was given"


def test_anthropic_downgrades_thinking_when_another_model_opened_the_turn(make_gateway, fake: FakeProvider) -> None:
    fake.script("claude-x", B.rate_limit(retry_after=COOL), B.text("Finished."))
    fake.script("gpt-x", B.thinking_tool("Look around.", "Glob", {"pattern": "*.py"}, id="call_oai_9"))
    gw = make_gateway(provider=providers(fake), model=chain("ant/claude-x", "oai/gpt-x"))
    cc = ClaudeCode(gw.url)
    cc.say("Start something new.")
    first = cc.turn()
    assert first["model"] == "oai/gpt-x"
    assert first["blocks"][0] == {"type": "thinking", "thinking": "Look around.", "signature": ""}
    cc.tool_results(first["blocks"])
    time.sleep(COOL + 0.2)
    second = cc.turn()
    assert second["model"] == "ant/claude-x"
    sent = fake.requests[-1].body
    assert sent["thinking"] == {"type": "disabled"}, "Anthropic's advice for a turn it did not start: thinking off"
    assert "context_management" not in sent, "clear_thinking edits need thinking on"
    assert refused(fake) == []
    turns = gw.get("/status").json()["sessions"]["5e55-10n"]["turns"]  # Claude Code's metadata names the session
    assert [t["model"] for t in turns] == ["oai/gpt-x", "ant/claude-x"]
    assert turns[-1]["notes"] == ["thinking disabled: the open tool loop's last step came from another model"]


def test_the_strict_fake_refuses_what_detour_repairs(fake: FakeProvider) -> None:
    """Without the repair the same histories are refused: the checks above can fail."""
    body = claude_code_body()
    body["model"] = "claude-x"
    body["messages"] += [
        {"role": "user", "content": [{"type": "text", "text": "go"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_oai_1", "name": "Read", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_oai_1", "content": "x"}]},
    ]
    client = anthropic.Anthropic(base_url=fake.url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="Expected `thinking` or `redacted_thinking`, but found `tool_use`"):
        client.messages.create(**{k: body[k] for k in ("model", "messages", "system", "thinking")}, max_tokens=1024)
    body["messages"][-2]["content"].insert(0, {"type": "thinking", "thinking": "t", "signature": "detour1.gemini.Zm9v"})
    with pytest.raises(anthropic.BadRequestError, match=r"Invalid `signature` in `thinking` block"):
        client.messages.create(**{k: body[k] for k in ("model", "messages", "system", "thinking")}, max_tokens=1024)
    oai = openai.OpenAI(base_url=fake.openai_base, api_key="k", max_retries=0)
    long_id = "toolu_" + "x" * 40
    with pytest.raises(openai.BadRequestError, match="string too long"):
        oai.chat.completions.create(model="gpt-x", messages=[
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": long_id, "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": long_id, "content": "r"}])


class OpenCode:
    """An OpenAI-door agent: streamed chat completions, the whole history each turn, its own tool ids."""

    def __init__(self, url: str) -> None:
        self.client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": "You are a coding agent."}]
        self.seen_ids: list[str] = []

    def turn(self) -> tuple[str, list[dict[str, Any]], str]:
        stream = self.client.chat.completions.create(
            model="detour", messages=self.messages, stream=True, stream_options={"include_usage": True},
            reasoning_effort="high", tools=[{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
                                            for n in ("Read", "Edit", "Grep")])
        calls: dict[int, dict[str, Any]] = {}
        text, model = "", ""
        for chunk in stream:
            model = chunk.model or model
            for choice in chunk.choices:
                text += choice.delta.content or ""
                for tc in choice.delta.tool_calls or []:
                    call = calls.setdefault(tc.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
                    call["id"] = tc.id or call["id"]
                    if tc.function is not None:
                        call["function"]["name"] += tc.function.name or ""
                        call["function"]["arguments"] += tc.function.arguments or ""
        tool_calls = [calls[i] for i in sorted(calls)]
        message: dict[str, Any] = {"role": "assistant", "content": text or None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        self.messages.append(message)
        return model, tool_calls, text

    def tool_results(self, calls: list[dict[str, Any]]) -> None:
        assert calls, "expected a tool call"
        for call in calls:
            self.seen_ids.append(call["id"])
            self.messages.append({"role": "tool", "tool_call_id": call["id"], "content": f"result of {call['function']['name']}"})


def test_openai_door_session_through_anthropic_gemini_and_mistral(make_gateway, fake: FakeProvider) -> None:
    fake.script("claude-x",
                B.thinking_tool("Read it.", "Read", {"file_path": "a.py"}, id="toolu_ant_7", signature="sig-ant-7"),
                B.rate_limit(retry_after=COOL),
                B.text("Fixed."))
    fake.script("gemini-3-pro", B.thinking_tool("Grep callers.", "Grep", {"pattern": "f("}, signature="gem-sig-7"),
                B.overloaded())
    fake.script("mistral-large", B.tool_call("Edit", {"file_path": "b.py"}, id="Ab3dE6gH9"))
    providers_ = {**providers(fake), "mistral": {"baseURL": fake.openai_base, "protocol": "openai",
                                                   "apiKey": "mistral-fake", "models": {"mistral-large": dict(CAPS)}}}
    gw = make_gateway(provider=providers_, model=chain("ant/claude-x", "gem/gemini-3-pro", "mistral/mistral-large"))
    oc = OpenCode(gw.url)
    oc.messages.append({"role": "user", "content": "Fix the failing test."})

    model, calls, _ = oc.turn()
    assert model == "ant/claude-x" and calls[0]["id"] == "toolu_ant_7"
    oc.tool_results(calls)
    model, calls, _ = oc.turn()  # Anthropic rate-limited: Gemini 3 continues the loop
    assert model == "gem/gemini-3-pro"
    oc.tool_results(calls)
    gemini_calls = [p for c in fake.requests[-1].body["contents"] if c["role"] == "model" for p in c["parts"]
                    if "functionCall" in p]
    assert gemini_calls[0]["thoughtSignature"] == "skip_thought_signature_validator"
    model, calls, _ = oc.turn()  # Gemini overloaded, Anthropic cooling: Mistral, which takes nine-character ids
    assert model == "mistral/mistral-large"
    oc.tool_results(calls)
    mistral_ids = [tc["id"] for m in fake.requests[-1].body["messages"] for tc in m.get("tool_calls") or []]
    assert len(mistral_ids) == 2 and all(re.match(r"^[a-zA-Z0-9]{9}$", i) for i in mistral_ids)
    answered = [m["tool_call_id"] for m in fake.requests[-1].body["messages"] if m["role"] == "tool"]
    assert answered == mistral_ids, "every result still pairs with its call"

    time.sleep(COOL + 0.2)
    model, calls, text = oc.turn()  # back on the primary, which did not start this turn's thinking
    assert model == "ant/claude-x" and text == "Fixed." and not calls
    sent = fake.requests[-1].body
    assert sent["thinking"] == {"type": "disabled"}
    assert next(b["id"] for m in sent["messages"] if m["role"] == "assistant" for b in m["content"]
                if b["type"] == "tool_use") == "toolu_ant_7"
    assert refused(fake) == [], "no upstream answered 400"
    assert oc.seen_ids[0] == "toolu_ant_7" and oc.seen_ids[2] == "Ab3dE6gH9" and len(set(oc.seen_ids)) == 3
    assert [tc["id"] for m in oc.messages for tc in m.get("tool_calls") or []] == oc.seen_ids
