"""Session affinity, subscription windows and pass-through credentials, shown by the fakes' request logs."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time

import anthropic
import httpx
import pytest

from detour.testing import B, FakeProvider
from tests.sessions.test_switching import providers

COOL = 0.6


def ask(url: str, session: str, headers: dict[str, str] | None = None, api_key: str = "unused") -> str:
    client = anthropic.Anthropic(base_url=url, api_key=api_key, max_retries=0,
                                 default_headers={"x-claude-code-session-id": session, **(headers or {})})
    raw = client.messages.with_raw_response.create(model="detour", max_tokens=64,
                                                   messages=[{"role": "user", "content": f"hello from {session}"}])
    return raw.headers["x-detour-model"]


def served_by(fake: FakeProvider, since: int) -> list[str]:
    return [r.model or "" for r in fake.requests[since:]]


@pytest.mark.parametrize("affinity", ["session", "none"])
def test_a_session_that_fell_back_stays_while_new_sessions_return(make_gateway, fake: FakeProvider, affinity: str) -> None:
    fake.script("claude-x", B.text("primary"), B.rate_limit(retry_after=COOL), B.text("primary again"))
    fake.script("gpt-x", B.text("fallback"))
    gw = make_gateway(provider=providers(fake),
                      model={"primary": "ant/claude-x", "fallback": ["oai/gpt-x"], "retryAttempts": 0, "affinity": affinity})
    assert ask(gw.url, "A") == "ant/claude-x"
    assert ask(gw.url, "A") == "oai/gpt-x"  # the primary's 429 moves session A
    time.sleep(COOL + 0.2)  # the primary has recovered
    start = len(fake.requests)
    second, new = ask(gw.url, "A"), ask(gw.url, "B")
    if affinity == "session":
        assert (second, new) == ("oai/gpt-x", "ant/claude-x")
        assert served_by(fake, start) == ["gpt-x", "claude-x"], "A stayed on its fallback, B began at the primary"
        turns = gw.get("/status").json()["sessions"]["A"]["turns"]
        assert [(t["model"], t["why"]) for t in turns] == [
            ("ant/claude-x", "primary"), ("oai/gpt-x", "fallback: rate_limited"), ("oai/gpt-x", "pinned to oai/gpt-x")]
        shown = subprocess.run([sys.executable, "-m", "detour", "status", "--url", gw.url], capture_output=True,
                               text=True, timeout=60, check=False).stdout
        assert "sessions" in shown and "pinned to oai/gpt-x" in shown and "fallback: rate_limited" in shown, shown
    else:
        assert (second, new) == ("ant/claude-x", "ant/claude-x")
        assert served_by(fake, start) == ["claude-x", "claude-x"], "every request starts at the primary"


def test_a_pinned_session_returns_when_its_fallback_fails(make_gateway, fake: FakeProvider) -> None:
    fake.script("claude-x", B.rate_limit(retry_after=COOL), B.text("primary"))
    fake.script("gpt-x", B.text("fallback"), B.overloaded())
    gw = make_gateway(provider=providers(fake), model={"primary": "ant/claude-x", "fallback": ["oai/gpt-x"], "retryAttempts": 0})
    assert ask(gw.url, "A") == "oai/gpt-x"
    time.sleep(COOL + 0.2)
    start = len(fake.requests)
    assert ask(gw.url, "A") == "ant/claude-x"
    assert served_by(fake, start) == ["gpt-x", "claude-x"], "the pin holds only while the fallback is healthy"


def status_line(url: str) -> str:
    env = {**os.environ, "DETOUR_URL": url}
    out = subprocess.run([sys.executable, "-m", "detour", "status", "--line", "--url", url], capture_output=True,
                         text=True, timeout=60, env=env, check=False)
    return out.stdout.strip()


def test_new_sessions_leave_a_nearly_full_window_before_any_429_and_return_after_its_reset(make_gateway, fake: FakeProvider) -> None:
    resets = int(time.time()) + 4
    fake.script("claude-x", B.window(0.5, resets), B.window(0.96, resets))
    fake.script("gpt-x", B.text("fallback"))
    gw = make_gateway(provider=providers(fake),
                      model={"primary": "ant/claude-x", "fallback": ["oai/gpt-x"], "switchAt": 0.95})
    assert ask(gw.url, "old") == "ant/claude-x"
    assert "ant 5h 50%" in status_line(gw.url)
    assert ask(gw.url, "old") == "ant/claude-x"  # now reports 96%
    line = status_line(gw.url)
    assert line.startswith("detour: ant/claude-x") and "ant 5h 96%, resets " in line
    listing = subprocess.run([sys.executable, "-m", "detour", "models", "--json", "--config", str(gw.config_path)],
                             capture_output=True, text=True, timeout=60, env={**os.environ, "DETOUR_URL": gw.url}, check=False)
    record = next(m for m in json.loads(listing.stdout) if m["id"] == "ant/claude-x")
    assert record["health"]["window"]["used"] == 0.96 and record["health"]["window"]["window"] == "5h"
    start = len(fake.requests)
    assert ask(gw.url, "new-1") == "oai/gpt-x", "a new session moves before the hard limit"
    assert ask(gw.url, "old") == "ant/claude-x", "a session already on the primary keeps it"
    assert served_by(fake, start) == ["gpt-x", "claude-x"]
    turns = gw.get("/status").json()["sessions"]["new-1"]["turns"]
    assert turns[0]["why"] == "ant 5h window 96% (switchAt 0.95)"
    time.sleep(max(0.0, resets - time.time()) + 0.3)
    assert ask(gw.url, "new-2") == "ant/claude-x", "the reported reset brings new sessions back"
    no_429 = [r for r in fake.requests if r.model == "claude-x"]
    assert len(no_429) == 4 and fake.count("claude-x") == 4


SECRET = "sk-ant-oat01-" + "S3CR3T" * 8


def test_a_client_credential_reaches_only_the_pass_through_provider(make_gateway, fake: FakeProvider, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    fake.script("claude-max", B.text("on the subscription"), B.rate_limit(retry_after=30), B.text("another account"))
    fake.script("gpt-x", B.text("api key fallback"), B.status(500))
    providers_ = {"claude-max": {"baseURL": fake.anthropic_base, "protocol": "anthropic", "apiKey": "client",
                                 "models": {"claude-max": {"tools": True, "context": 200000}}},
                  **{k: v for k, v in providers(fake).items() if k == "oai"}}
    gw = make_gateway(provider=providers_, model={"primary": "claude-max/claude-max", "fallback": ["oai/gpt-x"],
                                                  "retryAttempts": 0})
    oauth = {"authorization": f"Bearer {SECRET}", "anthropic-beta": "oauth-2025-04-20,interleaved-thinking-2025-05-14"}
    client = httpx.Client(base_url=gw.url, timeout=30)
    body = {"model": "detour", "max_tokens": 32, "messages": [{"role": "user", "content": "hi"}]}
    first = client.post("/v1/messages", json=body, headers={**oauth, "anthropic-version": "2023-06-01"})
    assert first.status_code == 200 and first.headers["x-detour-model"] == "claude-max/claude-max"
    sub = fake.requests[-1]
    assert sub.headers["authorization"] == f"Bearer {SECRET}" and "x-api-key" not in sub.headers
    assert "oauth-2025-04-20" in sub.headers["anthropic-beta"]
    second = client.post("/v1/messages", json=body, headers={**oauth, "anthropic-version": "2023-06-01"})
    assert second.status_code == 200 and second.headers["x-detour-model"] == "oai/gpt-x"
    fallback = fake.requests[-1]
    assert fallback.headers["authorization"] == "Bearer sk-oai-fake"
    third = client.post("/v1/messages", json=body, headers={**oauth, "anthropic-version": "2023-06-01"})
    assert third.status_code >= 500  # the subscription cools, the fallback fails: an error the client sees
    other = client.post("/v1/messages", json=body, headers={"x-api-key": "sk-ant-api03-OTHER", "anthropic-version": "2023-06-01"})
    assert other.headers.get("x-detour-model") == "claude-max/claude-max", "cooldowns are per credential"
    assert fake.requests[-1].headers["x-api-key"] == "sk-ant-api03-OTHER"
    for rec in fake.requests:
        if rec.model != "claude-max":
            dumped = json.dumps(rec.to_json())
            assert SECRET not in dumped and "oauth-2025" not in dumped and "OTHER" not in dumped
    seen = [gw.get("/status").text, gw.get("/metrics").text, third.text, caplog.text]
    assert all(SECRET not in text and "sk-ant-api03-OTHER" not in text for text in seen)
    before = fake.count("claude-max")
    missing = client.post("/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"})
    assert fake.count("claude-max") == before, "no credential: the pass-through provider is skipped"
    assert "no client credential" in missing.text and SECRET not in missing.text


def test_codex_windows_from_a_responses_upstream_show_in_status(make_gateway, fake: FakeProvider) -> None:
    codex = {"x-codex-primary-used-percent": "97", "x-codex-primary-window-minutes": "300",
             "x-codex-primary-reset-after-seconds": "3600", "x-codex-secondary-used-percent": "40",
             "x-codex-secondary-window-minutes": "10080", "x-codex-secondary-reset-after-seconds": "86400"}
    fake.script("gpt-codex", B.text("from the subscription", headers=codex))
    fake.script("gpt-x", B.text("api key"))
    providers_ = {"chatgpt": {"baseURL": fake.openai_base, "protocol": "openai-responses", "apiKey": "sk-codex-fake",
                              "models": {"gpt-codex": {"tools": True, "context": 200000}}},
                  "oai": providers(fake)["oai"]}
    gw = make_gateway(provider=providers_, model={"primary": "chatgpt/gpt-codex", "fallback": ["oai/gpt-x"]})
    assert ask(gw.url, "c1") == "chatgpt/gpt-codex"
    windows = {w["window"]: w for w in gw.get("/status").json()["windows"]}
    assert windows["5h"]["used"] == 0.97 and windows["7d"]["used"] == 0.4
    assert windows["5h"]["resets_at"] == pytest.approx(time.time() + 3600, abs=30)
    assert "chatgpt 5h 97%, resets " in status_line(gw.url)
    assert ask(gw.url, "c2") == "oai/gpt-x", "a new session leaves the 97% window (switchAt 0.95)"
