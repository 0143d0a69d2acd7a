"""The real Codex CLI through detour's Responses door: the OpenAI primary rate-limits, an Anthropic model answers
and drives Codex's own shell tool, which writes a file."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx

from detour.testing import B, FakeProvider

from .conftest import CAPS, client_binary, explain, run

ANSWER = "FALLBACK-KIWI-2041"
CAPS_R = {**CAPS, "reasoning": True}


def settings(fake: FakeProvider) -> dict[str, Any]:
    return {
        "provider": {
            "oai": {"baseURL": fake.openai_base, "protocol": "openai-responses", "apiKey": "sk-oai-fake",
                    "models": {"gpt-5-codex": dict(CAPS_R)}},
            "ant": {"baseURL": fake.anthropic_base, "protocol": "anthropic", "apiKey": "sk-ant-fake",
                    "models": {"claude-x": dict(CAPS_R)}},
        },
        "model": {"primary": "oai/gpt-5-codex", "fallback": ["ant/claude-x"]},
        "state": "memory",
    }


def test_codex_exec_completes_a_tool_task_on_an_anthropic_fallback(tmp_path: Path, fake: FakeProvider,
                                                                  client_env: dict[str, str], serve) -> None:
    codex = str(client_binary("codex"))
    fake.script("gpt-5-codex", B.rate_limit(retry_after=60))
    fake.script("claude-x", B.tool_call("exec_command", {"cmd": "printf codex-was-here > result.txt"}),
                B.text(ANSWER))
    work = tmp_path / "work"
    work.mkdir()
    config = tmp_path / "detour.json"
    config.write_text(json.dumps(settings(fake)))
    served = serve(config, tmp_path)
    codex_home = tmp_path / "codex-home"
    wrote = subprocess.run([sys.executable, "-m", "detour", "codex", "--config", str(config), "--url", served.url,
                            "--path", str(codex_home / "config.toml")], capture_output=True, text=True, env=client_env,
                           check=False)
    assert wrote.returncode == 0, wrote.stderr
    written = tomllib.loads((codex_home / "config.toml").read_text())
    assert written["model_providers"]["detour"] == {"name": "detour", "base_url": served.url + "/v1",
                                                    "env_key": "DETOUR_API_KEY", "wire_api": "responses"}
    env = {**client_env, "CODEX_HOME": str(codex_home), "DETOUR_API_KEY": "anything", "PWD": str(work)}

    done = run([codex, "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
                "write codex-was-here into result.txt"], cwd=work, env=env)
    assert done.returncode == 0, explain(done, served)
    assert (work / "result.txt").read_text() == "codex-was-here", explain(done, served)
    assert ANSWER in done.stdout, explain(done, served)

    primary = [r for r in fake.requests if r.model == "gpt-5-codex"]
    fallback = [r.body for r in fake.requests if r.model == "claude-x"]
    assert primary and primary[0].protocol == "openai-responses" and primary[0].path == "/v1/responses"
    assert primary[0].body["store"] is False and primary[0].body["tools"], "Codex's body reached the primary as sent"
    assert len(fallback) >= 2, explain(done, served)
    assert any(t["name"] == "exec_command" for t in fallback[0]["tools"])
    results = [b for m in fallback[-1]["messages"] if m["role"] == "user" and isinstance(m["content"], list)
               for b in m["content"] if b.get("type") == "tool_result"]
    assert results, "the tool's output went back to the fallback as a tool_result"
    status = json.dumps(httpx.get(served.url + "/status", timeout=10).json())
    assert "oai/gpt-5-codex" in status and "rate_limited" in status, "status shows the cooled primary"


def test_codex_with_reasoning_keeps_anthropic_thinking_across_its_tool_loop(tmp_path: Path, fake: FakeProvider,
                                                                           client_env: dict[str, str], serve) -> None:
    """Codex asks for encrypted reasoning; Claude's signed thinking rides in detour's envelope and comes back
    on the tool-result turn, which the strict Anthropic fake (like the real API) requires with thinking on."""
    from detour.testing.behaviors import Reply
    from detour.testing.wire import Content, ToolCall

    codex = str(client_binary("codex"))
    fake.script("gpt-5-codex", B.rate_limit(retry_after=60))
    fake.script("claude-x", Reply(Content(text=None, thinking="I will write the file", signature="sig-codex-1",
                                          tool=ToolCall("exec_command", {"cmd": "printf thought-through > r.txt"}),
                                          finish="tool_calls")),
                B.thinking("the file is written", ANSWER, signature="sig-codex-2"))
    work = tmp_path / "work"
    work.mkdir()
    config = tmp_path / "detour.json"
    config.write_text(json.dumps(settings(fake)))
    served = serve(config, tmp_path)
    codex_home = tmp_path / "codex-home"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text('model_reasoning_effort = "high"\n')
    wrote = subprocess.run([sys.executable, "-m", "detour", "codex", "--config", str(config), "--url", served.url,
                            "--path", str(codex_home / "config.toml")], capture_output=True, text=True, env=client_env,
                           check=False)
    assert wrote.returncode == 0, wrote.stderr
    assert tomllib.loads((codex_home / "config.toml").read_text())["model_reasoning_effort"] == "high"
    env = {**client_env, "CODEX_HOME": str(codex_home), "DETOUR_API_KEY": "anything", "PWD": str(work)}

    done = run([codex, "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
                "write thought-through into r.txt"], cwd=work, env=env)
    assert done.returncode == 0 and ANSWER in done.stdout, explain(done, served)
    assert (work / "r.txt").read_text() == "thought-through"
    bodies = [r.body for r in fake.requests if r.model == "claude-x"]
    assert bodies[0]["thinking"]["type"] == "enabled", "Codex's effort became an Anthropic thinking budget"
    assistant = next(m for m in bodies[-1]["messages"] if m["role"] == "assistant")
    assert assistant["content"][0] == {"type": "thinking", "thinking": "I will write the file", "signature": "sig-codex-1"}
    assert assistant["content"][1]["type"] == "tool_use"
