"""One error taxonomy for every provider (stub: the classification is filled in by the errors work)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypeAlias

ErrorKind: TypeAlias = Literal[
    "rate_limited",
    "quota_exhausted",
    "overloaded",
    "server_error",
    "timeout",
    "unreachable",
    "auth_failed",
    "not_found",
    "context_too_long",
    "content_blocked",
    "bad_request",
    "stream_broken",
]
Scope: TypeAlias = Literal["key", "model", "provider"]


@dataclass(slots=True)
class Failure:
    kind: ErrorKind
    message: str = ""
    status: int | None = None
    retry_after_s: float | None = None
    scope: Scope = "model"
    code: str | None = None  # the provider's own code/type, e.g. "insufficient_quota"
    unsupported_param: str | None = None  # set on a bad_request that names an unsupported parameter
    remaining: dict[str, float] = field(default_factory=dict)
