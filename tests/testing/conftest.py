from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import openai
import pytest
from google import genai
from google.genai import types

from detour.testing import FakeProvider


@pytest.fixture
async def fake() -> AsyncIterator[FakeProvider]:
    async with FakeProvider() as provider:
        yield provider


@pytest.fixture
def oai(fake: FakeProvider) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.openai_base, api_key="x", max_retries=0, timeout=10)


@pytest.fixture
def ant(fake: FakeProvider) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=fake.url, api_key="x", max_retries=0, timeout=10)


@pytest.fixture
def gem(fake: FakeProvider) -> genai.Client:
    options = types.HttpOptions(base_url=fake.url, api_version="v1beta", timeout=10_000)
    return genai.Client(api_key="x", http_options=options)
