"""Fault-injecting fake LLM providers for testing fallback behaviour.

One local HTTP server speaks the OpenAI Chat Completions, Anthropic Messages and Gemini generateContent wire
formats (chosen by path) and answers each model from a script of behaviours::

    from detour.testing import FakeProvider, B

    async with FakeProvider() as fake:
        fake.script("gpt-5", B.rate_limit(retry_after=20), B.text("hello"))
        client = openai.AsyncOpenAI(base_url=fake.openai_base, api_key="x", max_retries=0)

See docs/testing.md ("Testing your fallbacks").
"""

from __future__ import annotations

from detour.testing.behaviors import B, Behavior, Recorded, from_spec
from detour.testing.discovery import LocalModel
from detour.testing.server import FakeProvider
from detour.testing.strict import trust_signature

__all__ = ["B", "Behavior", "FakeProvider", "LocalModel", "Recorded", "from_spec", "trust_signature"]
