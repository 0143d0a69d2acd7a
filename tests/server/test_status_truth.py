"""Status tells the truth: what /status, `detour models`, `detour status --line`, the headers, /metrics and the
log say is what happened. A real in-thread gateway in front of the fake; a dead provider is a closed port."""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from detour.testing import B
from tests.server.conftest import CAPS, Gateway, free_port, gateway_config
from tests.server.test_status_cli import detour


def start(tmp_path: Path, config: dict[str, Any]) -> tuple[Gateway, Path]:
    path = tmp_path / f"detour-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(config))
    return Gateway(path).start(), path


def ask(url: str, *, stream: bool = False) -> tuple[str, httpx.Headers]:
    client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="detour", messages=[{"role": "user", "content": "hi"}], stream=stream)
    if stream:
        chunks = list(raw.parse())
        return chunks[0].model, raw.headers
    return raw.parse().model, raw.headers


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def dead_provider_config(fake: Any) -> dict[str, Any]:
    config = gateway_config(fake)
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: every connect is refused
    config["provider"]["ant"] = {**config["provider"]["ant"], "baseURL": dead,
                                 "models": {"claude-x": dict(CAPS), "claude-y": dict(CAPS)}}
    config["model"] = {"primary": "ant/claude-x", "fallback": ["oai/gpt-x"]}
    return config


def test_a_dead_provider_shows_on_each_of_its_models_everywhere(tmp_path, fake):
    fake.script("gpt-x", B.text("from the fallback"))
    gw, path = start(tmp_path, dead_provider_config(fake))
    try:
        model, headers = ask(gw.url)
        assert model == "oai/gpt-x" and headers["x-detour-fallback-reason"] == "unreachable"
        # the first provider cooldown is a short step (1 s); the failed probe after it starts the 5 s one
        wait_for(lambda: gw.get("/status").json()["models"]["ant/claude-x"]["state"] == "probing")
        model, headers = ask(gw.url)
        assert model == "oai/gpt-x" and headers["x-detour-fallback-reason"] == "unreachable"
        status = gw.get("/status").json()
        for model_id in ("ant/claude-x", "ant/claude-y"):  # the sibling was never asked, yet it is down too
            health = status["models"][model_id]
            assert (health["state"], health["scope"], health["last_error"]) == ("cooling", "provider", "unreachable")
            assert health["until"] > time.time()
        assert status["models"]["oai/gpt-x"]["state"] == "ok"
        # the first switch of a fresh gateway is recorded, with the failure that caused it
        assert [(s["from"], s["to"], s["reason"]) for s in status["switches"]] == [("ant/claude-x", "oai/gpt-x", "unreachable")]

        line = detour("status", "--line", "--url", gw.url)
        match = re.fullmatch(r"detour: oai/gpt-x \(ant unreachable, back (?:\w{3} )?(\d\d:\d\d)\)\n", line.stdout)
        assert match, line.stdout
        until = status["models"]["ant/claude-x"]["until"]
        assert match.group(1) in {time.strftime("%H:%M", time.localtime(t)) for t in (until, until + 1)}

        models = detour("models", "--config", str(path), "--json", DETOUR_URL=gw.url)
        assert models.returncode == 0, models.stderr
        health = {m["id"]: m.get("health") or {} for m in json.loads(models.stdout)}
        assert health["ant/claude-y"]["state"] == "cooling" and health["ant/claude-y"]["last_error"] == "unreachable"
    finally:
        gw.stop()


def test_cooling_and_skipped_reasons_have_their_own_documented_values(make_gateway, fake):
    from detour.routing.result import FALLBACK_REASONS, reason_family

    fake.script("claude-x", B.rate_limit(retry_after=600))
    fake.script("gpt-x", B.text("fallback"))
    gw = make_gateway()
    _model, first = ask(gw.url)
    assert first["x-detour-fallback-reason"] == "rate_limited" and reason_family("rate_limited") == "error"
    _model, later = ask(gw.url, stream=True)
    assert later["x-detour-fallback-reason"] == "cooling:rate_limited" and reason_family("cooling:rate_limited") == "cooling"
    # the planner's reasons (tests/server/test_declared_capabilities.py: missing:tools) are skips, each documented
    assert reason_family("missing:tools") == "skipped" and reason_family("budget") == "skipped"
    for form in ("<error kind>", "cooling:<error kind>", "cooling:probe_in_flight", "missing:<capability>", "budget",
                 "context_too_small", "unsupported:<param>", "no_endpoint"):
        assert f"    {form}" in FALLBACK_REASONS


def test_every_candidate_failed_still_updates_health_metrics_and_log(make_gateway, fake, caplog):
    for model in ("claude-x", "gpt-x", "gem-x"):
        fake.script(model, B.status(400, body={"error": {"message": "weird upstream", "type": "invalid_request_error"}})
                    if model == "never" else B.server_error(500))
    gw = make_gateway(model={"primary": "ant/claude-x", "fallback": ["oai/gpt-x", "gem/gem-x"], "retryAttempts": 0})
    with caplog.at_level(logging.INFO, logger="detour.server"):
        with pytest.raises(openai.APIStatusError) as err:
            ask(gw.url)
    assert err.value.status_code == 502
    models = gw.get("/status").json()["models"]
    for model_id in ("ant/claude-x", "oai/gpt-x", "gem/gem-x"):
        assert models[model_id]["last_error"] == "server_error", models[model_id]
        assert models[model_id]["state"] == "cooling" and models[model_id]["success_rate"] == 0.0
    metrics = gw.get("/metrics").text
    assert 'detour_attempts_total{kind="server_error",model="oai/gpt-x"} 1.0' in metrics
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("request door=openai"))
    assert "status=502" in line and "tried=ant/claude-x:server_error,oai/gpt-x:server_error,gem/gem-x:server_error" in line


def test_404s_are_logged_and_counted(make_gateway, caplog):
    gw = make_gateway()
    with caplog.at_level(logging.INFO, logger="detour.server"):
        unknown = httpx.post(gw.url + "/v1/chat/completions", json={"model": "nope/missing", "messages": [
            {"role": "user", "content": "hi"}]}, timeout=10)
        no_route = httpx.post(gw.url + "/v1/embeddings", json={}, timeout=10)
    assert unknown.status_code == 404 and no_route.status_code == 404
    logged = [r.getMessage() for r in caplog.records if "status=404" in r.getMessage()]
    assert any("unknown model 'nope/missing'" in m for m in logged) and any("no route POST /v1/embeddings" in m for m in logged)
    metrics = gw.get("/metrics").text
    assert 'detour_requests_total{door="openai",model="-",status="404"} 1.0' in metrics
    assert 'detour_requests_total{door="-",model="-",status="404"} 1.0' in metrics


def test_a_rescued_stream_is_logged_with_its_attempts_and_the_switch_names_the_break(make_gateway, fake, caplog):
    fake.script("claude-x", B.rate_limit(retry_after=600))
    fake.script("gpt-x", B.text("warm"), B.cut(after=2, text="one two three four five six"))
    fake.script("gem-x", B.text(" four five six"))
    gw = make_gateway()
    assert ask(gw.url)[0] == "oai/gpt-x"  # primary rate-limited: the first switch
    with caplog.at_level(logging.INFO, logger="detour.server"):
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
        chunks = list(client.chat.completions.create(model="detour", messages=[{"role": "user", "content": "count"}],
                                                    stream=True))
    assert chunks and "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("request door=openai"))
    assert "served=gem/gem-x" in line and "attempts=2" in line, line
    switches = gw.get("/status").json()["switches"]
    assert [(s["from"], s["to"], s["reason"]) for s in switches] == [
        ("ant/claude-x", "oai/gpt-x", "rate_limited"), ("oai/gpt-x", "gem/gem-x", "stream_broken")]
