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
    return {"primary": primary, "fallback": list(fallback), "retryAttempts": 0}


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
