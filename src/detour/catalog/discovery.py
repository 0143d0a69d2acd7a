"""Local servers: ask LM Studio and Ollama which models they serve and what those can do."""

from __future__ import annotations

import asyncio
from typing import Any

from detour.catalog.model import ModelInfo

TIMEOUT_S = 0.3
LMSTUDIO_URL = "http://127.0.0.1:1234"
OLLAMA_URL = "http://127.0.0.1:11434"


def _root(base_url: str) -> str:
    """`http://host:1234/v1` -> `http://host:1234` (native APIs live beside the OpenAI-compatible one)."""
    base = base_url.rstrip("/")
    return base[:-3] if base.endswith("/v1") else base


def _local_info(provider: str, model: str, **caps: Any) -> ModelInfo:
    return ModelInfo(id=f"{provider}/{model}", provider=provider, model=model, name=model, uncensored=True,
                     cost_input=0.0, cost_output=0.0, **caps)


async def discover_lmstudio(client: Any, base_url: str = LMSTUDIO_URL, provider: str = "lmstudio") -> list[ModelInfo]:
    """LM Studio's native `/api/v0/models` (type, vision, tool use), else the bare `/v1/models` list."""
    root = _root(base_url)
    resp = await client.get(f"{root}/api/v0/models")
    if resp.status_code == 200:
        out = []
        for m in resp.json().get("data", []):
            if m.get("type") == "embeddings" or not isinstance(m.get("id"), str):
                continue
            caps = m.get("capabilities") or []
            ctx = m.get("max_context_length")
            out.append(_local_info(provider, m["id"], image=m.get("type") == "vlm" or bool(m.get("vision")),
                                   tools="tool_use" in caps or bool(m.get("trained_for_tool_use")) or None,
                                   context=ctx if isinstance(ctx, int) else None))
        return out
    resp = await client.get(f"{root}/v1/models")
    resp.raise_for_status()
    return [_local_info(provider, m["id"]) for m in resp.json().get("data", []) if isinstance(m.get("id"), str)]


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
        except Exception:  # one model's details failing must not hide the others
            caps = None
        if not isinstance(caps, list):
            return _local_info(provider, name)
        if "completion" not in caps and "embedding" in caps:
            return _local_info(provider, name, tools=False, image=False)
        thinking = "thinking" in caps
        return _local_info(provider, name, tools="tools" in caps, image="vision" in caps,
                           reasoning=thinking, thinking=thinking)

    return list(await asyncio.gather(*(show(n) for n in names)))


async def discover_local(servers: dict[str, str] | None = None, *, timeout: float = TIMEOUT_S) -> dict[str, list[ModelInfo]]:
    """{provider: models} for each reachable server; unreachable ones are simply absent."""
    import httpx

    servers = servers or {"lmstudio": LMSTUDIO_URL, "ollama": OLLAMA_URL}
    async with httpx.AsyncClient(timeout=timeout) as client:
        async def one(pid: str, url: str) -> tuple[str, list[ModelInfo] | None]:
            probe = discover_ollama if pid == "ollama" else discover_lmstudio
            try:
                return pid, await probe(client, url, pid)
            except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
                return pid, None

        results = await asyncio.gather(*(one(pid, url) for pid, url in servers.items()))
    return {pid: models for pid, models in results if models is not None}
