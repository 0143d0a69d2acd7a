from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from detour.catalog.model import ModelInfo
from detour.config import parse_config
from detour.protocol.messages import Message, Request, TextPart
from detour.router import Router
from detour.testing import FakeProvider


class Clock:
    """An injectable wall clock for cooldowns; tests move it by hand."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class Sleeps:
    """The router's sleep hook: records waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Catalog:
    def __init__(self, *infos: ModelInfo) -> None:
        self.models = {i.id: i for i in infos}
        self.providers = None

    def get(self, model_id: str) -> ModelInfo | None:
        return self.models.get(model_id)


def info(model_id: str, **fields: Any) -> ModelInfo:
    provider, model = model_id.split("/", 1)
    return ModelInfo(id=model_id, provider=provider, model=model, **fields)


def request(text: str = "hi", model: str = "detour", **kw: Any) -> Request:
    return Request(model=model, messages=[Message("user", [TextPart(text)])], **kw)


PROTOCOL_BASE = {"openai": "openai_base", "anthropic": "anthropic_base", "gemini": "gemini_base"}


def providers(fake: FakeProvider, **spec: Any) -> dict[str, Any]:
    """p1/p2/p3 speak OpenAI by default; pass e.g. ant="anthropic" or p1=("openai", ["k1", "k2"])."""
    spec = {"p1": "openai", "p2": "openai", "p3": "openai", **spec}
    out: dict[str, Any] = {}
    for pid, value in spec.items():
        protocol, keys = (value, ["sk-test"]) if isinstance(value, str) else value
        out[pid] = {"baseURL": getattr(fake, PROTOCOL_BASE[protocol]), "protocol": protocol, "apiKey": keys}
    return out


@pytest.fixture
async def fake() -> AsyncIterator[FakeProvider]:
    async with FakeProvider() as f:
        yield f


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def make(fake: FakeProvider, clock: Clock, sleeps: Sleeps):  # type: ignore[no-untyped-def]
    routers: list[Router] = []

    def build(primary: str, *fallback: str, catalog: Catalog | None = None, provider: dict[str, Any] | None = None,
              **settings: Any) -> Router:
        data: dict[str, Any] = {"model": {"primary": primary, "fallback": list(fallback)}}
        for key in ("routes", "timeouts", "chains"):
            if key in settings:
                data[key] = settings.pop(key)
        data["model"].update(settings)
        data["provider"] = provider or providers(fake)
        loaded = parse_config(data)
        router = Router(loaded.config, catalog or Catalog(), clock=clock, sleep=sleeps, rand=lambda: 0.5, env={})
        routers.append(router)
        return router

    yield build
    for router in routers:
        await router.aclose()
