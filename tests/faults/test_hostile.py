"""Hostile input against both front doors over real HTTP, and generated config documents.

Every malformed request must get a 4xx with a clear message in the client's protocol (an OpenAI error object
on /v1/chat/completions, an Anthropic error envelope on /v1/messages): never a 5xx, never a traceback. The same
file sends *valid* requests varying in every field and asserts they succeed, so a blanket 400 cannot pass.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detour.config import ConfigError, LoadedConfig, parse_config
from detour.testing import B, FakeProvider
from tests.faults.conftest import Chain, Gateway, chain_config

OPENAI = "/v1/chat/completions"
ANTHROPIC = "/v1/messages"
DOORS = [OPENAI, ANTHROPIC]
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(64))).decode()
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, _Collect]]:
    fake = FakeProvider.start_in_thread(record=False)
    fake.script("*", B.text("fine"))
    path = tmp_path_factory.mktemp("hostile") / "detour.json"
    path.write_text(json.dumps(chain_config(fake.url, Chain("anthropic"))))
    errors = _Collect()
    for name in ("detour", "uvicorn.error", "uvicorn"):
        logging.getLogger(name).addHandler(errors)
    gw = Gateway(path).start()
    try:
        yield gw, errors
    finally:
        gw.stop()
        fake.stop()
        for name in ("detour", "uvicorn.error", "uvicorn"):
            logging.getLogger(name).removeHandler(errors)


@pytest.fixture(scope="module")
def http(gateway: tuple[Gateway, _Collect]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway[0].url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module", autouse=True)
def no_tracebacks_logged(gateway: tuple[Gateway, _Collect]) -> Iterator[None]:
    yield
    bad = [r for r in gateway[1].records if r.exc_info or "Traceback" in r.getMessage()]
    assert not bad, [r.getMessage() for r in bad]


def post(http: httpx.Client, door: str, body: Any) -> httpx.Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return http.post(door, content=data, headers={"content-type": "application/json"})


def assert_client_error(resp: httpx.Response, door: str, *, status: int | None = None) -> str:
    """A 4xx whose body is the door's own error shape with a readable message; returns the message."""
    assert 400 <= resp.status_code < 500, f"{resp.status_code}: {resp.text[:500]}"
    if status is not None:
        assert resp.status_code == status, resp.text[:500]
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    if door == OPENAI:
        err = body["error"]
        assert isinstance(err["type"], str) and err["type"]
    else:
        assert body["type"] == "error"
        err = body["error"]
        assert isinstance(err["type"], str) and err["type"]
    message = err["message"]
    assert isinstance(message, str) and len(message) >= 10
    assert "Traceback" not in resp.text and 'File "' not in resp.text
    return message


# ---------------------------------------------------------------- valid requests, varied in every field


def _text() -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=40)


@st.composite
def openai_requests(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"model": draw(st.sampled_from(["detour", "ant/claude-x", "fbo/fb-oai"]))}
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        system = draw(_text())
        messages.append({"role": draw(st.sampled_from(["system", "developer"])),
                         "content": draw(st.sampled_from([system, [{"type": "text", "text": system}]]))})
    turns = draw(st.integers(0, 2))
    for _ in range(turns):
        messages.append({"role": "user", "content": draw(_text())})
        messages.append({"role": "assistant", "content": draw(st.one_of(_text(), st.none())) or "ok"})
    parts: list[dict[str, Any]] = [{"type": "text", "text": draw(_text())}]
    if draw(st.booleans()):
        parts.append({"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}",
                                                         "detail": draw(st.sampled_from(["auto", "low", "high"]))}})
    messages.append({"role": "user", "content": parts if len(parts) > 1 or draw(st.booleans()) else parts[0]["text"]})
    body["messages"] = messages
    optional = {
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0.01, 1),
        "max_tokens": st.integers(1, 4096),
        "max_completion_tokens": st.integers(1, 4096),
        "stop": st.one_of(st.text(min_size=1, max_size=5), st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=4)),
        "seed": st.integers(0, 2**31),
        "user": st.text(max_size=20),
        "metadata": st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=8), st.text(max_size=10), max_size=3),
        "response_format": st.sampled_from([{"type": "text"}, {"type": "json_object"}]),
        "frequency_penalty": st.floats(-2, 2),
        "presence_penalty": st.floats(-2, 2),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    if draw(st.booleans()):
        names = draw(st.lists(st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True), min_size=1, max_size=3, unique=True))
        body["tools"] = [{"type": "function", "function": {
            "name": n, "description": draw(st.text(max_size=30)),
            "parameters": {"type": "object", "properties": {"x": {"type": draw(st.sampled_from(["string", "integer"]))}}}}}
            for n in names]
        body["tool_choice"] = draw(st.sampled_from(["auto", "none", "required", {"type": "function", "function": {"name": names[0]}}]))
        if draw(st.booleans()):
            body["parallel_tool_calls"] = draw(st.booleans())
    body["stream"] = draw(st.booleans())
    if body["stream"] and draw(st.booleans()):
        body["stream_options"] = {"include_usage": draw(st.booleans())}
    return body


@st.composite
def anthropic_requests(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"model": draw(st.sampled_from(["detour", "ant/claude-x", "fbo/fb-oai"])),
                            "max_tokens": draw(st.integers(1, 4096))}
    if draw(st.booleans()):
        system = draw(_text())
        body["system"] = draw(st.sampled_from([system, [{"type": "text", "text": system}]]))
    messages: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 2))):
        messages.append({"role": "user", "content": draw(_text())})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": draw(_text())}]})
    blocks: list[dict[str, Any]] = [{"type": "text", "text": draw(_text())}]
    if draw(st.booleans()):
        blocks.append({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}})
    messages.append({"role": "user", "content": blocks if len(blocks) > 1 or draw(st.booleans()) else blocks[0]["text"]})
    body["messages"] = messages
    optional = {
        "temperature": st.floats(0, 1),
        "top_p": st.floats(0.01, 1),
        "top_k": st.integers(1, 100),
        "stop_sequences": st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=4),
        "metadata": st.builds(lambda u: {"user_id": u}, st.text(string.ascii_letters, min_size=1, max_size=12)),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    if draw(st.booleans()):
        names = draw(st.lists(st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_-]{0,15}", fullmatch=True), min_size=1, max_size=3,
                              unique=True))
        body["tools"] = [{"name": n, "description": draw(st.text(max_size=30)),
                          "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}}} for n in names]
        body["tool_choice"] = draw(st.sampled_from([{"type": "auto"}, {"type": "any"}, {"type": "tool", "name": names[0]},
                                                    {"type": "none"}]))
    body["stream"] = draw(st.booleans())
    return body


def assert_success(resp: httpx.Response, door: str, stream: bool) -> None:
    assert resp.status_code == 200, resp.text[:500]
    if not stream:
        body = resp.json()
        text = body["choices"][0]["message"]["content"] if door == OPENAI else body["content"][0]["text"]
        assert text == "fine"
        return
    events = [json.loads(line[5:]) for line in resp.text.splitlines() if line.startswith("data:") and "[DONE]" not in line]
    assert events and not any("error" in e or e.get("type") == "error" for e in events), resp.text[:500]


@FUZZ
@given(body=openai_requests())
def test_valid_openai_requests_succeed(http, body):
    assert_success(post(http, OPENAI, body), OPENAI, body["stream"])


@FUZZ
@given(body=anthropic_requests())
def test_valid_anthropic_requests_succeed(http, body):
    assert_success(post(http, ANTHROPIC, body), ANTHROPIC, body["stream"])


# ---------------------------------------------------------------- malformed requests


@FUZZ
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)), door=st.sampled_from(DOORS))
def test_malformed_json_is_a_400(http, raw, door):
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        return  # a JSON object: covered by the tests below
    assert_client_error(post(http, door, raw), door, status=400)


@FUZZ
@given(door=st.sampled_from(DOORS), prefix=st.binary(max_size=20),
       bad=st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]))
def test_invalid_utf8_is_a_400(http, door, prefix, bad):
    raw = b'{"model": "detour", "max_tokens": 5, "messages": [{"role": "user", "content": "' + bad + b'"}]}'
    assert_client_error(post(http, door, raw), door, status=400)
    assert_client_error(post(http, door, prefix.replace(b"{", b"") + bad + b"{}"), door, status=400)


JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.floats(allow_nan=False, allow_infinity=False),
                           st.text(max_size=10))
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                  st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                           max_leaves=8)


def _wrong(kinds: tuple[type, ...]) -> st.SearchStrategy[Any]:
    """A JSON value of none of the given Python types (bool is never an int here)."""
    def ok(v: Any) -> bool:
        if isinstance(v, bool):
            return bool not in kinds
        return not isinstance(v, kinds)
    return JSON_VALUES.filter(ok)


# field -> the types it accepts; any other JSON value must be refused with a 400
OPENAI_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,), "messages": (list,), "temperature": (int, float, type(None)), "top_p": (int, float, type(None)),
    "max_tokens": (int, type(None)), "stream": (bool, type(None)), "tools": (list, type(None)),
    "stop": (str, list, type(None)), "seed": (int, type(None)), "stream_options": (dict, type(None)),
    "metadata": (dict, type(None)), "response_format": (dict, type(None)), "parallel_tool_calls": (bool, type(None)),
}
ANTHROPIC_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,), "messages": (list,), "max_tokens": (int, type(None)), "temperature": (int, float, type(None)),
    "top_p": (int, float, type(None)), "stop_sequences": (list, type(None)), "system": (str, list, type(None)),
    "tools": (list, type(None)), "stream": (bool, type(None)), "tool_choice": (dict, type(None)),
    "thinking": (dict, type(None)),
}


@st.composite
def wrong_types(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    door = draw(st.sampled_from(DOORS))
    body = draw(openai_requests() if door == OPENAI else anthropic_requests())
    body.pop("tool_choice", None)  # a tool_choice without tools is its own error
    fields = OPENAI_TYPES if door == OPENAI else ANTHROPIC_TYPES
    key = draw(st.sampled_from(sorted(fields)))
    body[key] = draw(_wrong(fields[key]))
    return door, key, body


@FUZZ
@given(case=wrong_types())
def test_wrong_types_are_a_400_naming_the_field(http, case):
    door, key, body = case
    message = assert_client_error(post(http, door, body), door, status=400)
    assert re.match(rf"^(body\.)?{key}[.\[:]", message), (key, message)  # the message starts with the field's path


@st.composite
def missing_fields(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    door = draw(st.sampled_from(DOORS))
    body = draw(openai_requests() if door == OPENAI else anthropic_requests())
    where = draw(st.sampled_from(["model", "messages", "role", "content"]))
    if where in ("model", "messages"):
        del body[where]
    else:
        del body["messages"][-1][where]  # the last message is the user's
    return door, body


@FUZZ
@given(case=missing_fields())
def test_missing_fields_are_a_400(http, case):
    door, body = case
    assert_client_error(post(http, door, body), door, status=400)


@FUZZ
@given(door=st.sampled_from(DOORS), role=st.text(max_size=12).filter(
    lambda r: r not in ("user", "assistant", "system", "developer", "tool", "function")))
def test_unknown_roles_are_a_400(http, door, role):
    body = {"model": "detour", "max_tokens": 5, "messages": [{"role": role, "content": "hi"}]}
    message = assert_client_error(post(http, door, body), door, status=400)
    assert "role" in message


@FUZZ
@given(door=st.sampled_from(DOORS), data=st.text(min_size=1, max_size=40).filter(lambda s: any(c in s for c in "!@#$%^&*(){}[]|\\:;\"'<>,.?~`")))
def test_bad_base64_images_are_a_400(http, door, data):
    if door == OPENAI:
        part = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}
    else:
        part = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    body = {"model": "detour", "max_tokens": 5, "messages": [{"role": "user", "content": [part]}]}
    message = assert_client_error(post(http, door, body), door, status=400)
    assert "base64" in message


@pytest.mark.parametrize("door", DOORS)
@pytest.mark.parametrize("data", ["0 ", "AAAAA", "QUJD\nR"])
def test_base64_of_an_impossible_length_is_a_400(http, door, data):
    """Base64 characters only, but 4n+1 of them (whitespace aside): no encoder writes that (found by the fuzzer)."""
    if door == OPENAI:
        part = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}
    else:
        part = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}}
    body = {"model": "detour", "max_tokens": 5, "messages": [{"role": "user", "content": [part]}]}
    assert "base64" in assert_client_error(post(http, door, body), door, status=400)


@pytest.mark.parametrize("door", DOORS)
def test_deep_nesting_is_a_400(http, door):
    deep = b"[" * 100_000 + b"]" * 100_000
    assert_client_error(post(http, door, deep), door, status=400)
    nested: Any = "x"
    for _ in range(900):  # parses (orjson's limit is 1024), but is no message content
        nested = [nested]
    body = {"model": "detour", "max_tokens": 5, "messages": [{"role": "user", "content": nested}]}
    assert_client_error(post(http, door, json.dumps(body).encode()), door, status=400)


@pytest.mark.parametrize("door", DOORS)
def test_huge_bodies_and_strings(http, door):
    huge = {"model": "detour", "max_tokens": 5, "messages": [{"role": "user", "content": "x" * (33 * 1024 * 1024)}]}
    assert_client_error(post(http, door, huge), door, status=413)
    long_model = {"model": "m" * 1_000_000, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    message = assert_client_error(post(http, door, long_model), door, status=404)
    assert len(message) < 2000, "the error echoes the whole input back"


@pytest.mark.parametrize("door", DOORS)
def test_ten_thousand_tools_are_a_400(http, door):
    if door == OPENAI:
        tools = [{"type": "function", "function": {"name": f"t{i}", "parameters": {"type": "object"}}} for i in range(10_000)]
    else:
        tools = [{"name": f"t{i}", "input_schema": {"type": "object"}} for i in range(10_000)]
    body = {"model": "detour", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "tools": tools}
    message = assert_client_error(post(http, door, body), door, status=400)
    assert "tools" in message


# ---------------------------------------------------------------- the config


CONFIG_KEYS = {
    "": ["model", "chains", "provider", "server", "state", "budget", "catalog", "routes", "timeouts", "logging",
         "discovery", "$schema", "unknownThing"],
    "model": ["primary", "fallback", "onRateLimit", "retryAttempts", "strategy", "maxRetryWait", "require",
              "maxCostTier", "maxPriceRatio", "allowDowngrade", "onContentBlock", "unknownCapability", "retryAttemps"],
    "provider": ["baseURL", "apiKey", "protocol", "headers", "models", "options", "npm", "name", "baseUrl"],
    "models": ["tools", "image", "context", "max_output", "cost_input", "prefill", "speed_tps", "vision"],
    "server": ["host", "port", "apiKeys", "maxBodySize", "cors", "prt"],
    "timeouts": ["connect", "firstToken", "firstTokenReasoning", "idle", "total", "ttft"],
    "budget": ["daily", "monthly"],
    "state": ["url", "prefix"],
}
CONFIG_STRINGS = st.sampled_from([
    "openai/gpt-5", "anthropic/claude-sonnet-4-5", "gpt-5", "", "10s", "500ms", "2m", "1h", "forever", "32MiB", "128k",
    "auto-switch", "retry", "wait", "fail", "priority", "cost", "speed", "tools", "image", "memory", "sqlite",
    "redis://localhost:6379/0", "sqlite:///tmp/x.db", "http://127.0.0.1:1234/v1", "ftp://x", "{env:NOPE}", "${NOPE}",
    "openai", "anthropic", "gemini", "debug", "INFO", "verbose", "-1", "1e309", "🙂",
])
CONFIG_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True), CONFIG_STRINGS)


def _config_value(section: str, depth: int) -> st.SearchStrategy[Any]:
    if depth <= 0:
        return CONFIG_SCALARS
    keys = CONFIG_KEYS.get(section)
    children: list[st.SearchStrategy[Any]] = [CONFIG_SCALARS, st.lists(CONFIG_SCALARS, max_size=3)]
    if keys:
        children.append(st.dictionaries(st.sampled_from(keys), st.deferred(lambda: _config_value(_next(section), depth - 1)),
                                        max_size=4))
    else:  # a map of names (chains, provider ids, model ids, routes)
        names = st.sampled_from(["openai", "oai", "lmstudio", "gpt-5", "openai/gpt-5", "fast", "a b", ""])
        children.append(st.dictionaries(names, st.deferred(lambda: _config_value(_inner(section), depth - 1)), max_size=3))
    return st.one_of(*children)


def _next(section: str) -> str:
    return {"": "*", "provider": "*models", "models": "*"}.get(section, "*")


def _inner(section: str) -> str:
    return {"*": "model", "*models": "models"}.get(section, "model")


@st.composite
def config_documents(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(CONFIG_SCALARS)  # not even an object
    doc: dict[str, Any] = {}
    for key in draw(st.lists(st.sampled_from(CONFIG_KEYS[""]), max_size=5, unique=True)):
        section = {"chains": "*", "provider": "*", "routes": "*", "budget": "budget"}.get(key, key)
        if key == "provider":
            doc[key] = draw(st.dictionaries(st.sampled_from(["openai", "oai", "lmstudio", ""]),
                                            st.one_of(CONFIG_SCALARS, _config_value("provider", 2)), max_size=2))
        elif key == "chains":
            doc[key] = draw(st.dictionaries(st.sampled_from(["fast", "default", ""]),
                                            st.one_of(CONFIG_STRINGS, _config_value("model", 1)), max_size=2))
        else:
            doc[key] = draw(_config_value(section if section in CONFIG_KEYS else "*", 2))
    return doc


@settings(max_examples=300, deadline=None)
@given(doc=config_documents())
def test_config_fuzz_gives_clear_validation_errors(doc):
    try:
        loaded = parse_config(doc, env={}, base_dir=Path("/nonexistent"))
    except ConfigError as exc:
        assert exc.issues, "a ConfigError without issues"
        text = str(exc)
        assert text and "Traceback" not in text
        for issue in exc.issues:
            assert issue.severity in ("error", "warning") and issue.message
            if isinstance(doc, dict) and issue.severity == "error":
                assert issue.path, f"an error without a key path: {issue}"
                top = issue.path.split(".")[0].split("[")[0]
                assert top in doc, f"{issue.path!r} names no key of the document"
        return
    assert isinstance(loaded, LoadedConfig) and isinstance(doc, dict)
