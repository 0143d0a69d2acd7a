"""A reset is not an outage: a chain whose primary and fallback share one provider id, through the gateway.

The fake resets the primary's connection after reading the request (RST, nothing received): that is the
route's transient (``connection_lost``), retried once on a fresh connection, then the sibling answers. Nothing
benches the provider, and a guessed cooldown never turns a request away without an attempt.
"""

from __future__ import annotations

import openai

from detour.testing import B

ASK = [{"role": "user", "content": "hi"}]


def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)


def test_a_reset_on_the_primary_is_answered_by_its_sibling_and_the_primary_is_tried_next(make_gateway, fake):
    fake.script("gpt-x", B.reset(), B.reset(), B.text("primary is back"))
    fake.script("gpt-text", B.text("sibling"))
    gw = make_gateway(model={"primary": "oai/gpt-x", "fallback": ["oai/gpt-text"]},
                      chains={"solo": {"primary": "oai/gpt-x"}})
    raw = client(gw.url).chat.completions.with_raw_response.create(model="detour", messages=ASK)
    assert raw.parse().choices[0].message.content == "sibling" and raw.headers["x-detour-model"] == "oai/gpt-text"
    assert raw.headers["x-detour-fallback-reason"] == "connection_lost" and raw.headers["x-detour-attempts"] == "3"
    assert fake.count("gpt-x") == 2, "the reset, then once more on a fresh connection"
    status = gw.get("/status").json()["models"]
    assert status["oai/gpt-text"]["state"] == "ok", "the sibling on the same provider stays available"
    assert (status["oai/gpt-x"]["state"], status["oai/gpt-x"]["scope"]) == ("cooling", "route")

    # the next chain request is served by an attempt, not refused (the provider was never benched)
    again = client(gw.url).chat.completions.with_raw_response.create(model="detour", messages=ASK)
    assert again.headers["x-detour-model"] == "oai/gpt-text" and again.headers["x-detour-fallback-reason"] == "cooling:connection_lost"
    # the next request to the primary alone: its cooldown is only a guess, so it is tried (last resort)
    solo = client(gw.url).chat.completions.with_raw_response.create(model="solo", messages=ASK)
    assert solo.parse().choices[0].message.content == "primary is back" and solo.headers["x-detour-attempts"] == "1"
    assert fake.count("gpt-x") == 3
    assert gw.get("/status").json()["models"]["oai/gpt-x"]["state"] == "ok", "its success closed the cooldown"


def test_a_stream_reset_before_headers_stays_on_the_provider(make_gateway, fake):
    fake.script("gpt-x", B.reset())
    fake.script("gpt-text", B.text("sibling streamed"))
    gw = make_gateway(model={"primary": "oai/gpt-x", "fallback": ["oai/gpt-text"]})
    stream = client(gw.url).chat.completions.create(model="detour", messages=ASK, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "sibling streamed" and fake.count("gpt-x") == 2 and fake.count("gpt-text") == 1
