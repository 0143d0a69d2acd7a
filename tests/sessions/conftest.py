"""The server tests' in-thread gateway and fake; sessions configure an Anthropic, an OpenAI and a Gemini provider."""

from __future__ import annotations

from tests.server.conftest import fake, make_gateway  # noqa: F401 - shared fixtures
