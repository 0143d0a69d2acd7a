"""The two front doors: which codec decodes the client's request and how errors look in its protocol."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from detour.protocol import anthropic, openai_chat
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
    name: str  # the client's protocol: "openai" | "anthropic"
    codec: ModuleType

    def error(self, status: int, message: str, *, kind: str | None = None, retry_after: float | None = None) -> tuple[int, dict[str, Any]]:
        """An error body in this door's protocol; ``status`` is what the client receives."""
        failure = Failure(kind or _KIND_BY_STATUS.get(status, "server_error"), message, status, retry_after)  # type: ignore[arg-type]
        _status, body = self.codec.encode_error(failure, message)
        return status, body


OPENAI = Door("openai", openai_chat)
ANTHROPIC = Door("anthropic", anthropic)
