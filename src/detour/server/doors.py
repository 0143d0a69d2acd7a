"""The front doors: each is one codec from ``CODECS``; it decodes the client's request, encodes the answer
(whole or streamed) and the errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from detour.protocol.codec import CODECS, Codec
from detour.protocol.errors import Failure

_KIND_BY_STATUS = {
    400: "bad_request",
    401: "auth_failed",
    403: "auth_failed",
    404: "not_found",
    413: "bad_request",
    429: "rate_limited",
    503: "overloaded",
    504: "timeout",
    529: "overloaded",
}


@dataclass(frozen=True, slots=True)
class Door:
    codec: Codec  # decodes the client's requests, encodes answers, streams and errors

    @property
    def name(self) -> str:
        """The client's protocol, as /status and the metrics label it."""
        return self.codec.name

    def error(self, status: int, message: str, *, kind: str | None = None, retry_after: float | None = None) -> tuple[int, dict[str, Any]]:
        """An error body in this door's protocol; ``status`` is what the client receives."""
        failure = Failure(kind or _KIND_BY_STATUS.get(status, "server_error"), message, status, retry_after)  # type: ignore[arg-type]  # kind is an ErrorKind string from the door's own table or caller
        _status, body = self.codec.encode_error(failure, message)
        return status, body

    def no_route(self, message: str) -> tuple[int, dict[str, Any]]:
        """A 404 for a path the gateway does not serve, with the code this protocol uses for an unknown URL
        (OpenAI ``unknown_url``, Anthropic ``not_found_error``), never the unknown-model one."""
        return self.codec.encode_error(404, message)


OPENAI = Door(CODECS["openai"])
ANTHROPIC = Door(CODECS["anthropic"])
RESPONSES = Door(CODECS["openai-responses"])
