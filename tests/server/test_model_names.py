"""The model name an agent sends just works: a chain, an id, a catalog name, or a family's provider.

Every answer says how its name was read (``x-detour-resolved``); ``unknownModel: reject`` restores the 404.
"""

from __future__ import annotations

import anthropic
import openai
import pytest

from detour.testing import B

from .conftest import gateway_config

MSGS = [{"role": "user", "content": "hi"}]


def ant(gw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)


def oai(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def with_anthropic(fake, **overrides):
    """The usual three fake providers, plus the real provider id 'anthropic' pointed at the fake."""
    config = gateway_config(fake, **overrides)
    config["provider"]["anthropic"] = {"baseURL": fake.anthropic_base, "protocol": "anthropic", "apiKey": "sk-ant-fake"}
    config["provider"]["ant"]["models"]["claude-big"] = {"tools": True, "max_output": 64000}
    return config


@pytest.fixture
def gateway_with(make_gateway, fake, monkeypatch):
    def make(**overrides):
        config = with_anthropic(fake, **overrides)
        return make_gateway(**{k: v for k, v in config.items()})
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(name, raising=False)  # a family's provider is ready only when the config says so
    return make


def test_a_bare_name_of_a_known_family_is_served_by_its_provider_first(gateway_with, fake) -> None:
    fake.script("claude-zeta-9", B.text("the family's own provider"))
    gw = gateway_with()
    raw = ant(gw).messages.with_raw_response.create(model="claude-zeta-9", max_tokens=50, messages=MSGS)
    assert raw.parse().content[0].text == "the family's own provider"
    assert raw.headers["x-detour-model"] == "anthropic/claude-zeta-9"
    assert raw.headers["x-detour-resolved"] == "family; anthropic/claude-zeta-9; chain default"
    assert fake.requests[-1].model == "claude-zeta-9"


def test_the_family_model_falls_back_to_the_default_chain(gateway_with, fake) -> None:
    fake.script("claude-zeta-9", B.status(404, {"type": "error", "error": {"type": "not_found_error",
                                                                          "message": "model: claude-zeta-9"}}))
    fake.script("claude-x", B.text("the chain's primary"))
    gw = gateway_with()
    with ant(gw).messages.stream(model="claude-zeta-9", max_tokens=50, messages=MSGS) as stream:
        text = stream.get_final_text()
        headers = stream.response.headers
    assert text == "the chain's primary" and headers["x-detour-model"] == "ant/claude-x"
    assert headers["x-detour-resolved"] == "family; anthropic/claude-zeta-9; chain default"
    assert [r.model for r in fake.requests] == ["claude-zeta-9", "claude-x"]


def test_a_name_nothing_knows_is_served_by_the_default_chain(gateway_with, fake) -> None:
    fake.script("claude-x", B.text("chain answer"))
    gw = gateway_with()
    raw = oai(gw).chat.completions.with_raw_response.create(model="mystery-model-7", messages=MSGS)
    assert raw.parse().choices[0].message.content == "chain answer"
    assert raw.headers["x-detour-resolved"] == "unknown; chain default"
    assert raw.headers["x-detour-model"] == "ant/claude-x"


def test_a_family_whose_provider_has_no_key_goes_to_the_chain(gateway_with, fake) -> None:
    fake.script("claude-x", B.text("chain answer"))
    gw = gateway_with()  # 'openai' has no key in the config or the environment: nothing is sent there
    raw = oai(gw).chat.completions.with_raw_response.create(model="gpt-zeta", messages=MSGS)
    assert raw.headers["x-detour-resolved"] == "unknown; chain default"
    assert [r.model for r in fake.requests] == ["claude-x"]


def test_chain_and_catalog_names_say_how_they_were_read(gateway_with, fake) -> None:
    fake.script("claude-x", B.text("a"))
    fake.script("gpt-x", B.text("b"))
    gw = gateway_with(chains={"coder": {"primary": "oai/gpt-x"}})
    seen = {name: oai(gw).chat.completions.with_raw_response.create(model=name, messages=MSGS).headers["x-detour-resolved"]
            for name in ("detour", "coder", "oai/gpt-x", "gpt-x")}
    assert seen == {"detour": "alias; chain default", "coder": "chain; chain coder",
                    "oai/gpt-x": "id; oai/gpt-x; chain default", "gpt-x": "catalog; oai/gpt-x; chain default"}


def test_unknown_model_reject_is_a_404_with_suggestions(gateway_with, fake) -> None:
    gw = gateway_with(unknownModel="reject")
    with pytest.raises(anthropic.NotFoundError) as err:
        ant(gw).messages.create(model="claude-y", max_tokens=50, messages=MSGS)
    assert "claude-y" in str(err.value) and "did you mean" in str(err.value).lower()
    assert fake.requests == []


def test_unknown_model_takes_only_chain_or_reject(tmp_path) -> None:
    from detour.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as err:
        parse_config({"unknownModel": "guess"})
    assert "unknownModel" in str(err.value) and "'chain', 'reject'" in str(err.value)


def test_an_explicit_model_is_tracked_in_status_and_the_line_like_a_chain(gateway_with, fake) -> None:
    fake.script("claude-x", B.rate_limit(retry_after=600))
    fake.script("gpt-x", B.text("the fallback answers"))
    gw = gateway_with()
    raw = oai(gw).chat.completions.with_raw_response.create(model="ant/claude-x", messages=MSGS)
    assert raw.headers["x-detour-model"] == "oai/gpt-x"
    status = gw.get("/status").json()
    view = status["chains"]["ant/claude-x"]
    assert view["explicit"] is True and view["chain"] == "default"
    assert view["current"] == "oai/gpt-x" and view["reason"] == "rate_limited"
    assert view["models"] == ["ant/claude-x", "oai/gpt-x", "gem/gem-x"]
    assert [(s["chain"], s["from"], s["to"]) for s in status["switches"]] == [("ant/claude-x", "ant/claude-x", "oai/gpt-x")]
    line = gw.get("/status/line").text
    assert line.startswith("detour: oai/gpt-x (") and "rate-limited" in line, line
    assert status["chains"]["default"]["current"] == "ant/claude-x", "the chain itself served nothing"


@pytest.mark.parametrize("stream", [False, True])
def test_no_max_tokens_on_the_anthropic_door_gets_the_models_output_limit(gateway_with, fake, stream) -> None:
    """The model's max_output (64,000 for claude-big), capped: 32,000 streaming, 8,192 not; never 4096."""
    import httpx

    fake.script("claude-big", B.text("ok"))
    gw = gateway_with()
    body = {"model": "ant/claude-big", "messages": MSGS, "stream": stream}
    resp = httpx.post(gw.url + "/v1/messages", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    assert fake.requests[-1].body["max_tokens"] == (32_000 if stream else 8_192)


def test_a_model_without_a_known_limit_keeps_the_codec_default(gateway_with, fake) -> None:
    import httpx

    fake.script("claude-zeta-9", B.text("ok"))
    gw = gateway_with()
    resp = httpx.post(gw.url + "/v1/messages", json={"model": "claude-zeta-9", "messages": MSGS}, timeout=10)
    assert resp.status_code == 200 and fake.requests[-1].body["max_tokens"] == 4096


def test_a_client_max_tokens_is_kept(gateway_with, fake) -> None:
    fake.script("claude-x", B.text("ok"))
    gw = gateway_with()
    ant(gw).messages.create(model="ant/claude-x", max_tokens=77, messages=MSGS)
    assert fake.requests[-1].body["max_tokens"] == 77
