"""Agent sessions: who a request belongs to, where its session is pinned, and the subscription windows.

**Identity.** The first of: ``x-detour-session`` (the caller's explicit choice), Claude Code's
``x-claude-code-session-id``, OpenCode's ``x-session-id`` / ``x-session-affinity`` (``x-opencode-session`` for its
own gateway), Codex's ``session_id`` header, the body's
``detour.session``, the ``session_`` part of Anthropic ``metadata.user_id`` (Claude Code), OpenAI
``prompt_cache_key``, OpenAI ``user``, else a hash of the system prompt and first user message.

**Affinity** (per chain: ``affinity: "session"``, the default, or ``"none"``). A session that moved to a
fallback stays there while that fallback is healthy, for at most ``affinityTTL`` (30 min) and until it has
been idle for ``affinityIdle`` (5 min, a prompt cache's lifetime); then it returns to the primary. A session
on the primary, and every new session, starts at the best healthy candidate. Pins and the last turns of each
session live in this process (they follow the prompt cache of one client's conversation, and a wrong pin
costs only a cache miss); health, which decides whether a pin still holds, is shared through the state store.

**Windows.** Subscription windows read off responses (``protocol.errors.windows``) are kept per provider key.
A candidate whose every key has spent ``switchAt`` (0.95) of a window is moved behind the others for *new*
sessions until the window's reported reset; sessions already on it keep it (the affinity rule).
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from detour.protocol.errors import Window
from detour.routing.keys import Key
from detour.upstream import CLIENT_KEY

if TYPE_CHECKING:  # pragma: no cover
    from detour.config import ChainConfig

# OpenCode 1.18.33 sends x-session-id and x-session-affinity (same value) to openai-compatible providers (seen
# in a fake's request log); x-opencode-session is what it sends to OpenCode's own gateway
SESSION_HEADERS = ("x-detour-session", "x-claude-code-session-id", "x-session-id", "x-session-affinity",
                   "x-opencode-session", "session_id")
MAX_SESSIONS = 10_000
TURNS_KEPT = 20


def from_headers(headers: Mapping[str, str] | None) -> str | None:
    """A session named by the client's headers (lowercased names), in the order above; the body's own
    identities are read by ``routing.keys.session_key``."""
    if not headers:
        return None
    for name in SESSION_HEADERS:
        value = headers.get(name)
        if value and value.strip():
            return value.strip()[:200]
    return None


# ---------------------------------------------------------------- affinity


@dataclass(slots=True)
class Turn:
    at: float
    model: str
    why: str  # "primary", "pinned", "fallback: rate_limited", "window 5h 96%"...
    notes: tuple[str, ...] = ()


@dataclass(slots=True)
class Session:
    chain: str
    pin: str | None = None  # the fallback this session stays on
    pinned_at: float = 0.0
    last: float = 0.0
    turns: deque[Turn] = field(default_factory=lambda: deque(maxlen=TURNS_KEPT))


class Sessions:
    """Per-process session pins and turn history, bounded (least recently used sessions are forgotten)."""

    def __init__(self, max_sessions: int = MAX_SESSIONS, clock: Any = time.time) -> None:
        self._by_key: OrderedDict[tuple[str, str], Session] = OrderedDict()
        self._max = max_sessions
        self.clock = clock

    def get(self, chain: str, session: str) -> Session | None:
        return self._by_key.get((chain, session))

    def pinned(self, chain: str, session: str, ttl: float, idle: float) -> str | None:
        """The fallback this session stays on, or None (expired pins are dropped here)."""
        s = self._by_key.get((chain, session))
        if s is None or s.pin is None:
            return None
        now = self.clock()
        if now - s.pinned_at > ttl or now - s.last > idle:
            s.pin = None
            return None
        return s.pin

    def unpin_all(self) -> int:
        """Send every session back to its chain's primary (a manual reset); returns how many were pinned."""
        pinned = [s for s in self._by_key.values() if s.pin is not None]
        for s in pinned:
            s.pin = None
        return len(pinned)

    def is_new(self, chain: str, session: str) -> bool:
        s = self._by_key.get((chain, session))
        return s is None or not s.turns

    def served(self, chain: str, session: str, model: str, primary: str, why: str, notes: tuple[str, ...] = (),
               *, pin: bool = True) -> None:
        key = (chain, session)
        now = self.clock()
        s = self._by_key.get(key)
        if s is None:
            s = self._by_key[key] = Session(chain)
            if len(self._by_key) > self._max:
                self._by_key.popitem(last=False)
        else:
            self._by_key.move_to_end(key)
        if model == primary or not pin:
            s.pin = None
        elif s.pin != model:
            s.pin, s.pinned_at = model, now
        s.last = now
        s.turns.append(Turn(now, model, why, notes))

    def turns(self, chain: str, session: str) -> tuple[str | None, list[dict[str, Any]]]:
        """(the fallback the session is pinned to, its last turns: served model, why, repair notes)."""
        s = self._by_key.get((chain, session))
        if s is None:
            return None, []
        return s.pin, [_turn(t) for t in s.turns]

    def view(self, limit: int = 50) -> list[dict[str, Any]]:
        """The most recently active sessions, newest first, each with its last turns."""
        out: list[dict[str, Any]] = []
        for (chain, key), s in reversed(self._by_key.items()):
            if len(out) >= limit:
                break
            out.append({
                "session": _short(key), "chain": chain, "pinned": s.pin, "last_seen": s.last,
                "turns": [_turn(t) for t in s.turns],
            })
        return out


def _turn(t: Turn) -> dict[str, Any]:
    return {"at": t.at, "model": t.model, "why": t.why, "notes": list(t.notes)}


def _short(session: str) -> str:
    """Session ids are shown shortened: enough to tell sessions apart, not a credential to replay."""
    return session if len(session) <= 12 else session[:8] + "…" + session[-4:]


# ---------------------------------------------------------------- windows


@dataclass(frozen=True, slots=True)
class KeyWindow:
    provider: str
    key: str  # the key alias (or a pass-through credential's fingerprint), never the key
    window: Window
    seen: float


class Windows:
    """The latest windows each provider key reported."""

    def __init__(self, clock: Any = time.time) -> None:
        self._by_key: dict[tuple[str, str], dict[str, KeyWindow]] = {}
        self.clock = clock

    def observe(self, provider: str, key: str, windows: list[Window]) -> None:
        if not windows:
            return
        now = self.clock()
        slot = self._by_key.setdefault((provider, key), {})
        for w in windows:
            slot[w.name] = KeyWindow(provider, key, w, now)

    def current(self, provider: str, key: str) -> list[KeyWindow]:
        """Windows not yet past their reported reset."""
        now = self.clock()
        return [kw for kw in (self._by_key.get((provider, key)) or {}).values()
                if kw.window.resets_at is None or kw.window.resets_at > now]

    def over(self, provider: str, keys: tuple[str, ...], threshold: float) -> KeyWindow | None:
        """The fullest window when every key of this provider is at ``threshold`` or beyond, else None."""
        worst: KeyWindow | None = None
        for key in keys:
            full = [kw for kw in self.current(provider, key) if kw.window.used >= threshold]
            if not full:
                return None
            top = max(full, key=lambda kw: kw.window.used)
            worst = top if worst is None or top.window.used > worst.window.used else worst
        return worst

    def view(self) -> list[dict[str, Any]]:
        now = self.clock()
        out = []
        for (provider, key), slot in self._by_key.items():
            for kw in slot.values():
                w = kw.window
                reset = w.resets_at is not None and w.resets_at <= now
                out.append({"provider": provider, "key": key, "window": w.name, "used": 0.0 if reset else w.used,
                            "resets_at": w.resets_at, "status": w.status, "reset": reset, "seen": kw.seen})
        return out


def label(window: dict[str, Any]) -> str:
    """``claude-max 5h 92%, resets 14:05`` (local time)."""
    text = f"{window['provider']} {window['window']} {round(window['used'] * 100)}%"
    if window.get("resets_at") and not window.get("reset"):
        at = time.localtime(window["resets_at"])
        fmt = "%H:%M" if at[:3] == time.localtime()[:3] else "%a %H:%M"
        text += f", resets {time.strftime(fmt, at)}"
    return text


# ---------------------------------------------------------------- where a request starts



def arrange(plan: Any, chain: ChainConfig, chain_name: str, session: str, sessions: Sessions, windows: Windows,
            healthy: Callable[[Any], bool], credential: Any, *, steer: bool = True, named: bool = True) -> str:
    """Order ``plan.candidates`` for this session, in place; returns why the first candidate leads ("" = as planned).

    Pass-through providers get the client's credential as their one key (its alias a fingerprint, so cooldowns
    are kept per credential), or are skipped when the client sent none. Then the affinity pin, then the
    subscription windows for new sessions. ``steer=False`` (the client named a model) only does the first;
    ``named=False`` (the session is only a hash of the conversation's start) skips the pin.
    """
    candidates = []
    for cand in plan.candidates:
        target = cand.target
        if any(k.secret == CLIENT_KEY for k in target.keys):
            if credential is None:
                plan.skipped.append((target.model_id, "no client credential (apiKey: client)"))
                continue
            key = Key(f"client-{credential.fingerprint}", CLIENT_KEY)
            cand = dataclasses.replace(cand, target=dataclasses.replace(target, keys=(key,)))
        candidates.append(cand)
    plan.candidates = candidates
    if not candidates or not steer:  # a model the client named keeps its place
        return ""
    affinity = chain.affinity if named else "none"  # an unnamed conversation is not pinned
    if affinity == "session":
        pin = sessions.pinned(chain_name, session, chain.affinity_ttl, chain.affinity_idle)
        if pin is not None:
            at = next((i for i, c in enumerate(candidates) if c.target.model_id == pin), None)
            if at is not None and healthy(candidates[at].target):
                candidates.insert(0, candidates.pop(at))
                return f"pinned to {pin}"
    threshold = chain.switch_at
    if threshold is None or (affinity == "session" and not sessions.is_new(chain_name, session)):
        return ""
    full: list[tuple[Any, KeyWindow]] = []
    room: list[tuple[Any, None]] = []
    for cand in candidates:
        over = windows.over(cand.target.provider, tuple(k.alias for k in cand.target.keys), threshold)
        if over is not None:
            full.append((cand, over))
        else:
            room.append((cand, None))
    if not full or not room:
        return ""
    why = ""
    if full[0][0] is candidates[0]:
        w = full[0][1]
        why = f"{w.provider} {w.window.name} window {round(w.window.used * 100)}% (switchAt {threshold:g})"
    plan.candidates = [c for c, _ in room] + [c for c, _ in full]  # full windows stay as a last resort
    return why

REPAIR_NOTES = "detour-repair-notes"  # attempt -> walk: what history repair changed (never sent anywhere)
