"""Session identity, affinity pins and subscription windows as plain objects (the gateway tests drive them live)."""

from __future__ import annotations

import orjson

from detour.protocol import anthropic, openai_chat
from detour.protocol.errors import windows
from detour.routing import sessions
from detour.routing.keys import session_key
from detour.routing.sessions import Sessions, Windows

NOW = 1_790_000_000.0


def test_claude_code_user_id_names_the_session_in_both_shapes() -> None:
    for user_id in ('{"device_id": "d", "account_uuid": "a", "session_id": "5e55-10n"}',
                    "user_abc123_account_0f0f_session_5e55-10n"):
        req = anthropic.decode_request({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
                                        "metadata": {"user_id": user_id}})
        assert session_key(req) == "5e55-10n"


def test_headers_come_first_then_the_body() -> None:
    req = openai_chat.decode_request({"model": "m", "messages": [{"role": "user", "content": "x"}],
                                      "prompt_cache_key": "pck-1", "user": "u-1"})
    assert session_key(req) == "pck-1"
    assert sessions.from_headers({"x-opencode-session": "ses_9", "session_id": "codex-1"}) == "ses_9"
    opencode = {"x-session-affinity": "ses_dc40", "x-session-id": "ses_dc40"}  # what OpenCode 1.18.33 sends
    assert sessions.from_headers(opencode) == "ses_dc40"
    assert sessions.from_headers({"x-detour-session": "mine", "x-claude-code-session-id": "cc"}) == "mine"
    assert session_key(req, sessions.from_headers({"x-claude-code-session-id": "cc-7"})) == "cc-7"
    bare = openai_chat.decode_request({"model": "m", "messages": [{"role": "user", "content": "x"}]})
    other = openai_chat.decode_request({"model": "m", "messages": [{"role": "user", "content": "y"}]})
    assert session_key(bare) == session_key(bare) != session_key(other)


def test_a_pin_holds_until_the_ttl_or_the_idle_limit() -> None:
    clock = [NOW]
    s = Sessions(clock=lambda: clock[0])
    s.served("default", "a", "oai/gpt", "ant/claude", "fallback: rate_limited")
    assert s.pinned("default", "a", ttl=1800, idle=300) == "oai/gpt"
    clock[0] += 299
    assert s.pinned("default", "a", ttl=1800, idle=300) == "oai/gpt"
    s.served("default", "a", "oai/gpt", "ant/claude", "pinned")
    clock[0] += 301
    assert s.pinned("default", "a", ttl=1800, idle=300) is None, "idle past the cache lifetime"
    s.served("default", "b", "oai/gpt", "ant/claude", "fallback")
    for _ in range(8):
        clock[0] += 250
        s.served("default", "b", "oai/gpt", "ant/claude", "pinned")
    assert s.pinned("default", "b", ttl=1800, idle=300) is None, "past the TTL even while busy"
    s.served("default", "c", "ant/claude", "ant/claude", "primary")
    assert s.pinned("default", "c", ttl=1800, idle=300) is None and not s.is_new("default", "c")
    assert [t["why"] for t in s.view()[0]["turns"]] == ["primary"]


def test_windows_from_anthropic_and_codex_headers() -> None:
    got = windows({
        "anthropic-ratelimit-unified-5h-utilization": "0.92", "anthropic-ratelimit-unified-5h-reset": str(int(NOW + 600)),
        "anthropic-ratelimit-unified-5h-status": "allowed_warning", "anthropic-ratelimit-unified-status": "allowed",
        "anthropic-ratelimit-unified-7d-utilization": "0.3", "anthropic-ratelimit-unified-7d-reset": "2026-12-09T10:00:00Z",
        "anthropic-ratelimit-unified-representative-claim": "five_hour",
        "x-codex-primary-used-percent": "42", "x-codex-primary-window-minutes": "300",
        "x-codex-primary-reset-after-seconds": "18000", "x-codex-secondary-used-percent": "94",
        "x-codex-secondary-window-minutes": "10080", "x-codex-secondary-reset-at": str(int(NOW + 86400)),
    }, now=NOW)
    by = {(w.name, w.minutes): w for w in got}
    assert by[("5h", None)].used == 0.92 and by[("5h", None)].resets_at == NOW + 600
    assert by[("5h", None)].status == "allowed_warning"
    assert by[("7d", None)].resets_at is not None and by[("7d", None)].resets_at > NOW
    assert by[("5h", 300.0)].used == 0.42 and by[("5h", 300.0)].resets_at == NOW + 18000
    assert by[("7d", 10080.0)].used == 0.94 and by[("7d", 10080.0)].resets_at == NOW + 86400
    assert len(got) == 4


def test_a_window_past_the_threshold_holds_only_until_its_reset() -> None:
    clock = [NOW]
    w = Windows(clock=lambda: clock[0])
    w.observe("claude-max", "client-1a2b", windows({"anthropic-ratelimit-unified-5h-utilization": "0.96",
                                                    "anthropic-ratelimit-unified-5h-reset": str(int(NOW + 60))}, now=NOW))
    full = w.over("claude-max", ("client-1a2b",), 0.95)
    assert full is not None and full.window.name == "5h"
    assert w.over("claude-max", ("client-1a2b", "other-key"), 0.95) is None, "another key still has room"
    assert sessions.label(w.view()[0]).startswith("claude-max 5h 96%, resets ")
    clock[0] += 61
    assert w.over("claude-max", ("client-1a2b",), 0.95) is None, "the reported reset brings it back"
    assert w.view()[0]["used"] == 0.0 and orjson.dumps(w.view())
