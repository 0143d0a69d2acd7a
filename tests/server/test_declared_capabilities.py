"""Declared capabilities are facts, discovery feeds the gateway, and one vocabulary of requirement words.

A real gateway (discovery on) in front of a fake local server on a free port; OpenAI and Anthropic SDKs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from detour.testing import B, FakeProvider, LocalModel
from tests.server.conftest import Gateway

DETOUR = Path(sys.executable).with_name("detour")
TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
ASK = [{"role": "user", "content": "hi"}]


@pytest.fixture
def lmstudio():
    """An LM Studio look-alike that reports gemma-3-270m as tool-capable (the config says otherwise)."""
    fake = FakeProvider.start_in_thread(local_server="lmstudio",
                                        local_models=[LocalModel("gemma-3-270m", tools=True, context_length=8192)])
    try:
        yield fake
    finally:
        fake.stop()


def the_issue_config(fake: FakeProvider, **extra) -> dict:
    """The issue's config, with the fake's free port in place of 8080 (the 8080 default is probed too)."""
    return {"model": "lmstudio/gemma-3-270m",
            "provider": {"lmstudio": {"baseURL": fake.openai_base, "models": {"gemma-3-270m": {"tools": False}}}},
            "state": "memory", **extra}


@pytest.fixture
def serve(tmp_path: Path):
    started: list[Gateway] = []

    def make(config: dict, *, discover: bool = True) -> Gateway:
        from detour.server.run import create_app

        path = tmp_path / f"detour-{len(started)}.json"
        path.write_text(json.dumps(config))
        gw = Gateway.__new__(Gateway)
        Gateway.__init__(gw, path)
        if discover:  # Gateway builds with discover=False; this one runs discovery like `detour serve`
            gw.app = create_app(str(path), discover=True)
            gw.server.config.app = gw.app
        started.append(gw.start())
        return gw

    yield make
    for gw in started:
        gw.stop()


def test_a_declared_tools_false_is_skipped_for_tool_requests(serve, lmstudio):
    lmstudio.script("gemma-3-270m", B.text("small talk"))
    gw = serve(the_issue_config(lmstudio))
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    assert client.chat.completions.create(model="detour", messages=ASK).choices[0].message.content == "small talk"
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="detour", messages=ASK, tools=TOOLS)
    assert "lmstudio/gemma-3-270m: missing:tools" in info.value.message
    assert lmstudio.count("gemma-3-270m") == 1  # the tool request never reached the model
    listed = {m["id"]: m for m in gw.get("/v1/models").json()["data"]}
    assert listed["lmstudio/gemma-3-270m"]["tools"] is False
    assert listed["lmstudio/gemma-3-270m"]["context"] == 8192  # from the running server


def test_the_fallback_serves_and_says_why(serve, lmstudio):
    config = the_issue_config(lmstudio, model={"primary": "lmstudio/gemma-3-270m", "fallback": ["oai/gpt-x"]})
    config["provider"]["oai"] = {"baseURL": lmstudio.openai_base, "apiKey": "sk-fake"}
    lmstudio.script("gpt-x", B.tool_call("f", {"a": 1}))
    gw = serve(config)
    for model in ("detour", "lmstudio/gemma-3-270m"):  # the chain, or the model named explicitly
        raw = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0).chat.completions.with_raw_response
        resp = raw.create(model=model, messages=ASK, tools=TOOLS)
        assert resp.headers["x-detour-model"] == "oai/gpt-x"
        assert resp.headers["x-detour-fallback-reason"] == "missing:tools"
    msg = anthropic.Anthropic(base_url=gw.url, api_key="x", max_retries=0).messages.with_raw_response.create(
        model="detour", max_tokens=20, messages=ASK, tools=[{"name": "f", "input_schema": {"type": "object"}}])
    assert msg.headers["x-detour-fallback-reason"] == "missing:tools"
    assert lmstudio.count("gemma-3-270m") == 0


def test_declared_tools_true_is_a_fact_even_with_unknown_capability_skip(serve):
    """llama.cpp reports no capabilities; the declaration is what planning uses (it was `unknown:tools`)."""
    fake = FakeProvider.start_in_thread(local_server="llama.cpp", local_models=["gemma-3-270m"])
    try:
        fake.script("gemma-3-270m", B.tool_call("f", {"a": 1}))
        gw = serve({"model": {"primary": "box/gemma-3-270m", "unknownCapability": "skip"}, "state": "memory",
                    "provider": {"box": {"baseURL": fake.openai_base, "models": {"gemma-3-270m": {"tools": True}}}}})
        resp = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0).chat.completions.create(
            model="detour", messages=ASK, tools=TOOLS)
        assert resp.choices[0].message.tool_calls[0].function.name == "f"
    finally:
        fake.stop()


def test_detour_models_lists_the_model_from_the_running_server(lmstudio, tmp_path):
    (tmp_path / "detour.json").write_text(json.dumps(the_issue_config(lmstudio)))
    env = {**os.environ, "DETOUR_CACHE_DIR": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    env.pop("DETOUR_CATALOG", None)
    out = subprocess.run([str(DETOUR), "models", "-p", "lmstudio", "--json"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert [(r["id"], r["tools"], r["context"]) for r in json.loads(out.stdout)] == [
        ("lmstudio/gemma-3-270m", False, 8192)]  # the context is the server's answer, tools the declaration
    lmstudio.local_models = [LocalModel("gemma-3-270m", context_length=8192), LocalModel("qwen3-4b")]
    out = subprocess.run([str(DETOUR), "models", "-p", "lmstudio", "--json"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False)
    assert [r["id"] for r in json.loads(out.stdout)] == ["lmstudio/gemma-3-270m", "lmstudio/qwen3-4b"]
    (tmp_path / "detour.json").write_text(json.dumps(the_issue_config(lmstudio, discovery=False)))
    off = subprocess.run([str(DETOUR), "models", "-p", "lmstudio", "--json"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False)
    assert [(r["id"], r["context"]) for r in json.loads(off.stdout)] == [("lmstudio/gemma-3-270m", None)]


# ---------------------------------------------------------------- one vocabulary


def test_requirement_words_are_one_vocabulary(make_gateway, fake):
    fake.script("claude-x", B.text("ok"))
    gw = make_gateway()

    def post(headers: dict, body: dict | None = None) -> httpx.Response:
        return httpx.post(gw.url + "/v1/chat/completions", headers=headers, timeout=10,
                          json={"model": "detour", "messages": ASK, **(body or {})})

    for word in ("json", "tool", "tools", "Vision", "structured_output", "function_calling"):
        assert post({"x-detour-require": word}).status_code in (200, 502, 503), word  # accepted (served or not)
    bad = post({"x-detour-require": "tools, telepathy"})
    assert bad.status_code == 400
    message = bad.json()["error"]["message"]
    assert "x-detour-require header: unknown capability 'telepathy'" in message
    assert "accepted: tools, image, pdf, reasoning, thinking, structured_output, uncensored, local" in message
    body = post({}, {"detour": {"require": ["jsn"]}})
    assert body.status_code == 400 and "detour.require: unknown capability 'jsn'" in body.json()["error"]["message"]
    ant = httpx.post(gw.url + "/v1/messages", headers={"x-detour-require": "telepathy"}, timeout=10,
                     json={"model": "detour", "max_tokens": 5, "messages": ASK})
    assert ant.status_code == 400 and ant.json()["type"] == "error"
    assert "unknown capability 'telepathy'" in ant.json()["error"]["message"]


def test_the_cli_takes_the_same_words(tmp_path):
    env = {**os.environ, "DETOUR_CACHE_DIR": str(tmp_path / "cache"), "HOME": str(tmp_path)}
    for word in ("json", "tool", "vision"):
        ok = subprocess.run([str(DETOUR), "models", "--needs", word, "--json"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=False)
        assert ok.returncode == 0, (word, ok.stderr)
    bad = subprocess.run([str(DETOUR), "models", "--needs", "telepathy"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "unknown capability 'telepathy'; accepted: tools, image, pdf" in bad.stderr
