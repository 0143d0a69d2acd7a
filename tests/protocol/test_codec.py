"""The codec registry: one object per wire protocol, asked by the upstream call, the planner and the config."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from detour.config import ConfigError, parse_config
from detour.protocol import anthropic, gemini, openai_chat, openai_responses
from detour.protocol.codec import CODECS
from detour.protocol.errors import Failure
from detour.protocol.history import Prepared
from detour.protocol.messages import ImagePart, Message, Request, TextPart
from detour.routing.needs import infer_needs
from detour.routing.plan import Guardrails, make_plan
from detour.routing.targets import Targets
from detour.upstream import build

SECRET = "sk-test-0123456789abcdef"


def _req(stream: bool = False, **kw: object) -> Request:
    fields: dict[str, object] = {"model": "detour", **kw}
    return Request(messages=[Message("user", [TextPart("hi")])], stream=stream, **fields)  # type: ignore[arg-type]


def test_the_registry_is_keyed_by_each_codecs_own_name() -> None:
    assert list(CODECS) == ["openai", "anthropic", "gemini", "openai-responses"]
    assert all(c.name == name for name, c in CODECS.items())
    assert list(CODECS.values()) == [openai_chat.CODEC, anthropic.CODEC, gemini.CODEC, openai_responses.CODEC]
    assert [c.hosted_tools for c in CODECS.values()] == [False, False, False, True]


@pytest.mark.parametrize(
    ("protocol", "stream", "url", "auth"),
    [
        ("openai", False, "http://h/v1/chat/completions", {"authorization": f"Bearer {SECRET}"}),
        ("openai", True, "http://h/v1/chat/completions", {"authorization": f"Bearer {SECRET}"}),
        ("anthropic", True, "http://h/v1/messages", {"x-api-key": SECRET, "anthropic-version": "2023-06-01"}),
        ("gemini", False, "http://h/v1beta/models/m-1:generateContent", {"x-goog-api-key": SECRET}),
        ("gemini", True, "http://h/v1beta/models/m-1:streamGenerateContent?alt=sse", {"x-goog-api-key": SECRET}),
        ("openai-responses", True, "http://h/v1/responses", {"authorization": f"Bearer {SECRET}"}),
    ],
)
def test_build_takes_path_and_auth_from_the_codec(protocol: str, stream: bool, url: str, auth: dict[str, str]) -> None:
    base = "http://h/v1beta/" if protocol == "gemini" else "http://h/v1/"
    wire = build(CODECS[protocol], base, "p", "m-1", SECRET, _req(stream), {"x-title": "t", "x-api-key": "configured"})
    assert wire.url == url
    assert {k: wire.headers[k] for k in auth} == auth  # the codec's auth wins over a configured header
    assert wire.headers["x-title"] == "t" and wire.headers["content-type"] == "application/json"
    assert ("accept" in wire.headers) is stream
    assert SECRET not in repr(wire)
    body = orjson.loads(wire.body)
    assert ("model" in body) is (protocol != "gemini")  # Gemini names the model in the path


def test_no_key_means_no_auth_header() -> None:
    for codec in CODECS.values():
        headers = build(codec, "http://h", "p", "m", "", _req(), None).headers
        assert not {"authorization", "x-api-key", "x-goog-api-key"} & set(headers), codec.name


def test_anthropic_beta_header_comes_from_the_request() -> None:
    req = anthropic.decode_request({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
                                   {"anthropic-beta": "a,b"})
    assert build(CODECS["anthropic"], "http://h", "p", "m", "", req).headers["anthropic-beta"] == "a,b"


def test_openai_flavour_follows_the_provider() -> None:
    req = _req(max_tokens=7)
    codec = CODECS["openai"]
    assert codec.encode_request(req, "m", provider="openai")["max_completion_tokens"] == 7
    assert codec.encode_request(req, "m", provider="my-server")["max_tokens"] == 7  # generic
    assert codec.encode_request(dataclasses.replace(req, seed=3), "m", provider="mistral")["random_seed"] == 3


class _Repairing(openai_chat.OpenAIChatCodec):
    """A codec with its own prepare step: what a per-target history repair plugs into."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def prepare(self, req: Request, *, provider: str, model: str) -> Prepared:
        self.seen.append((provider, model))
        repaired = dataclasses.replace(req, messages=[*req.messages, Message("user", [TextPart("repaired")])])
        return Prepared(repaired, ("repaired for qwen",))


def test_prepare_runs_before_encoding_with_the_target() -> None:
    codec = _Repairing()
    req = _req()
    wire = build(codec, "http://h", "lmstudio", "qwen", "", req)
    assert codec.seen == [("lmstudio", "qwen")]
    assert [m["content"] for m in orjson.loads(wire.body)["messages"]] == ["hi", "repaired"]
    assert wire.notes == ("repaired for qwen",)
    assert len(req.messages) == 1  # the caller's request is untouched
    # a history with nothing to repair comes back as the same object, so pass-through fast paths still apply
    assert all(c.prepare(req, provider="p", model="m").request is req for c in CODECS.values())


def test_error_bodies_round_trip_through_each_codec() -> None:
    failure = Failure("rate_limited", "slow down", status=429)
    for codec in CODECS.values():
        status, body = codec.encode_error(failure)
        back = codec.decode_error(status, {}, body, provider="p")
        assert (status, back.kind, back.message) == (429, "rate_limited", "slow down"), codec.name


def test_stream_encoders_read_what_the_client_asked_from_the_request() -> None:
    for usage in (True, False):
        encoder = CODECS["openai"].stream_encoder(_req(True, include_usage=usage, model="m"))
        assert encoder.include_usage is usage  # type: ignore[attr-defined]
    for codec in CODECS.values():
        assert codec.stream_encoder(_req(True, model="asked")).model == "asked"


def test_planner_asks_the_codec_which_providers_take_image_urls() -> None:
    config = parse_config({"provider": {
        "lmstudio": {"baseURL": "http://127.0.0.1:1234/v1"},
        "google": {"apiKey": "g"},
        "openai": {"apiKey": "o"},
        "anthropic": {"apiKey": "a"},
    }}).config
    targets = Targets(config, None, env={})
    got = {mid: t.url_images for mid in ("lmstudio/q", "google/g", "openai/o", "anthropic/a")
           if (t := targets.get(mid)) is not None}
    assert got == {"lmstudio/q": False, "google/g": False, "openai/o": True, "anthropic/a": True}
    groups, _ = targets.groups(["lmstudio/q", "openai/o"])
    needs = infer_needs(Request(model="detour", messages=[Message("user", [ImagePart(url="https://x/y.png")])]))
    plan = make_plan(groups, needs, Guardrails.from_chain(config.model))
    assert [c.target.model_id for c in plan.candidates] == ["openai/o"]
    assert plan.skipped == [("lmstudio/q", "image_url_unsupported")]


def test_config_accepts_exactly_the_registered_protocols() -> None:
    for name in CODECS:
        config = parse_config({"provider": {"x": {"baseURL": "http://127.0.0.1:9/v1", "protocol": name}}}).config
        endpoint = config.endpoint("x")
        assert endpoint is not None and endpoint.protocol == name
    with pytest.raises(ConfigError) as err:
        parse_config({"provider": {"x": {"baseURL": "http://127.0.0.1:9/v1", "protocol": "antropic"}}})
    text = str(err.value)
    assert "provider.x.protocol" in text and "'openai', 'anthropic', 'gemini', 'openai-responses'" in text and "did you mean 'anthropic'" in text
