"""Local-server dialects of the fake: each is valid for the openai SDK and carries exactly its documented quirk."""

from __future__ import annotations

import httpx
import openai
import pytest

from detour.testing import B, FakeProvider, LocalModel
from detour.testing.dialects import DIALECTS

MSGS = [{"role": "user", "content": "hi"}]


async def test_llama_cpp_python_sends_the_call_twice_over(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.default = B.tool_call("get_weather", {"city": "Oslo"}, server="llama-cpp-python")
    whole = await oai.chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    msg = whole.choices[0].message
    assert msg.function_call is not None and msg.tool_calls is not None and len(msg.tool_calls) == 1
    assert msg.function_call.arguments == msg.tool_calls[0].function.arguments == '{"city":"Oslo"}'
    deltas = [c.choices[0].delta async for c in await oai.chat.completions.create(
        model="m", messages=MSGS, stream=True)]  # type: ignore[arg-type]
    both = [d for d in deltas if d.function_call is not None and d.tool_calls]
    assert both and all(d.function_call.arguments == d.tool_calls[0].function.arguments for d in both)  # type: ignore[union-attr,index]


async def test_ollama_repeats_its_ids_and_sends_a_call_whole(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.default = B.tool_call("f", {"a": 1}, server="ollama")
    chunks = [c async for c in await oai.chat.completions.create(model="m", messages=MSGS, stream=True)]  # type: ignore[arg-type]
    again = await oai.chat.completions.create(model="m", messages=MSGS)  # type: ignore[arg-type]
    assert {c.id for c in chunks} == {again.id} == {"chatcmpl-768"}
    calls = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or ())]
    assert len(calls) == 1 and calls[0].function.arguments == '{"a":1}' and calls[0].function.name == "f"  # type: ignore[union-attr]


async def test_vllm_names_reasoning_reasoning(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.default = B.thinking("hmm", "yes", server="vllm")
    msg = (await oai.chat.completions.create(model="m", messages=MSGS)).choices[0].message  # type: ignore[arg-type]
    assert msg.model_extra == {"reasoning": "hmm"}


async def test_llama_cpp_timings_ride_on_the_last_chunk(fake: FakeProvider, oai: openai.AsyncOpenAI) -> None:
    fake.default = B.text("hi", server="llama.cpp")
    chunks = [c async for c in await oai.chat.completions.create(
        model="m", messages=MSGS, stream=True, stream_options={"include_usage": True})]  # type: ignore[arg-type]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert [bool((c.model_extra or {}).get("timings")) for c in chunks] == [False] * (len(chunks) - 1) + [True]


def test_an_unknown_server_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown local server 'llamacpp'; expected one of llama-cpp-python"):
        B.text("x", server="llamacpp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown local server"):
        FakeProvider(local_server="koboldcpp")  # type: ignore[arg-type]


@pytest.mark.parametrize("server", sorted(DIALECTS))
async def test_each_listing_answers_only_where_that_server_does(server: str) -> None:
    models = [LocalModel("gemma-3-270m", context_length=4096)]
    async with FakeProvider(local_server=server, local_models=models) as fk, httpx.AsyncClient(base_url=fk.url) as http:  # type: ignore[arg-type]
        status = {p: (await http.get(p)).status_code for p in ("/v1/models", "/api/v0/models", "/api/tags")}
        listing = (await http.get("/v1/models")).json()
    assert status["/v1/models"] == 200 and listing["data"][0]["id"] == "gemma-3-270m"
    assert status["/api/v0/models"] == (200 if server == "lmstudio" else 404)
    assert status["/api/tags"] == (200 if server == "ollama" else 404)
    if server == "llama.cpp":
        assert listing["data"][0]["owned_by"] == "llamacpp" and listing["data"][0]["meta"]["n_ctx"] == 4096
        assert listing["models"][0]["name"] == "gemma-3-270m"
    if server == "vllm":
        assert listing["data"][0]["owned_by"] == "vllm" and listing["data"][0]["max_model_len"] == 4096
