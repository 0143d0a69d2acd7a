"""The official google-genai SDK parses every success and stream shape of the fake, and raises its own errors."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import errors, types

from detour.testing import B, FakeProvider


async def test_generate_content(fake: FakeProvider, gem: genai.Client) -> None:
    fake.script("gemini-2.5-flash", B.text("hello", usage=(5, 2)))
    out = await gem.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")
    assert out.text == "hello"
    assert out.candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]
    assert out.usage_metadata.prompt_token_count == 5  # type: ignore[union-attr]
    assert out.model_version == "gemini-2.5-flash"
    rec = fake.requests[-1]
    assert (rec.protocol, rec.model, rec.stream) == ("gemini", "gemini-2.5-flash", False)
    assert rec.headers["x-goog-api-key"] == "x"


async def test_stream(fake: FakeProvider, gem: genai.Client) -> None:
    fake.default = B.text("abcdefghij", chunks=5)
    stream = await gem.aio.models.generate_content_stream(model="g", contents="hi")
    chunks = [c async for c in stream]
    assert "".join(c.text or "" for c in chunks) == "abcdefghij"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP  # type: ignore[index]
    assert chunks[-1].usage_metadata.total_token_count  # type: ignore[union-attr]
    assert fake.requests[-1].stream is True


async def test_function_call(fake: FakeProvider, gem: genai.Client) -> None:
    fake.default = B.tool_call("get_weather", {"city": "Oslo"})
    out = await gem.aio.models.generate_content(model="g", contents="hi")
    call = out.function_calls[0]  # type: ignore[index]
    assert (call.name, call.args) == ("get_weather", {"city": "Oslo"})
    stream = await gem.aio.models.generate_content_stream(model="g", contents="hi")
    calls = [fc for c in [c async for c in stream] for fc in (c.function_calls or [])]
    assert calls[0].args == {"city": "Oslo"}


async def test_thinking(fake: FakeProvider, gem: genai.Client) -> None:
    fake.default = B.thinking("pondering", "42", signature="sig-1")
    out = await gem.aio.models.generate_content(model="g", contents="hi")
    parts = out.candidates[0].content.parts  # type: ignore[index, union-attr]
    assert parts[0].thought is True and parts[0].text == "pondering"  # type: ignore[index]
    assert parts[0].thought_signature == b"sig-1"  # type: ignore[index]
    assert out.usage_metadata.thoughts_token_count  # type: ignore[union-attr]
    stream = await gem.aio.models.generate_content_stream(model="g", contents="hi")
    stream_parts = [p for c in [c async for c in stream] for p in c.candidates[0].content.parts]  # type: ignore[index, union-attr]
    assert any(p.thought_signature == b"sig-1" for p in stream_parts)


async def test_safety(fake: FakeProvider, gem: genai.Client) -> None:
    fake.default = B.content_filter()
    out = await gem.aio.models.generate_content(model="g", contents="hi")
    assert out.candidates[0].finish_reason == types.FinishReason.SAFETY  # type: ignore[index]
    fake.default = B.content_filter(prompt=True)
    out = await gem.aio.models.generate_content(model="g", contents="hi")
    assert out.prompt_feedback.block_reason == types.BlockedReason.SAFETY  # type: ignore[union-attr]
    assert not out.candidates


async def test_rate_limit_retry_info(fake: FakeProvider, gem: genai.Client) -> None:
    fake.default = B.rate_limit(retry_after=20)
    with pytest.raises(errors.ClientError) as info:
        await gem.aio.models.generate_content(model="g", contents="hi")
    assert info.value.code == 429 and info.value.status == "RESOURCE_EXHAUSTED"
    details = {d["@type"].rsplit(".", 1)[-1]: d for d in info.value.details["error"]["details"]}
    assert details["RetryInfo"]["retryDelay"] == "20s"
    assert "PerMinute" in details["QuotaFailure"]["violations"][0]["quotaId"]


async def test_quota_is_per_day(fake: FakeProvider, gem: genai.Client) -> None:
    fake.default = B.quota()
    with pytest.raises(errors.ClientError) as info:
        await gem.aio.models.generate_content(model="g", contents="hi")
    quota_id = info.value.details["error"]["details"][0]["violations"][0]["quotaId"]
    assert info.value.code == 429 and "PerDay" in quota_id


@pytest.mark.parametrize(
    ("behavior", "error", "code"),
    [
        (B.overloaded(), errors.ServerError, 503),
        (B.server_error(), errors.ServerError, 500),
        (B.status(504), errors.ServerError, 504),
        (B.context_length(), errors.ClientError, 400),
        (B.status(404), errors.ClientError, 404),
    ],
)
async def test_error_classes(fake: FakeProvider, gem: genai.Client, behavior: object, error: type, code: int) -> None:
    fake.default = behavior  # type: ignore[assignment]
    with pytest.raises(error) as info:
        await gem.aio.models.generate_content(model="g", contents="hi")
    assert info.value.code == code


async def test_midstream_error(fake: FakeProvider, gem: genai.Client) -> None:
    fake.default = B.midstream_error(after=1)
    stream = await gem.aio.models.generate_content_stream(model="g", contents="hi")
    seen: list[str] = []
    with pytest.raises(errors.APIError) as info:
        async for c in stream:
            seen.append(c.text or "")
    assert info.value.code == 503 and len(seen) == 1


async def test_echo_reads_last_user_text(fake: FakeProvider, gem: genai.Client) -> None:
    fake.default = B.echo()
    out = await gem.aio.models.generate_content(model="g", contents="repeat after me")
    assert out.text == "repeat after me"

