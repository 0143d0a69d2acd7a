"""Local server discovery against loopback LM Studio and Ollama look-alikes."""

from __future__ import annotations

import json

from detour.catalog.discovery import discover_local
from catalog_loopback import free_port, json_reply, serve


def _lmstudio(method, path, headers, body):
    if path == "/api/v0/models":
        return json_reply({"data": [
            {"id": "qwen2-vl-7b", "type": "vlm", "max_context_length": 32768, "capabilities": []},
            {"id": "qwen3-coder-30b", "type": "llm", "max_context_length": 262144, "capabilities": ["tool_use"]},
            {"id": "nomic-embed", "type": "embeddings"},
        ]})
    return json_reply({"error": "not found"}, 404)


def _lmstudio_old(method, path, headers, body):
    if path == "/v1/models":
        return json_reply({"data": [{"id": "some-model"}]})
    return json_reply({"error": "not found"}, 404)


def _ollama(method, path, headers, body):
    if path == "/api/tags":
        return json_reply({"models": [{"name": "llama3.2:3b"}, {"name": "qwen3:8b"}, {"name": "llava:7b"}]})
    if path == "/api/show" and method == "POST":
        caps = {"llama3.2:3b": ["completion", "tools"], "qwen3:8b": ["completion", "tools", "thinking"],
                "llava:7b": ["completion", "vision"]}[json.loads(body)["model"]]
        return json_reply({"capabilities": caps})
    return json_reply({}, 404)


async def test_lmstudio_native_api() -> None:
    with serve(_lmstudio) as url:
        found = await discover_local({"lmstudio": f"{url}/v1"})
    models = {m.id: m for m in found["lmstudio"]}
    assert set(models) == {"lmstudio/qwen2-vl-7b", "lmstudio/qwen3-coder-30b"}
    assert models["lmstudio/qwen2-vl-7b"].image is True and models["lmstudio/qwen2-vl-7b"].tools is None
    coder = models["lmstudio/qwen3-coder-30b"]
    assert (coder.tools, coder.image, coder.context, coder.uncensored) == (True, False, 262144, True)


async def test_lmstudio_openai_fallback() -> None:
    with serve(_lmstudio_old) as url:
        found = await discover_local({"lmstudio": url})
    assert [m.id for m in found["lmstudio"]] == ["lmstudio/some-model"]
    assert found["lmstudio"][0].tools is None


async def test_ollama_capabilities() -> None:
    with serve(_ollama) as url:
        found = await discover_local({"ollama": url})
    models = {m.model: m for m in found["ollama"]}
    assert (models["llama3.2:3b"].tools, models["llama3.2:3b"].image, models["llama3.2:3b"].thinking) == (True, False, False)
    assert models["qwen3:8b"].thinking is True and models["qwen3:8b"].reasoning is True
    assert models["llava:7b"].image is True and models["llava:7b"].tools is False


async def test_unreachable_servers_are_absent() -> None:
    port = free_port()
    assert await discover_local({"lmstudio": f"http://127.0.0.1:{port}", "ollama": f"http://127.0.0.1:{port}"}) == {}
