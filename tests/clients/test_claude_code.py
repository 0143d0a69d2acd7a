"""Real Claude Code through detour's Anthropic door: the primary rate-limits, an OpenAI-protocol model answers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from detour.testing import B, FakeProvider

from .conftest import client_binary, explain, run

ANSWER = "FALLBACK-MANGO-5519"
PRIMARY = "claude-opus-4-8"  # Claude Code 2.1.197's default model: adaptive thinking, output_config, in-line system
CAPS = {"tools": True, "image": True, "reasoning": True, "thinking": True, "context": 200000, "max_output": 64000}


def settings(fake: FakeProvider) -> dict[str, Any]:
    return {
        "provider": {
            "ant": {"baseURL": fake.anthropic_base, "protocol": "anthropic", "apiKey": "sk-ant-fake",
                    "models": {PRIMARY: dict(CAPS)}},
            "oai": {"baseURL": fake.openai_base, "protocol": "openai", "apiKey": "sk-oai-fake",
                    "models": {"gpt-x": dict(CAPS)}},
        },
        "model": {"primary": f"ant/{PRIMARY}", "fallback": ["oai/gpt-x"]},
        "state": "memory",
    }


def text_of(content: Any) -> str:
    """The text of a string or a list of text blocks (both protocols)."""
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content or [] if isinstance(block, dict))


@pytest.mark.parametrize("model_name", [PRIMARY, "detour"])
def test_claude_code_answers_from_an_openai_fallback(tmp_path: Path, fake: FakeProvider,
                                                     client_env: dict[str, str], serve, model_name: str) -> None:
    claude = str(client_binary("claude"))
    fake.script(PRIMARY, B.rate_limit(retry_after=20))
    fake.script("gpt-x", B.text(ANSWER))
    project = tmp_path / "project"
    project.mkdir()
    config = project / "detour.json"
    config.write_text(json.dumps(settings(fake)))
    served = serve(config, project)
    # every model name Claude Code may send (main, small/fast) is one the gateway maps, so nothing leaves 127.0.0.1
    names = dict.fromkeys(("ANTHROPIC_MODEL", "ANTHROPIC_SMALL_FAST_MODEL", "ANTHROPIC_DEFAULT_HAIKU_MODEL",
                           "ANTHROPIC_DEFAULT_SONNET_MODEL", "ANTHROPIC_DEFAULT_OPUS_MODEL"), model_name)
    env = {**client_env, **names, "PWD": str(project), "ANTHROPIC_BASE_URL": served.url,
           "ANTHROPIC_API_KEY": "anything"}

    done = run([claude, "-p", "say hi"], cwd=project, env=env)
    assert done.returncode == 0 and ANSWER in done.stdout, explain(done, served)
    assert "no route" not in served.output(), explain(done, served)

    sent = [r for r in fake.requests if r.model == PRIMARY and r.body.get("tools")]
    translated = [r for r in fake.requests if r.model == "gpt-x" and r.body.get("tools")]
    assert sent and translated, explain(done, served)
    check_passthrough(sent[-1].body)
    check_translation(sent[-1].body, translated[-1].body)


def check_passthrough(body: dict[str, Any]) -> None:
    """Anthropic to Anthropic: Claude Code's newer fields reach the primary unchanged."""
    assert body["stream"] is True
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"].get("effort")
    assert body["context_management"]["edits"]
    assert any("cache_control" in block for block in body["system"])
    assert any(m["role"] == "system" for m in body["messages"]), "the in-line system message was dropped"
    assert len(body["tools"]) >= 20


def check_translation(sent: dict[str, Any], out: dict[str, Any]) -> None:
    """Anthropic to OpenAI: tools, system text (top and in-line), effort and limits survive; cache_control goes."""
    assert out["stream"] is True
    assert [t["function"]["name"] for t in out["tools"]] == [t["name"] for t in sent["tools"]]
    assert all(t["type"] == "function" and t["function"]["parameters"] == s["input_schema"]
               for t, s in zip(out["tools"], sent["tools"], strict=True))
    assert out["messages"][0]["role"] == "system"
    system = text_of(out["messages"][0]["content"])
    assert all(block["text"] in system for block in sent["system"])
    inline = [text_of(m["content"]) for m in sent["messages"] if m["role"] == "system"]
    out_system = [text_of(m["content"]) for m in out["messages"][1:] if m["role"] == "system"]
    assert inline and out_system == inline
    assert "say hi" in json.dumps(out["messages"])
    assert out["reasoning_effort"] == sent["output_config"]["effort"]
    assert out["max_tokens"] == sent["max_tokens"]
    assert "cache_control" not in json.dumps(out)


def test_claude_code_with_its_own_default_model_name_is_served_by_the_configured_chain(
        tmp_path: Path, fake: FakeProvider, client_env: dict[str, str], serve) -> None:
    """No ANTHROPIC_MODEL: Claude Code sends its own default name, which no chain and no catalog entry holds.
    The gateway serves it with the configured chain (the 'anthropic' provider has no key here), not a 404."""
    claude = str(client_binary("claude"))
    fake.script("claude-x", B.text(ANSWER))
    project = tmp_path / "project"
    project.mkdir()
    config = project / "detour.json"
    config.write_text(json.dumps({
        "provider": {"ant": {"baseURL": fake.anthropic_base, "protocol": "anthropic", "apiKey": "sk-ant-fake",
                             "models": {"claude-x": dict(CAPS)}}},
        "model": {"primary": "ant/claude-x"},
        "state": "memory",
    }))
    served = serve(config, project)
    env = {k: v for k, v in client_env.items() if not k.startswith("ANTHROPIC_")}
    env.update({"PWD": str(project), "ANTHROPIC_BASE_URL": served.url, "ANTHROPIC_API_KEY": "anything"})

    done = run([claude, "-p", "say hi"], cwd=project, env=env)
    assert done.returncode == 0 and ANSWER in done.stdout, explain(done, served)
    asked = {r.body.get("model") for r in fake.requests}
    assert asked == {"claude-x"}, explain(done, served)  # every request reached the chain's model
    sent_names = set(re.findall(r"request door=anthropic model=(\S+) served=ant/claude-x", served.output()))
    assert sent_names and not sent_names & {"claude-x", "ant/claude-x", "detour"}, explain(done, served)
