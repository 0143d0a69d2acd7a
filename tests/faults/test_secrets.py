"""Keys never leak: a whole session through the real `detour serve` process with distinctive fake keys, then
every place a key could surface is searched (log, /status, /metrics, the dashboard, /v1/models, /events, error
bodies, streamed errors, SDK exception text). And a key-holding config readable by others gets a warning."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from detour.config import load_config
from detour.testing import B, FakeProvider
from tests.faults.conftest import ServeProcess, anthropic_client, openai_client, providers

MARK = "DETOURSECRET"
KEYS = {
    "oai": f"sk-{MARK}-openai-7f3a9c",
    "ant": f"sk-ant-{MARK}-anthropic-51be0d",
    "gem": f"AIza{MARK}gemini-c0ffee",
    "fbo": f"sk-{MARK}-fallback-openai-d00d",
    "fba": f"sk-{MARK}-fallback-anthropic-beef",
}
GATEWAY_KEY = f"sk-{MARK}-gateway-9e8d7c"
# what a leak could look like besides the whole key: its distinctive middle
FRAGMENTS = [MARK, *(k.split(MARK)[1][1:] for k in [*KEYS.values(), GATEWAY_KEY])]


def leaks(text: str) -> list[str]:
    return [f for f in FRAGMENTS if f and f in text]


@pytest.fixture
def session(tmp_path: Path):
    fake = FakeProvider.start_in_thread()
    config = {
        "provider": providers(fake.url, KEYS),
        "model": {"primary": "oai/gpt-x", "fallback": ["ant/claude-x", "gem/gem-x"], "retryAttempts": 0},
        "chains": {"solo": {"primary": "fbo/fb-oai", "retryAttempts": 0}},
        "server": {"apiKeys": [GATEWAY_KEY]},
        "timeouts": {"connect": "2s", "firstToken": "1s", "idle": "1s", "total": "2s"},
        "state": "memory",
        "discovery": False,
    }
    path = tmp_path / "detour.json"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    gw = ServeProcess(path, tmp_path / "gateway.log").wait_ready()
    try:
        yield gw, fake
    finally:
        gw.stop()
        fake.stop()


def test_keys_appear_nowhere(session):
    gw, fake = session
    seen: list[str] = []  # every body, header and exception text the clients saw
    oai = openai_client(gw.url, GATEWAY_KEY)
    ant = anthropic_client(gw.url, GATEWAY_KEY)
    msgs = [{"role": "user", "content": "hello"}]

    # success, both doors, both modes
    fake.script("gpt-x", B.text("fine"))
    raw = oai.chat.completions.with_raw_response.create(model="detour", messages=msgs)
    seen += [raw.text, str(dict(raw.headers))]
    seen += [c.model_dump_json() for c in oai.chat.completions.create(model="detour", messages=msgs, stream=True)]
    seen.append(ant.messages.create(model="detour", max_tokens=50, messages=msgs).model_dump_json())

    # fallback: the primary is rate-limited, then its key is refused with a body that echoes the key
    fake.script("gpt-x", B.rate_limit(retry_after=1))
    fake.script("claude-x", B.status(401, body={"type": "error", "error": {
        "type": "authentication_error", "message": f"invalid x-api-key: {KEYS['ant']}"}}))
    fake.script("gem-x", B.text("from gemini"))
    raw = oai.chat.completions.with_raw_response.create(model="detour", messages=msgs)
    seen += [raw.text, str(dict(raw.headers))]
    assert raw.parse().model == "gem/gem-x"

    # errors: an upstream 400 that echoes the key, every candidate failing, a bad gateway key, a mid-stream cut
    fake.script("fb-oai", B.status(400, body={"error": {"message": f"bad request for key {KEYS['fbo']}",
                                                        "type": "invalid_request_error", "code": None}}))
    with pytest.raises(openai.BadRequestError) as bad_oai:
        oai.chat.completions.create(model="solo", messages=msgs)
    with pytest.raises(anthropic.BadRequestError) as bad_ant:
        ant.messages.create(model="solo", max_tokens=50, messages=msgs)
    for exc in (bad_oai.value, bad_ant.value):
        seen += [str(exc), exc.response.text]
    fake.script("gpt-x", B.overloaded())
    fake.script("claude-x", B.status(500, body=f"upstream crashed handling {KEYS['ant']}"))
    fake.script("gem-x", B.reset())
    for client_call in (lambda: oai.chat.completions.create(model="detour", messages=msgs),
                        lambda: ant.messages.create(model="detour", max_tokens=50, messages=msgs)):
        with pytest.raises((openai.APIStatusError, anthropic.APIStatusError)) as failed:
            client_call()
        assert failed.value.status_code >= 500 or failed.value.status_code == 429
        seen += [str(failed.value), failed.value.response.text, str(dict(failed.value.response.headers))]
    with pytest.raises(openai.AuthenticationError) as denied:
        openai_client(gw.url, KEYS["oai"]).chat.completions.create(model="detour", messages=msgs)
    seen += [str(denied.value), denied.value.response.text]
    fake.script("fb-oai", B.midstream_error(after=2, kind="server_error"))
    with pytest.raises(openai.APIError) as broken:
        for chunk in oai.chat.completions.create(model="solo", messages=msgs, stream=True):
            seen.append(chunk.model_dump_json())
    seen.append(str(broken.value))

    # every view of the gateway
    headers = {"authorization": f"Bearer {GATEWAY_KEY}"}
    for path in ("/status", "/metrics", "/", "/v1/models", "/healthz"):
        resp = gw.get(path, headers=headers)
        assert resp.status_code == 200, path
        seen.append(resp.text)
    with httpx.stream("GET", gw.url + "/events", timeout=10) as events:
        for line in events.iter_lines():
            if line.startswith("data:"):
                seen.append(line)
                break

    # the upstreams did get the keys (so the search below is meaningful) ...
    sent = {r.headers.get("authorization", "") + r.headers.get("x-api-key", "") + r.headers.get("x-goog-api-key", "")
            for r in fake.requests}
    assert any(KEYS["oai"] in s for s in sent) and any(KEYS["ant"] in s for s in sent)
    # ... and nothing the clients or the operator can read shows them
    for text in seen:
        assert not leaks(text), f"key material in a client-visible text: {leaks(text)} in {text[:400]}"
    log = gw.log()
    assert "request door=" in log, "the log was captured"
    assert not leaks(log), f"key material in the gateway log: {leaks(log)}"


# ---------------------------------------------------------------- config file permissions


def _write(tmp_path: Path, doc: dict, mode: int) -> Path:
    path = tmp_path / "detour.json"
    path.write_text(json.dumps(doc))
    path.chmod(mode)
    return path


def _perm_warnings(loaded) -> list:
    return [w for w in loaded.warnings if "chmod 600" in (w.hint or "")]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
@pytest.mark.parametrize("where", ["provider", "server"])
def test_config_with_keys_readable_by_others_gets_a_warning(tmp_path, mode, where):
    doc = ({"provider": {"openai": {"apiKey": "sk-literal-key"}}} if where == "provider"
           else {"server": {"apiKeys": ["gateway-literal-key"]}})
    path = _write(tmp_path, doc, mode)
    loaded = load_config(path, env={})
    [warning] = _perm_warnings(loaded)
    assert warning.severity == "warning"
    assert warning.source == str(path)
    assert "readable" in warning.message
    assert "sk-literal-key" not in str(warning) and "gateway-literal-key" not in str(warning)
    path.chmod(0o600)
    assert _perm_warnings(load_config(path, env={})) == []


def test_keys_from_the_environment_do_not_count(tmp_path):
    doc = {"provider": {"openai": {"apiKey": "{env:MY_KEY}", "headers": {"X-Title": "detour"}},
                        "anthropic": {"apiKey": ["${OTHER_KEY}", "{file:key.txt}"]}},
           "server": {"apiKeys": ["{env:GW_KEY}"]}}
    path = _write(tmp_path, doc, 0o644)
    (tmp_path / "key.txt").write_text("sk-from-a-file")
    loaded = load_config(path, env={"MY_KEY": "sk-x", "OTHER_KEY": "sk-y", "GW_KEY": "gw"})
    assert _perm_warnings(loaded) == []
    assert loaded.config.provider["openai"].api_keys == ["sk-x"]


def test_headers_holding_credentials_count(tmp_path):
    doc = {"provider": {"corp": {"baseURL": "https://llm.example.com/v1", "headers": {"Authorization": "Bearer sk-lit"}}}}
    path = _write(tmp_path, doc, 0o644)
    assert len(_perm_warnings(load_config(path, env={}))) == 1


def test_serve_shows_the_permission_warning(tmp_path):
    fake_url = "http://127.0.0.1:9"
    doc = {"provider": providers(fake_url, {"oai": "sk-literal-in-file"}), "model": {"primary": "oai/gpt-x"},
           "state": "memory", "discovery": False}
    path = _write(tmp_path, doc, 0o644)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    gw = ServeProcess(path, tmp_path / "gateway.log").wait_ready()
    try:
        log = gw.log()
    finally:
        gw.stop()
    assert "chmod 600" in log and str(path) in log
    assert "sk-literal-in-file" not in log
