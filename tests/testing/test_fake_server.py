"""Scripts, recording, discovery, the control API, thread and subprocess modes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from detour.testing import B, FakeProvider, LocalModel, Recorded, from_spec

CHAT = {"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}]}


async def post(client: httpx.AsyncClient, fake: FakeProvider, body: dict = CHAT) -> httpx.Response:
    return await client.post(f"{fake.openai_base}/chat/completions", json=body)


async def test_script_sequence_then_last_repeats(fake: FakeProvider) -> None:
    fake.script("gpt-5", B.rate_limit(retry_after=1), B.text("a"), B.text("b"))
    async with httpx.AsyncClient() as client:
        got = [await post(client, fake) for _ in range(4)]
    assert [r.status_code for r in got] == [429, 200, 200, 200]
    assert [r.json()["choices"][0]["message"]["content"] for r in got[1:]] == ["a", "b", "b"]
    assert fake.count("gpt-5") == 4


async def test_default_wildcard_and_model_scripts(fake: FakeProvider) -> None:
    fake.default = B.text("default")
    fake.script("other", B.text("other"))
    async with httpx.AsyncClient() as client:
        assert (await post(client, fake)).json()["choices"][0]["message"]["content"] == "default"
        fake.script("*", B.text("star"))
        assert (await post(client, fake)).json()["choices"][0]["message"]["content"] == "star"
        other = await post(client, fake, {**CHAT, "model": "other"})
    assert other.json()["choices"][0]["message"]["content"] == "other"
    assert other.json()["model"] == "other"


async def test_recording(fake: FakeProvider) -> None:
    async with httpx.AsyncClient() as client:
        await client.post(f"{fake.url}/v1/messages", json={"model": "c", "stream": True, "messages": []},
                          headers={"X-Api-Key": "k"})
    rec = fake.requests[0]
    assert isinstance(rec, Recorded)
    assert (rec.protocol, rec.path, rec.model, rec.stream) == ("anthropic", "/v1/messages", "c", True)
    assert rec.headers["x-api-key"] == "k" and rec.body["messages"] == [] and rec.t > 0
    assert fake.count("c") == 1 and fake.count() == 1


async def test_reset_clears_scripts_and_recordings(fake: FakeProvider) -> None:
    fake.script("gpt-5", B.status(500))
    async with httpx.AsyncClient() as client:
        assert (await post(client, fake)).status_code == 500
        fake.reset()
        assert fake.requests == [] and fake.count("gpt-5") == 0
        assert (await post(client, fake)).status_code == 200


async def test_random_is_seeded_and_mixes(fake: FakeProvider) -> None:
    def statuses_of(seed: int) -> list[int]:
        rnd = B.random([(1, B.text()), (1, B.status(503))], seed=seed)
        rec = Recorded("openai", "/", "m", {}, {}, False, 0.0)
        return [500 if type(rnd.resolve(rec)).__name__ == "Fail" else 200 for _ in range(40)]

    assert statuses_of(7) == statuses_of(7)
    assert set(statuses_of(7)) == {200, 500}


async def test_fn_sees_the_request(fake: FakeProvider) -> None:
    fake.default = B.fn(lambda rec: B.context_length() if rec.body.get("temperature") else B.text("fine"))
    async with httpx.AsyncClient() as client:
        assert (await post(client, fake, {**CHAT, "temperature": 0.5})).status_code == 400
        assert (await post(client, fake)).status_code == 200


async def test_echo_openai_and_anthropic_parts(fake: FakeProvider) -> None:
    fake.default = B.echo()
    oai = openai.AsyncOpenAI(base_url=fake.openai_base, api_key="x", max_retries=0)
    out = await oai.chat.completions.create(
        model="m", messages=[{"role": "user", "content": [{"type": "text", "text": "ping"}]}]
    )
    assert out.choices[0].message.content == "ping"
    ant = anthropic.AsyncAnthropic(base_url=fake.url, api_key="x", max_retries=0)
    msg = await ant.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "pong"}])
    assert msg.content[0].text == "pong"  # type: ignore[union-attr]


async def test_reject_prefill_openai(fake: FakeProvider) -> None:
    fake.default = B.reject_prefill(B.text("continued"))
    async with httpx.AsyncClient() as client:
        prefill = {**CHAT, "messages": [*CHAT["messages"], {"role": "assistant", "content": "Sure"}]}
        bad = await post(client, fake, prefill)
        good = await post(client, fake)
    assert bad.status_code == 400 and "prefill" in bad.json()["error"]["message"]
    assert good.json()["choices"][0]["message"]["content"] == "continued"


async def test_invalid_json_and_unknown_route(fake: FakeProvider) -> None:
    async with httpx.AsyncClient() as client:
        bad = await client.post(f"{fake.openai_base}/chat/completions", content=b"{nope")
        missing = await client.get(f"{fake.url}/nowhere")
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    assert missing.status_code == 404


async def test_discovery_endpoints(fake: FakeProvider) -> None:
    fake.local_models = [
        LocalModel("qwen3-8b", thinking=True, context_length=40960),
        LocalModel("qwen2-vl", type="vlm", tools=False),
        "plain",
    ]
    async with httpx.AsyncClient(base_url=fake.url) as client:
        lms = (await client.get("/api/v0/models")).json()["data"]
        one = (await client.get("/api/v0/models/qwen2-vl")).json()
        oai_ids = [m["id"] for m in (await client.get("/v1/models")).json()["data"]]
        ant_list = (await client.get("/v1/models", headers={"anthropic-version": "2023-06-01"})).json()
        tags = (await client.get("/api/tags")).json()["models"]
        show = (await client.post("/api/show", json={"model": "qwen3-8b"})).json()
        vl = (await client.post("/api/show", json={"model": "qwen2-vl"})).json()
        unknown = await client.post("/api/show", json={"model": "nope"})
    assert lms[0]["type"] == "llm" and lms[0]["capabilities"] == ["tool_use"] and lms[0]["max_context_length"] == 40960
    assert one["type"] == "vlm" and one["capabilities"] == []
    assert oai_ids == ["qwen3-8b", "qwen2-vl", "plain"]
    assert ant_list["data"][0]["type"] == "model" and ant_list["has_more"] is False
    assert [t["name"] for t in tags] == ["qwen3-8b", "qwen2-vl", "plain"]
    assert show["capabilities"] == ["completion", "tools", "thinking"]
    assert show["model_info"]["qwen3.context_length"] == 40960
    assert vl["capabilities"] == ["completion", "vision"]
    assert unknown.status_code == 404 and "not found" in unknown.json()["error"]
    assert {r.protocol for r in fake.requests} == {"lmstudio", "openai", "anthropic", "ollama"}


async def test_openai_sdk_lists_models(fake: FakeProvider) -> None:
    fake.local_models = ["a", "b"]
    oai = openai.AsyncOpenAI(base_url=fake.openai_base, api_key="x", max_retries=0)
    assert [m.id async for m in oai.models.list()] == ["a", "b"]


def test_from_spec() -> None:
    assert from_spec("text") == B.text()
    assert from_spec({"rate_limit": {"retry_after": 20}}) == B.rate_limit(retry_after=20)
    assert from_spec({"text": {"usage": [1, 2]}}) == B.text(usage=(1, 2))
    assert from_spec({"reject_prefill": {"otherwise": {"text": {"text": "x"}}}}) == B.reject_prefill(B.text("x"))
    with pytest.raises(ValueError, match="unknown behaviour"):
        from_spec({"explode": {}})
    with pytest.raises(ValueError):
        from_spec({"text": {}, "cut": {}})


async def test_control_api(fake: FakeProvider) -> None:
    spec = {"gpt-5": [{"status": {"code": 503}}, {"text": {"text": "hi"}}], "*": ["quota"]}
    async with httpx.AsyncClient(base_url=fake.url) as client:
        assert (await client.post("/__fake/script", json=spec)).json()["models"] == ["*", "gpt-5"]
        assert (await post(client, fake)).status_code == 503
        assert (await post(client, fake)).json()["choices"][0]["message"]["content"] == "hi"
        assert (await post(client, fake, {**CHAT, "model": "x"})).json()["error"]["code"] == "insufficient_quota"
        recorded = (await client.get("/__fake/requests", params={"model": "gpt-5"})).json()
        bad = await client.post("/__fake/script", json={"gpt-5": [{"nope": {}}]})
        assert (await client.post("/__fake/reset")).json() == {"ok": True}
        after = (await client.get("/__fake/requests")).json()
    assert [r["model"] for r in recorded] == ["gpt-5", "gpt-5"] and recorded[0]["body"] == CHAT
    assert bad.status_code == 400 and after == []


async def test_keep_alive_and_pipelining(fake: FakeProvider) -> None:
    fake.script("gpt-5", B.text("one"), B.text("two"))
    body = json.dumps(CHAT).encode()
    req = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body)
    reader, writer = await asyncio.open_connection("127.0.0.1", fake.port)
    writer.write(req + req)  # two pipelined requests on one connection
    texts = []
    for _ in range(2):
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        texts.append(json.loads(await reader.readexactly(length))["choices"][0]["message"]["content"])
    writer.close()
    assert texts == ["one", "two"]


async def test_concurrent_random_soak(fake: FakeProvider) -> None:
    fake.default = B.random([(8, B.text()), (1, B.rate_limit(retry_after=1)), (1, B.overloaded())], seed=3)
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        sem = asyncio.Semaphore(16)

        async def one() -> int:
            async with sem:
                return (await post(client, fake)).status_code

        codes = await asyncio.gather(*(one() for _ in range(200)))
    assert set(codes) == {200, 429, 503} and fake.count("gpt-5") == 200


def test_start_in_thread_with_sync_clients() -> None:
    with FakeProvider.start_in_thread(default=B.text("threaded")) as fake:
        fake.script("bad", B.rate_limit(retry_after=2))
        client = openai.OpenAI(base_url=fake.openai_base, api_key="x", max_retries=0)
        out = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert out.choices[0].message.content == "threaded"
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="bad", messages=[{"role": "user", "content": "hi"}])
        assert fake.count("m") == 1 and fake.count("bad") == 1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{fake.url}/v1/models")


def test_subprocess_mode(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"gpt-5": [{"rate_limit": {"retry_after": 20}}, {"text": {"text": "hi"}}]}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "detour.testing", "--port", "0", "--script", str(script), "--latency-ms", "1"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        url = json.loads(proc.stdout.readline())["url"]  # type: ignore[union-attr]
        with httpx.Client(base_url=url) as client:
            first = client.post("/v1/chat/completions", json=CHAT)
            second = client.post("/v1/chat/completions", json=CHAT)
            client.post("/__fake/script", json={"*": [{"overloaded": {}}]})
            third = client.post("/v1/messages", json={"model": "c", "max_tokens": 1, "messages": []})
            recorded = client.get("/__fake/requests").json()
    finally:
        proc.terminate()
        proc.wait(10)
    assert first.status_code == 429 and first.headers["retry-after"] == "20"
    assert second.json()["choices"][0]["message"]["content"] == "hi"
    assert third.status_code == 529
    assert [r["protocol"] for r in recorded] == ["openai", "openai", "anthropic"]
    assert proc.returncode == 0
