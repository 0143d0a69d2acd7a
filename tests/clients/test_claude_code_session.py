"""Real Claude Code, thinking on, one task of three tool calls that crosses Anthropic -> OpenAI -> Gemini 3 ->
Anthropic mid tool loop, against the strict fakes: no upstream answers 400 and the task completes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from detour.testing import B, Behavior, FakeProvider, Recorded
from detour.testing.behaviors import Reply
from detour.testing.wire import Content, ToolCall

from .conftest import client_binary, explain, run

PRIMARY = "claude-opus-4-8"  # Claude Code 2.1.197's default model: adaptive thinking
CAPS = {"tools": True, "image": True, "reasoning": True, "thinking": True, "context": 200000, "max_output": 64000}
SECRETS = ["KIWI-4141", "PLUM-5252", "FIG-6363"]
ANSWER = "CROSSED-THREE-PROVIDERS-9090"


def _anthropic_results(body: dict[str, Any]) -> int:
    return sum(1 for m in body.get("messages", []) if isinstance(m.get("content"), list)
               for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_result")


def _openai_results(body: dict[str, Any]) -> int:
    return sum(1 for m in body.get("messages", []) if m.get("role") == "tool")


def _gemini_results(body: dict[str, Any]) -> int:
    return sum(1 for c in body.get("contents", []) for p in c.get("parts", []) if "functionResponse" in p)


def read(project: Path, i: int) -> dict[str, Any]:
    return {"file_path": str(project / f"{'abc'[i]}.txt")}


def test_claude_code_session_crosses_three_providers_mid_tool_loop(tmp_path: Path, fake: FakeProvider,
                                                                   client_env: dict[str, str], serve) -> None:
    claude = str(client_binary("claude"))
    project = tmp_path / "project"
    project.mkdir()
    for name, secret in zip("abc", SECRETS, strict=True):
        (project / f"{name}.txt").write_text(f"the secret is {secret}\n")

    def anthropic_step(req: Recorded) -> Behavior:
        if not req.body.get("tools"):
            return B.text("detour test")  # Claude Code's side requests
        done = _anthropic_results(req.body)
        if done == 0:
            return B.thinking_tool("Read a first.", "Read", read(project, 0), signature="sig-claude-1")
        if done == 1:
            return B.rate_limit(retry_after=1)
        return B.text(ANSWER)

    def openai_step(req: Recorded) -> Behavior:
        if _openai_results(req.body) == 1:
            return B.thinking_tool("Now b.", "Read", read(project, 1))
        return B.overloaded()

    def gemini_step(req: Recorded) -> Behavior:  # answers after the primary's cooldown has passed
        tool = ToolCall("Read", read(project, 2))
        return Reply(Content(text=None, thinking="Then c.", signature="gem-sig-c", tool=tool, finish="tool_calls"),
                     delay=1.2)

    fake.script(PRIMARY, B.fn(anthropic_step))
    fake.script("gpt-x", B.fn(openai_step))
    fake.script("gemini-3-pro", B.fn(gemini_step))
    config = project / "detour.json"
    config.write_text(json.dumps({
        "provider": {
            "ant": {"baseURL": fake.anthropic_base, "protocol": "anthropic", "apiKey": "sk-ant-fake",
                    "models": {PRIMARY: dict(CAPS)}},
            "oai": {"baseURL": fake.openai_base, "protocol": "openai", "apiKey": "sk-oai-fake",
                    "models": {"gpt-x": dict(CAPS)}},
            "gem": {"baseURL": fake.gemini_base, "protocol": "gemini", "apiKey": "gem-fake",
                    "models": {"gemini-3-pro": dict(CAPS)}},
        },
        "model": {"primary": f"ant/{PRIMARY}", "fallback": ["oai/gpt-x", "gem/gemini-3-pro"], "retryAttempts": 0,
                  "affinity": "none"},
        "state": "memory",
        "discovery": False,
    }))
    served = serve(config, project)
    names = dict.fromkeys(("ANTHROPIC_MODEL", "ANTHROPIC_SMALL_FAST_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL",
                           "ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL"), PRIMARY)
    env = {**client_env, **names, "PWD": str(project), "ANTHROPIC_BASE_URL": served.url,
           "ANTHROPIC_API_KEY": "anything"}

    done = run([claude, "-p", "Read a.txt, b.txt and c.txt one at a time and tell me the secrets.",
                "--allowedTools", "Read"], cwd=project, env=env)
    assert done.returncode == 0 and ANSWER in done.stdout, explain(done, served)
    assert [(r.model, r.refused) for r in fake.requests if r.refused] == [], explain(done, served)
    agent = [r for r in fake.requests if r.body.get("tools")]
    order = [r.model for r in agent]
    assert order == [PRIMARY, PRIMARY, "gpt-x", "gpt-x", "gemini-3-pro", PRIMARY], (order, explain(done, served))

    final = agent[-1].body
    assert _anthropic_results(final) == 3, explain(done, served)
    assert all(secret in json.dumps(final) for secret in SECRETS)
    thinking = [b for m in final["messages"] if m["role"] == "assistant" and isinstance(m["content"], list)
                for b in m["content"] if b.get("type") == "thinking"]
    assert [b["signature"] for b in thinking] == ["sig-claude-1"], "only Anthropic's own block goes back to it"
    assert final["thinking"] == {"type": "adaptive"}, "Anthropic started this turn: it keeps thinking"
    gemini = agent[4].body
    calls = [p for c in gemini["contents"] if c["role"] == "model" for p in c["parts"] if "functionCall" in p]
    assert [c.get("thoughtSignature") for c in calls] == ["skip_thought_signature_validator"] * 2
