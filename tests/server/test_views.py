"""/v1/models, /status, /metrics, /healthz and the dashboard page."""

from __future__ import annotations

import openai

from detour.testing import B


def test_models_listing_carries_capabilities(make_gateway):
    gw = make_gateway()
    models = openai.OpenAI(base_url=gw.url + "/v1", api_key="x").models.list()
    ids = [m.id for m in models.data]
    assert ids[0] == "detour" and {"ant/claude-x", "oai/gpt-x", "gem/gem-x"} <= set(ids)
    item = next(m for m in gw.get("/v1/models").json()["data"] if m["id"] == "oai/gpt-text")
    assert item["image"] is False and item["tools"] is True and item["context"] == 200000


def test_status_shows_the_switch_and_metrics_count_it(make_gateway, fake):
    fake.script("claude-x", B.text("first"), B.rate_limit(retry_after=60))
    gw = make_gateway()
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    client.chat.completions.create(model="detour", messages=[{"role": "user", "content": "a"}])
    client.chat.completions.create(model="detour", messages=[{"role": "user", "content": "b"}])
    status = gw.get("/status").json()
    chain = status["chains"]["default"]
    assert chain["primary"] == "ant/claude-x" and chain["current"] == "oai/gpt-x"
    assert chain["reason"] == "rate_limited"
    assert status["switches"][-1]["from"] == "ant/claude-x" and status["switches"][-1]["to"] == "oai/gpt-x"
    metrics = gw.get("/metrics").text
    assert 'detour_requests_total{door="openai",model="oai/gpt-x",status="200"} 1.0' in metrics
    assert "detour_switches_total" in metrics


def test_healthz_and_dashboard(make_gateway):
    gw = make_gateway()
    assert gw.get("/healthz").json() == {"status": "ok"}
    page = gw.get("/")
    assert page.status_code == 200 and "<title>detour" in page.text


def test_secrets_never_appear_in_views(make_gateway, fake):
    fake.script("claude-x", B.status(401))
    gw = make_gateway()
    openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0).chat.completions.create(
        model="detour", messages=[{"role": "user", "content": "hi"}])
    for path in ("/status", "/metrics", "/v1/models", "/"):
        body = gw.get(path).text
        for secret in ("sk-ant-fake", "sk-oai-fake", "gem-fake"):
            assert secret not in body, (path, secret)


def test_status_model_health_and_manual_reset(make_gateway, fake):
    import httpx

    fake.script("claude-x", B.rate_limit(retry_after=600))
    gw = make_gateway()
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
    client.chat.completions.create(model="detour", messages=[{"role": "user", "content": "a"}])
    health = gw.get("/status").json()["models"]["ant/claude-x"]
    assert health["state"] == "cooling" and health["last_error"] == "rate_limited" and health["until"]
    assert gw.get("/status").json()["models"]["oai/gpt-x"]["success_rate"] == 1.0
    cleared = httpx.post(gw.url + "/reset", json={"model": "ant/claude-x"}).json()["cleared"]
    assert "model:ant/claude-x" in cleared
    assert gw.get("/status").json()["models"]["ant/claude-x"]["state"] == "ok"


def test_a_chain_without_models_says_how_to_add_one(make_gateway):
    import httpx

    gw = make_gateway(model={})
    resp = httpx.post(gw.url + "/v1/chat/completions", json={"model": "detour", "messages": [{"role": "user", "content": "hi"}]})
    assert resp.status_code == 503
    assert "has no models" in resp.json()["error"]["message"] and "detour.json" in resp.json()["error"]["message"]
