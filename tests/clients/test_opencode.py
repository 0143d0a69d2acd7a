"""The real OpenCode CLI uses detour as its provider, configured by `detour opencode --write` in one opencode.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from detour._jsonc import loads
from detour.testing import B, FakeProvider

from .conftest import client_binary, explain, free_port, run

ANSWER = "FALLBACK-PINEAPPLE-7731"

INITIAL = """{
  // kept: a comment of the user's
  "autoupdate": false,
  "share": "disabled",
  "detour": %s
}
"""


def detour_settings(fake: FakeProvider, port: int) -> dict[str, object]:
    """Primary on an Anthropic-protocol fake, fallback on an OpenAI-protocol fake; limits differ on purpose."""
    return {
        "provider": {
            "ant": {"baseURL": fake.anthropic_base, "protocol": "anthropic", "apiKey": "sk-ant-fake",
                    "models": {"claude-x": {"tools": True, "context": 200000, "max_output": 8192}}},
            "oai": {"baseURL": fake.openai_base, "protocol": "openai", "apiKey": "sk-oai-fake",
                    "models": {"gpt-x": {"tools": True, "context": 128000, "max_output": 16384}}},
        },
        "model": {"primary": "ant/claude-x", "fallback": ["oai/gpt-x"]},
        "state": "memory",
        "server": {"port": port},
    }


def write_config(project: Path, fake: FakeProvider, port: int, env: dict[str, str]) -> Path:
    path = project / "opencode.json"
    path.write_text(INITIAL % json.dumps(detour_settings(fake, port), indent=2))
    cmd = [sys.executable, "-m", "detour", "opencode", "--write", str(path)]
    done = subprocess.run(cmd, check=False, cwd=project, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return path


def test_detour_opencode_write_keeps_the_file_and_sets_the_provider(tmp_path: Path, fake: FakeProvider,
                                                                   client_env: dict[str, str]) -> None:
    port = free_port()
    path = write_config(tmp_path, fake, port, client_env)
    text = path.read_text()
    doc = loads(text)
    assert "// kept: a comment of the user's" in text
    assert doc["autoupdate"] is False and doc["share"] == "disabled"
    assert doc["detour"] == detour_settings(fake, port)
    assert doc["model"] == "detour/detour" and doc["$schema"] == "https://opencode.ai/config.json"
    block = doc["provider"]["detour"]
    assert block["npm"] == "@ai-sdk/openai-compatible"
    assert block["options"] == {"baseURL": f"http://127.0.0.1:{port}/v1", "apiKey": "detour"}
    assert list(block["models"]) == ["detour", "ant/claude-x", "oai/gpt-x"]
    assert block["models"]["detour"]["limit"] == {"context": 128000, "output": 8192}  # the smallest of the chain
    assert block["models"]["oai/gpt-x"]["limit"] == {"context": 128000, "output": 16384}


def test_opencode_answers_from_the_fallback_through_detour(tmp_path: Path, fake: FakeProvider,
                                                           client_env: dict[str, str], serve) -> None:
    opencode = str(client_binary("opencode"))
    fake.script("claude-x", B.rate_limit(retry_after=20))
    fake.script("gpt-x", B.text(ANSWER))
    project = tmp_path / "project"
    project.mkdir()
    port = free_port()
    config = write_config(project, fake, port, client_env)
    env = {**client_env, "PWD": str(project)}  # OpenCode takes its project folder from $PWD

    checked = run([opencode, "debug", "config"], cwd=project, env=env)
    assert checked.returncode == 0, f"OpenCode rejected the file:\n{checked.stderr}"
    assert "invalid" not in checked.stderr.lower(), checked.stderr
    resolved = json.loads(checked.stdout)
    assert resolved["model"] == "detour/detour"
    assert resolved["provider"]["detour"]["options"]["baseURL"] == f"http://127.0.0.1:{port}/v1"

    written = config.read_text()
    served = serve(config, project, port)
    done = run([opencode, "run", "say hi", "--model", "detour/detour"], cwd=project, env=env)
    assert done.returncode == 0 and ANSWER in done.stdout, explain(done, served)

    assert any(r.model == "claude-x" and r.protocol == "anthropic" for r in fake.requests), "the primary was not tried"
    answered = [r for r in fake.requests if r.model == "gpt-x"]
    agent = [r for r in answered if r.body.get("tools")]
    assert answered and agent, explain(done, served)
    body = agent[-1].body
    assert body["stream"] is True
    assert {t["function"]["name"] for t in body["tools"]} >= {"bash", "read"}
    assert body["messages"][0]["role"] == "system" and "say hi" in json.dumps(body["messages"])
    assert body["max_tokens"] == 8192  # OpenCode honoured the chain's limit from the provider block
    assert config.read_text() == written, "OpenCode rewrote the file: something it wants was missing"


def test_detour_opencode_prints_a_whole_opencode_json(tmp_path: Path, fake: FakeProvider,
                                                      client_env: dict[str, str]) -> None:
    settings = {**detour_settings(fake, 4141), "chains": {"fast": {"primary": "oai/gpt-x"}},
                "server": {"apiKeys": ["{env:GATEWAY_KEY}"]}}
    (tmp_path / "detour.json").write_text(json.dumps(settings))
    env = {**client_env, "GATEWAY_KEY": "secret-value"}
    cmd = [sys.executable, "-m", "detour", "opencode", "--url", "http://10.0.0.5:9000"]
    done = subprocess.run(cmd, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["model"] == "detour/detour"
    block = doc["provider"]["detour"]
    assert block["options"] == {"baseURL": "http://10.0.0.5:9000/v1", "apiKey": "{env:GATEWAY_KEY}"}  # no secret copied
    assert list(block["models"]) == ["detour", "fast", "ant/claude-x", "oai/gpt-x"]
    assert block["models"]["fast"]["limit"] == {"context": 128000, "output": 16384}
    assert "secret-value" not in done.stdout
