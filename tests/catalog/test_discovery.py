"""Local server discovery against loopback LM Studio and Ollama look-alikes."""

from __future__ import annotations

import json
from pathlib import Path

from catalog_loopback import free_port, json_reply, serve

from detour.catalog.discovery import discover_local


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


# ---------------------------------------------------------------- where to look


def _config(doc: dict) -> object:
    from detour.config import parse_config

    return parse_config(doc).config


def test_configured_local_providers_are_probed_first_and_cover_their_default() -> None:
    from detour.catalog.discovery import local_servers

    config = _config({"provider": {
        "lmstudio": {"baseURL": "http://127.0.0.1:8080/v1"},  # LM Studio moved to llama.cpp's usual port
        "box": {"baseURL": "http://localhost:9999/v1"},  # any OpenAI-protocol provider on loopback
        "cloud": {"baseURL": "https://api.example.com/v1"},
        "claude-local": {"baseURL": "http://127.0.0.1:7777", "protocol": "anthropic"},
    }})
    assert local_servers(config) == {
        "lmstudio": "http://127.0.0.1:8080/v1", "box": "http://localhost:9999/v1",
        "ollama": "http://127.0.0.1:11434/v1", "vllm": "http://127.0.0.1:8000/v1",
    }  # llamacpp's 8080 is taken by the configured lmstudio; cloud and Anthropic-protocol endpoints are not probed


def test_the_usual_ports_without_a_config_and_nothing_when_discovery_is_off() -> None:
    from detour.catalog.discovery import local_servers

    assert local_servers(None) == {"lmstudio": "http://127.0.0.1:1234/v1", "ollama": "http://127.0.0.1:11434/v1",
                                   "llamacpp": "http://127.0.0.1:8080/v1", "vllm": "http://127.0.0.1:8000/v1"}
    assert local_servers(_config({"discovery": False, "provider": {"box": {"baseURL": "http://127.0.0.1:9/v1"}}})) == {}


async def test_llama_cpp_and_vllm_listings_give_the_served_context() -> None:
    from detour.testing import FakeProvider, LocalModel

    models = [LocalModel("models/gemma-3-270m-it-Q8_0.gguf", context_length=4096)]
    async with FakeProvider(local_server="llama.cpp", local_models=models) as cpp, \
            FakeProvider(local_server="vllm", local_models=[LocalModel("Qwen/Qwen3-8B", context_length=40960)]) as vl:
        found = await discover_local({"llamacpp": cpp.openai_base, "vllm": vl.openai_base})
    assert [(m.id, m.context, m.tools) for m in found["llamacpp"]] == [
        ("llamacpp/models/gemma-3-270m-it-Q8_0.gguf", 4096, None)]
    assert [(m.id, m.context) for m in found["vllm"]] == [("vllm/Qwen/Qwen3-8B", 40960)]


def test_nothing_listening_costs_no_http_client() -> None:
    """A closed port is found with a bare connect: httpx is never imported, so `detour models` stays fast."""
    import subprocess
    import sys

    ports = [free_port(), free_port()]
    servers = {"a": f"http://127.0.0.1:{ports[0]}/v1", "b": f"http://127.0.0.1:{ports[1]}"}
    code = ("import asyncio, sys; from detour.catalog.discovery import discover_local\n"
            f"print(asyncio.run(discover_local({servers!r})), 'httpx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["{}", "False"]


async def test_declared_capabilities_win_over_what_a_server_reports() -> None:
    from detour.catalog.store import load_catalog
    from detour.testing import FakeProvider, LocalModel

    async with FakeProvider(local_server="lmstudio", local_models=[LocalModel("gemma-3-270m", tools=True)]) as fk:
        config = _config({"provider": {"lmstudio": {"baseURL": fk.openai_base,
                                                    "models": {"gemma-3-270m": {"tools": False}}}}})
        catalog = load_catalog(config, catalog=str(Path(__file__).parent / "fixtures" / "mini-api.json"))
        from detour.catalog.discovery import adiscover_into

        found = await adiscover_into(catalog, config)
    assert found["lmstudio"][0].tools is True  # what LM Studio said ...
    info = catalog.info("lmstudio/gemma-3-270m")
    assert info.tools is False and info.context == 32768  # ... under what the config declares; the rest is the server's
