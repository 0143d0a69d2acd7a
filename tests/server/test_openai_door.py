"""The official OpenAI SDK against `detour serve`, with nothing changed but base_url and api_key."""

from __future__ import annotations

import base64

import openai
import pytest

from detour.testing import B

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()


def client(gw, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=kw.pop("api_key", "unused"), max_retries=0, **kw)


def test_non_streaming_to_anthropic_upstream_names_the_served_model(make_gateway, fake):
    fake.script("claude-x", B.text("hello from claude"))
    gw = make_gateway()
    raw = client(gw).chat.completions.with_raw_response.create(
        model="detour", messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
    resp = raw.parse()
    assert resp.choices[0].message.content == "hello from claude"
    assert resp.model == "ant/claude-x"
    assert raw.headers["x-detour-model"] == "ant/claude-x"
    assert raw.headers["x-detour-attempts"] == "1"
    assert "x-detour-fallback-reason" not in raw.headers
    sent = fake.requests[-1]
    assert sent.protocol == "anthropic" and sent.body["system"] in ("be brief", [{"type": "text", "text": "be brief"}])


def test_streaming_with_usage(make_gateway, fake):
    fake.script("claude-x", B.text("one two three four", chunks=4))
    gw = make_gateway()
    chunks = list(client(gw).chat.completions.create(
        model="detour", messages=[{"role": "user", "content": "count"}], stream=True,
        stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert {c.model for c in chunks} == {"ant/claude-x"}


def test_tool_calls_come_back_whole(make_gateway, fake):
    fake.script("claude-x", B.tool_call("get_weather", {"city": "Oslo"}))
    gw = make_gateway()
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    resp = client(gw).chat.completions.create(model="detour", messages=[{"role": "user", "content": "weather?"}], tools=tools)
    call = resp.choices[0].message.tool_calls[0]
    assert resp.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather" and call.function.arguments.replace(" ", "") == '{"city":"Oslo"}'
    assert fake.requests[-1].body["tools"][0]["name"] == "get_weather"


def test_images_are_translated_for_the_upstream(make_gateway, fake):
    gw = make_gateway()
    resp = client(gw).chat.completions.create(model="detour", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}])
    assert resp.choices[0].message.content
    blocks = fake.requests[-1].body["messages"][0]["content"]
    image = next(b for b in blocks if b["type"] == "image")
    assert image["source"] == {"type": "base64", "media_type": "image/png", "data": PNG}


def test_rate_limited_primary_falls_back_and_says_so(make_gateway, fake):
    fake.script("claude-x", B.rate_limit(retry_after=20))
    fake.script("gpt-x", B.text("from the fallback"))
    gw = make_gateway()
    raw = client(gw).chat.completions.with_raw_response.create(model="detour", messages=[{"role": "user", "content": "hi"}])
    resp = raw.parse()
    assert resp.choices[0].message.content == "from the fallback"
    assert resp.model == "oai/gpt-x"
    assert raw.headers["x-detour-fallback-reason"] == "rate_limited"
    assert raw.headers["x-detour-attempts"] == "2"
    # the cooled primary is not asked again while its retry-after runs
    client(gw).chat.completions.create(model="detour", messages=[{"role": "user", "content": "again"}])
    assert fake.count("claude-x") == 1


def test_openai_client_to_gemini_upstream(make_gateway, fake):
    fake.script("gem-x", B.text("gemini says hi"))
    gw = make_gateway()
    resp = client(gw).chat.completions.create(model="gem/gem-x", messages=[{"role": "user", "content": "hi"}])
    assert resp.choices[0].message.content == "gemini says hi"
    assert resp.model == "gem/gem-x"
    assert fake.requests[-1].protocol == "gemini"


def test_unknown_model_is_a_404_with_suggestions(make_gateway):
    gw = make_gateway()
    with pytest.raises(openai.NotFoundError) as err:
        client(gw).chat.completions.create(model="nope/gpt-x", messages=[{"role": "user", "content": "hi"}])
    assert "nope/gpt-x" in str(err.value)
    gw = make_gateway(unknownModel="reject")  # by default a bare name nothing knows is served by the chain
    with pytest.raises(openai.NotFoundError) as err:
        client(gw).chat.completions.create(model="claude-y", messages=[{"role": "user", "content": "hi"}])
    assert "did you mean" in str(err.value).lower()


def test_all_rate_limited_is_one_429_with_retry_after(make_gateway, fake):
    for model in ("claude-x", "gpt-x", "gem-x"):
        fake.script(model, B.rate_limit(retry_after=30))
    gw = make_gateway()
    with pytest.raises(openai.RateLimitError) as err:
        client(gw).chat.completions.create(model="detour", messages=[{"role": "user", "content": "hi"}])
    assert err.value.response.headers.get("retry-after")
    assert err.value.response.headers["x-detour-attempts"] == "3"


def test_client_errors_are_4xx_in_openai_shape(make_gateway):
    gw = make_gateway()
    import httpx

    bad_json = httpx.post(gw.url + "/v1/chat/completions", content=b"{nope", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and "valid JSON" in bad_json.json()["error"]["message"]
    wrong_type = httpx.post(gw.url + "/v1/chat/completions", json={"model": "detour", "messages": "hi"})
    assert wrong_type.status_code == 400 and "messages" in wrong_type.json()["error"]["message"]
    assert "Traceback" not in wrong_type.text


def test_gateway_api_keys(make_gateway):
    gw = make_gateway(server={"apiKeys": ["gw-secret"]})
    with pytest.raises(openai.AuthenticationError):
        client(gw, api_key="wrong").chat.completions.create(model="detour", messages=[{"role": "user", "content": "hi"}])
    ok = client(gw, api_key="gw-secret").chat.completions.create(model="detour", messages=[{"role": "user", "content": "hi"}])
    assert ok.choices[0].message.content


def test_body_over_limit_is_413(make_gateway):
    import httpx

    gw = make_gateway(server={"maxBodySize": "1KiB"})
    resp = httpx.post(gw.url + "/v1/chat/completions", json={"model": "detour", "messages": [{"role": "user", "content": "x" * 4096}]})
    assert resp.status_code == 413
    assert "limit" in resp.json()["error"]["message"]
