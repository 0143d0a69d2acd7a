"""Routes and escalation reuse the server tests' real gateway (uvicorn on loopback) and fake providers."""

from tests.server.conftest import fake, gateway_config, make_gateway  # noqa: F401 - fixtures
