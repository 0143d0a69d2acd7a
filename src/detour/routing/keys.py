"""API keys: round-robin per provider, sticky per session, skipping cooled keys. Keys are never exposed."""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from detour.protocol.messages import Request, TextPart


@dataclass(frozen=True, slots=True)
class Key:
    alias: str  # what results and logs show, e.g. OPENAI_API_KEY#2 or key1
    secret: str = ""

    def __repr__(self) -> str:  # never print the secret
        return f"Key({self.alias!r})"


NO_KEY = Key("none")


def scrub(failure: Any, key: Key) -> Any:
    """An upstream may echo the key it was sent in an error message: replace it before the message goes on
    (to the client's error body, the attempts, cooldown reasons and logs). Returns ``failure``."""
    secret = key.secret
    if len(secret) >= 8 and secret in failure.message:
        failure.message = failure.message.replace(secret, f"<{key.alias}>")
    return failure


def make_keys(api_keys: tuple[str, ...] | list[str], key_env: str | None = None) -> tuple[Key, ...]:
    """Aliases: the env var name (``#n`` from the second key on), else ``key1``, ``key2``..."""
    if not api_keys:
        return (NO_KEY,)
    out = []
    for i, secret in enumerate(api_keys):
        if key_env:
            alias = key_env if i == 0 else f"{key_env}#{i + 1}"
        else:
            alias = f"key{i + 1}"
        out.append(Key(alias, secret))
    return tuple(out)


_USER_ID_SESSION = re.compile(r"session_([0-9A-Za-z-]+)")


def session_key(req: Request, session: str | None = None) -> str:
    """The session a request belongs to (detour.routing.sessions has the whole order): ``session`` (from the
    client's headers), the body's ``detour.session``, Claude Code's ``session_`` in ``metadata.user_id``,
    OpenAI ``prompt_cache_key``, ``user``, else a hash of the system prompt and the first user message."""
    return session_identity(req, session)[0]


def session_identity(req: Request, session: str | None = None) -> tuple[str, bool]:
    """(session key, whether the client named it); a hash of the conversation's start is not a name."""
    found = session or req.detour.get("session")
    if not found:
        found = req.metadata.get("session_id")
    if not found and req.user:
        m = _USER_ID_SESSION.search(req.user)
        found = m.group(1) if m else None
    found = found or req.extra.get("prompt_cache_key") or req.user
    if found:
        return str(found), True
    first_user = next((m for m in req.messages if m.role == "user"), None)
    text = req.system_text() + "\x00"
    if first_user is not None:
        text += "".join(p.text for p in first_user.content if isinstance(p, TextPart))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest(), False


class KeyPool:
    """Order in which to try one provider's keys for one session.

    A session keeps its key while that key is healthy; new sessions are spread round-robin.
    """

    def __init__(self, max_sessions: int = 10_000) -> None:
        self._next: dict[str, int] = {}
        self._sticky: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._max = max_sessions

    def order(self, provider: str, keys: tuple[Key, ...], session: str, usable: Callable[[Key], bool]) -> list[Key]:
        if len(keys) == 1:
            return list(keys)
        sticky = self._sticky.get((provider, session))
        start = next((i for i, k in enumerate(keys) if k.alias == sticky), None)
        if start is None or not usable(keys[start]):
            start = self._next.get(provider, 0) % len(keys)
            self._next[provider] = start + 1
        rotated = list(keys[start:] + keys[:start])
        return [k for k in rotated if usable(k)] + [k for k in rotated if not usable(k)]

    def stick(self, provider: str, session: str, key: Key) -> None:
        pair = (provider, session)
        self._sticky[pair] = key.alias
        self._sticky.move_to_end(pair)
        if len(self._sticky) > self._max:
            self._sticky.popitem(last=False)
