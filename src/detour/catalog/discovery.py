"""Local servers: find the ones running where users run them and ask which models they serve.

Where to look (`local_servers`): every configured provider whose endpoint is on this machine and speaks OpenAI's
protocol, then each built-in local provider's usual address (LM Studio 1234, Ollama 11434, llama.cpp 8080,
vLLM 8000) that no configured provider already covers; nothing when the config says ``"discovery": false``.
A port is first tried with a bare TCP connect (a short timeout), so when nothing listens no HTTP client is even
imported and `detour models` stays fast.

What each serves: Ollama's `/api/tags` + `/api/show` (capabilities), LM Studio's native `/api/v0/models` (type,
tool use, context), else the OpenAI-style `/v1/models` (llama.cpp's `meta.n_ctx`, vLLM's `max_model_len`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from detour.catalog.model import ModelInfo

TIMEOUT_S = 0.3
LMSTUDIO_URL = "http://127.0.0.1:1234"
OLLAMA_URL = "http://127.0.0.1:11434"


def _root(base_url: str) -> str:
    """`http://host:1234/v1` -> `http://host:1234` (native APIs live beside the OpenAI-compatible one)."""
    return base_url.rstrip("/").removesuffix("/v1")


def local_servers(config: Any = None, providers: Mapping[str, Any] | None = None,
                  env: Mapping[str, str] | None = None) -> dict[str, str]:
    """{provider id: base URL} to probe, configured local providers first; {} when discovery is off."""
    if config is not None and getattr(config, "discovery", True) is False:
        return {}
    if providers is None:
        from detour.providers import BUILTIN_PROVIDERS

        providers = BUILTIN_PROVIDERS
    out: dict[str, str] = {}
    if config is not None:
        import os

        from detour.protocol import openai_chat
        from detour.protocol.codec import CODECS

        env = os.environ if env is None else env
        for pid in dict.fromkeys([*config.provider, *config.opencode_provider]):
            endpoint = config.endpoint(pid, providers, env)
            if endpoint is not None and endpoint.local and CODECS[endpoint.protocol] is openai_chat.CODEC:
                out[pid] = endpoint.base_url
    taken = {_root(url) for url in out.values()}
    for pid, spec in providers.items():
        if getattr(spec, "local", False) and pid not in out and _root(spec.base_url) not in taken:
            out[pid] = spec.base_url
            taken.add(_root(spec.base_url))
    return out


def _local_info(provider: str, model: str, **caps: Any) -> ModelInfo:
    return ModelInfo(id=f"{provider}/{model}", provider=provider, model=model, name=model, uncensored=True,
                     cost_input=0.0, cost_output=0.0, **caps)


def _context(m: dict[str, Any]) -> int | None:
    """The served context: LM Studio's max_context_length, vLLM's max_model_len, llama.cpp's meta.n_ctx."""
    raw = m.get("meta")
    meta: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for value in (m.get("max_context_length"), m.get("max_model_len"), meta.get("n_ctx"), meta.get("n_ctx_train")):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


async def discover_lmstudio(client: Any, base_url: str = LMSTUDIO_URL, provider: str = "lmstudio") -> list[ModelInfo]:
    """LM Studio's native `/api/v0/models` (type, vision, tool use), else the bare `/v1/models` list."""
    root = _root(base_url)
    resp = await client.get(f"{root}/api/v0/models")
    if resp.status_code == 200:
        out = []
        for m in resp.json().get("data", []):
            if m.get("type") == "embeddings" or not isinstance(m.get("id"), str) or not m["id"]:
                continue
            caps = m.get("capabilities") or []
            out.append(_local_info(provider, m["id"], image=m.get("type") == "vlm" or bool(m.get("vision")),
                                   tools="tool_use" in caps or bool(m.get("trained_for_tool_use")) or None,
                                   context=_context(m)))
        return out
    resp = await client.get(f"{root}/v1/models")
    resp.raise_for_status()
    return [_local_info(provider, m["id"], context=_context(m)) for m in resp.json().get("data", [])
            if isinstance(m, dict) and isinstance(m.get("id"), str) and m["id"]]


async def discover_ollama(client: Any, base_url: str = OLLAMA_URL, provider: str = "ollama") -> list[ModelInfo]:
    """Ollama's `/api/tags`, then `/api/show` per model for its `capabilities` list."""
    root = _root(base_url)
    resp = await client.get(f"{root}/api/tags")
    resp.raise_for_status()
    names = [m["name"] for m in resp.json().get("models", []) if isinstance(m.get("name"), str)]

    async def show(name: str) -> ModelInfo:
        try:
            r = await client.post(f"{root}/api/show", json={"model": name})
            caps = r.json().get("capabilities") if r.status_code == 200 else None
        except Exception:  # noqa: BLE001 - one model's details failing must not hide the others
            caps = None
        if not isinstance(caps, list):
            return _local_info(provider, name)
        if "completion" not in caps and "embedding" in caps:
            return _local_info(provider, name, tools=False, image=False)
        thinking = "thinking" in caps
        return _local_info(provider, name, tools="tools" in caps, image="vision" in caps,
                           reasoning=thinking, thinking=thinking)

    return list(await asyncio.gather(*(show(n) for n in names)))


async def _listening(url: str, timeout: float) -> bool:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname or "127.0.0.1", port), timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def discover_local(servers: dict[str, str] | None = None, *, timeout: float = TIMEOUT_S) -> dict[str, list[ModelInfo]]:
    """{provider: models} for each reachable server; unreachable ones are simply absent."""
    servers = local_servers() if servers is None else servers
    up = await asyncio.gather(*(_listening(url, timeout) for url in servers.values()))
    servers = {pid: url for (pid, url), ok in zip(servers.items(), up) if ok}
    if not servers:
        return {}
    import httpx

    async with httpx.AsyncClient(timeout=timeout) as client:
        async def one(pid: str, url: str) -> tuple[str, list[ModelInfo] | None]:
            probe = discover_ollama if pid == "ollama" else discover_lmstudio
            try:
                return pid, await probe(client, url, pid)
            except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
                return pid, None

        results = await asyncio.gather(*(one(pid, url) for pid, url in servers.items()))
    return {pid: models for pid, models in results if models is not None}


async def adiscover_into(catalog: Any, config: Any = None, env: Mapping[str, str] | None = None,
                         *, timeout: float = TIMEOUT_S) -> dict[str, list[ModelInfo]]:
    """Probe the local servers for ``config`` and add what they serve to ``catalog`` (the config's declared
    capabilities stay on top); {} when discovery is off or nothing answers. Never raises."""
    servers = local_servers(config, getattr(catalog, "providers", None) or None, env)
    if not servers:
        return {}
    try:
        found = await discover_local(servers, timeout=timeout)
    except Exception:  # noqa: BLE001 - discovery is best effort: no local server is the normal case
        return {}
    for models in found.values():
        catalog.add(models)
    return found


def discover_into(catalog: Any, config: Any = None, env: Mapping[str, str] | None = None,
                  *, timeout: float = TIMEOUT_S) -> dict[str, list[ModelInfo]]:
    """``adiscover_into`` for code outside an event loop (`detour serve` start-up, `detour models`)."""
    return asyncio.run(adiscover_into(catalog, config, env, timeout=timeout))
