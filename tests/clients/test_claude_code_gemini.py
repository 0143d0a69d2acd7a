"""Real Claude Code through detour with a Gemini-protocol fallback that omits functionCall ids: a task of three
consecutive tool calls completes (a repeated synthesised `call_0` made Claude Code drop each result and loop)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from detour.testing import B, Behavior, FakeProvider, Recorded

from .conftest import client_binary, explain, run

PRIMARY = "claude-opus-4-8"  # Claude Code 2.1.197's default model name
CAPS = {"tools": True, "image": True, "reasoning": True, "thinking": True, "context": 200000, "max_output": 64000}
SECRETS = ["KIWI-1031", "PLUM-2262", "FIG-3493"]
ANSWER = "ALL-THREE-READ-7788"


def _results(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [p["functionResponse"] for c in body.get("contents", []) for p in c.get("parts", [])
            if isinstance(p, dict) and "functionResponse" in p]


def gemini_agent(project: Path) -> Behavior:
    """Reads a.txt, b.txt, c.txt one call per turn (no functionCall.id, as Gemini often sends), then answers."""
    def step(req: Recorded) -> Behavior:
        if not req.body.get("tools"):
            return B.text("detour test")  # Claude Code's side requests (titles, summaries)
        done = len(_results(req.body))
        if done < len(SECRETS):
            return B.tool_call("Read", {"file_path": str(project / f"{'abc'[done]}.txt")})
        return B.text(ANSWER)

    return B.fn(step)


@pytest.mark.parametrize("model_env", [True, False], ids=["ANTHROPIC_MODEL", "claude-code-default-name"])
def test_claude_code_completes_three_tool_calls_served_by_gemini(tmp_path: Path, fake: FakeProvider,
                                                                 client_env: dict[str, str], serve,
                                                                 model_env: bool) -> None:
    claude = str(client_binary("claude"))
    project = tmp_path / "project"
    project.mkdir()
    for name, secret in zip("abc", SECRETS, strict=True):
        (project / f"{name}.txt").write_text(f"the secret is {secret}\n")
    fake.script(PRIMARY, B.rate_limit(retry_after=20))
    fake.script("gem-x", gemini_agent(project))
    config = project / "detour.json"
    config.write_text(json.dumps({
        "provider": {
            "ant": {"baseURL": fake.anthropic_base, "protocol": "anthropic", "apiKey": "sk-ant-fake",
                    "models": {PRIMARY: dict(CAPS)}},
            "gem": {"baseURL": fake.gemini_base, "protocol": "gemini", "apiKey": "gem-fake",
                    "models": {"gem-x": dict(CAPS)}},
        },
        "model": {"primary": f"ant/{PRIMARY}", "fallback": ["gem/gem-x"]},
        "state": "memory",
        "discovery": False,
    }))
    served = serve(config, project)
    names = dict.fromkeys(("ANTHROPIC_MODEL", "ANTHROPIC_SMALL_FAST_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL",
                           "ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL"), PRIMARY) if model_env else {}
    env = {**client_env, **names, "PWD": str(project), "ANTHROPIC_BASE_URL": served.url,
           "ANTHROPIC_API_KEY": "anything"}

    done = run([claude, "-p", "Read a.txt, b.txt and c.txt one at a time and tell me the secrets.",
                "--allowedTools", "Read"], cwd=project, env=env)
    assert done.returncode == 0 and ANSWER in done.stdout, explain(done, served)
    logged = [line for line in served.output().splitlines() if "request door=" in line]
    assert logged and all("served=gem/gem-x" in line for line in logged), explain(done, served)  # the chain served all

    turns = [r for r in fake.requests if r.model == "gem-x" and r.body.get("tools")]
    final = _results(turns[-1].body)
    assert len(final) == 3, explain(done, served)  # every result reached Gemini, in order, with the file's text
    for result, secret in zip(final, SECRETS, strict=True):
        assert result["name"] == "Read" and secret in json.dumps(result["response"]), explain(done, served)
    ids = [r.get("id") for r in final]
    assert len(set(ids)) == 3 and all(ids), ids  # the ids detour minted were unique, and came back from Claude Code
    assert len(turns) == 4, explain(done, served)  # three tool turns and the answer: no retry loop
