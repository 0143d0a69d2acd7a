"""Local servers' quirks (detour.testing.dialects) through both doors: the OpenAI and Anthropic SDKs against a
real gateway whose upstream is a fake speaking llama-cpp-python, llama.cpp, Ollama or vLLM Chat Completions."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from detour.testing import B

SERVERS = ["llama-cpp-python", "llama.cpp", "ollama", "vllm", "lmstudio"]
ARGS = {"city": "Paris", "unit": "celsius", "days": [1, 2, 3]}
WIRE_ARGS = json.dumps(ARGS, separators=(",", ":"))  # exactly the bytes the fake sends (orjson, compact)
TOOL_OAI = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
TOOL_ANT = [{"name": "get_weather", "description": "weather", "input_schema": {"type": "object"}}]
ASK = [{"role": "user", "content": "weather?"}]


def oai(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def ant(gw) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)


@pytest.mark.parametrize("server", SERVERS)
def test_one_tool_call_reaches_an_openai_client(make_gateway, fake, server):
    """llama-cpp-python repeats each call in the legacy function_call: still one call, arguments byte-identical."""
    fake.script("gpt-x", B.tool_call("get_weather", ARGS, chunks=4, server=server))
    gw = make_gateway()
    whole = oai(gw).chat.completions.create(model="oai/gpt-x", messages=ASK, tools=TOOL_OAI)
    calls = whole.choices[0].message.tool_calls
    assert len(calls) == 1 and calls[0].function.name == "get_weather" and calls[0].function.arguments == WIRE_ARGS
    assert whole.choices[0].message.function_call is None and whole.choices[0].finish_reason == "tool_calls"

    streamed: dict[int, dict[str, str]] = {}
    for chunk in oai(gw).chat.completions.create(model="oai/gpt-x", messages=ASK, tools=TOOL_OAI, stream=True):
        for choice in chunk.choices:
            assert choice.delta.function_call is None
            for tc in choice.delta.tool_calls or ():
                entry = streamed.setdefault(tc.index, {"id": "", "name": "", "args": ""})
                entry["id"] += tc.id or ""
                entry["name"] += (tc.function.name or "") if tc.function else ""
                entry["args"] += (tc.function.arguments or "") if tc.function else ""
    assert list(streamed) == [0]
    assert streamed[0]["name"] == "get_weather" and streamed[0]["args"] == WIRE_ARGS and streamed[0]["id"]


@pytest.mark.parametrize("server", SERVERS)
def test_one_tool_use_reaches_an_anthropic_client(make_gateway, fake, server):
    fake.script("gpt-x", B.tool_call("get_weather", ARGS, chunks=4, server=server))
    gw = make_gateway()
    msg = ant(gw).messages.create(model="oai/gpt-x", max_tokens=100, messages=ASK, tools=TOOL_ANT)
    uses = [b for b in msg.content if b.type == "tool_use"]
    assert len(uses) == 1 and uses[0].name == "get_weather" and uses[0].input == ARGS
    assert msg.stop_reason == "tool_use"

    partial: list[str] = []
    starts = 0
    with ant(gw).messages.stream(model="oai/gpt-x", max_tokens=100, messages=ASK, tools=TOOL_ANT) as stream:
        for event in stream:
            if event.type == "content_block_start" and event.content_block.type == "tool_use":
                starts += 1
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                partial.append(event.delta.partial_json)
        final = stream.get_final_message()
    assert starts == 1 and "".join(partial) == WIRE_ARGS
    assert [b.input for b in final.content if b.type == "tool_use"] == [ARGS]


@pytest.mark.parametrize("stream", [False, True])
def test_answer_ids_are_fresh_when_the_upstream_repeats_its_own(make_gateway, fake, stream):
    """Ollama's chatcmpl-<n> ids repeat; a client that saw one id twice would merge two turns."""
    fake.script("gpt-x", B.text("hello there", server="ollama"))
    gw = make_gateway()
    ids = []
    for _ in range(3):
        if stream:
            ids += list({c.id for c in oai(gw).chat.completions.create(model="oai/gpt-x", messages=ASK, stream=True)})
            with ant(gw).messages.stream(model="oai/gpt-x", max_tokens=20, messages=ASK) as s:
                ids.append(s.get_final_message().id)
        else:
            ids.append(oai(gw).chat.completions.create(model="oai/gpt-x", messages=ASK).id)
            ids.append(ant(gw).messages.create(model="oai/gpt-x", max_tokens=20, messages=ASK).id)
    assert len(ids) == 6 == len(set(ids)) and "chatcmpl-768" not in ids
    assert all(i.startswith("chatcmpl-") for i in ids[0::2]) and all(i.startswith("msg_") for i in ids[1::2])


@pytest.mark.parametrize("server", ["vllm", "llama.cpp", "ollama"])
def test_reasoning_and_text_from_local_servers_reach_both_doors(make_gateway, fake, server):
    """vLLM names reasoning `reasoning`; llama.cpp adds `timings`; Ollama names the role in every delta."""
    fake.script("gpt-x", B.thinking("weighing it up", "the answer", server=server))
    gw = make_gateway()
    whole = oai(gw).chat.completions.create(model="oai/gpt-x", messages=ASK)
    assert whole.choices[0].message.content == "the answer"
    assert whole.choices[0].message.model_extra.get("reasoning_content") == "weighing it up"
    text = "".join(c.choices[0].delta.content or "" for c in
                   oai(gw).chat.completions.create(model="oai/gpt-x", messages=ASK, stream=True) if c.choices)
    assert text == "the answer"
    with ant(gw).messages.stream(model="oai/gpt-x", max_tokens=50, messages=ASK) as s:
        final = s.get_final_message()
    assert [(b.type, getattr(b, "thinking", None) or getattr(b, "text", None)) for b in final.content] == [
        ("thinking", "weighing it up"), ("text", "the answer")]
