"""The sync wrappers and the one-liner, against a fake running on its own thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import detour
from detour.config import parse_config
from detour.router import Router
from detour.testing import B, FakeProvider

from .conftest import request


@pytest.fixture
def threaded_fake() -> Iterator[FakeProvider]:
    fake = FakeProvider.start_in_thread()
    try:
        yield fake
    finally:
        fake.stop()


def config(fake: FakeProvider):  # type: ignore[no-untyped-def]
    return parse_config({
        "model": {"primary": "p1/a", "fallback": ["p2/b"]},
        "provider": {p: {"baseURL": fake.openai_base, "apiKey": "sk-test"} for p in ("p1", "p2")},
    }).config


def test_complete_one_liner(threaded_fake: FakeProvider) -> None:
    threaded_fake.script("a", B.rate_limit(retry_after=30))
    threaded_fake.script("b", B.echo())
    result = detour.complete(messages=[{"role": "user", "content": "hi there"}], model="detour", config=config(threaded_fake))
    assert result.response.text() == "hi there" and result.model == "p2/b" and result.fallback_reason == "rate_limited"


def test_chat_sync(threaded_fake: FakeProvider) -> None:
    threaded_fake.script("a", B.text("sync hello"))
    router = Router(config(threaded_fake), catalog=False)
    assert router.chat_sync(request()).response.text() == "sync hello"
    assert router.chat_sync(request()).response.text() == "sync hello"  # a second event loop works too


def test_printing_a_result_prints_the_answer_text(threaded_fake: FakeProvider, capsys: pytest.CaptureFixture[str]) -> None:
    threaded_fake.script("a", B.text("the answer, and nothing else"))
    print(detour.complete(messages=[{"role": "user", "content": "hi"}], model="detour", config=config(threaded_fake)))
    assert capsys.readouterr().out == "the answer, and nothing else\n"


def test_printing_a_tool_call_result_names_the_call(threaded_fake: FakeProvider) -> None:
    threaded_fake.script("a", B.tool_call("get_weather", {"city": "Paris"}))
    result = detour.complete(messages=[{"role": "user", "content": "weather?"}], model="detour", config=config(threaded_fake))
    assert str(result) == 'get_weather({"city":"Paris"})'
