"""GET /events over a real socket: the replay on connect, session switches and returns, router events, keys."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import httpx
import openai
import pytest

from detour.testing import B


class Events:
    """Reads a gateway's /events on a thread: (event name, data) pairs in arrival order."""

    def __init__(self, url: str, **headers: str) -> None:
        self.got: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.status: int | None = None
        self._client = httpx.Client(timeout=httpx.Timeout(10, read=30))
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "no answer from /events"

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            with self._client.stream("GET", url, headers=headers) as resp:
                self.content_type = resp.headers.get("content-type", "")
                if resp.status_code != 200:
                    self.body = resp.read()  # before `status`: a reader that sees the status sees the body
                self.status = resp.status_code
                self._ready.set()
                if resp.status_code != 200:
                    return
                name, data = "message", []
                for line in resp.iter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
                    elif line == "" and data:
                        self.got.put((name, json.loads("\n".join(data))))
                        name, data = "message", []
        except httpx.HTTPError:
            pass
        finally:
            self._ready.set()

    def next(self, name: str, timeout: float = 10, **match: Any) -> Any:
        """The next event called `name` whose data has every `match` field; skips the others."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                got, data = self.got.get(timeout=left)
            except queue.Empty:
                break
            if got == name and all(data.get(k) == v for k, v in match.items()):
                return data
        pytest.fail(f"no {name!r} event with {match} within {timeout}s")

    def names(self, wait: float = 0.5) -> list[str]:
        time.sleep(wait)
        out = []
        while not self.got.empty():
            out.append(self.got.get_nowait()[0])
        return out

    def close(self) -> None:
        self._client.close()


@pytest.fixture
def events():
    opened: list[Events] = []

    def open_(url: str, **headers: str) -> Events:
        reader = Events(url, **headers)
        opened.append(reader)
        return reader

    yield open_
    for reader in opened:
        reader.close()


def ask(url: str, session: str | None = None, header: str = "x-detour-session") -> str:
    client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    extra = {header: session} if session else {}
    reply = client.chat.completions.create(model="detour", messages=[{"role": "user", "content": "hi"}],
                                           extra_headers=extra)
    return reply.model


def test_connect_replays_the_current_state(make_gateway, fake, events):
    gw = make_gateway()
    ask(gw.url, "s-early")
    reader = events(gw.url + "/events")
    assert reader.status == 200 and reader.content_type.startswith("text/event-stream")
    state = reader.next("state")
    assert state["status"]["chains"]["default"]["primary"] == "ant/claude-x"
    assert state["status"]["sessions"]["s-early"]["model"] == "ant/claude-x"
    assert reader.next("status")["chains"]["default"]["current"] == "ant/claude-x"  # the dashboard's snapshot


def test_a_session_hears_its_switch_to_the_fallback_and_its_return(make_gateway, fake, events):
    gw = make_gateway()
    reader = events(gw.url + "/events")
    reader.next("state")
    assert ask(gw.url, "s1") == "ant/claude-x"
    fake.script("claude-x", B.rate_limit(retry_after=600))
    assert ask(gw.url, "s1") == "oai/gpt-x"
    switch = reader.next("switch", session="s1")
    assert (switch["from"], switch["to"], switch["reason"], switch["chain"]) == \
        ("ant/claude-x", "oai/gpt-x", "rate_limited", "default")
    assert switch["until"] == pytest.approx(time.time() + 600, abs=15)  # when the primary is back
    assert ask(gw.url, "s1") == "oai/gpt-x"
    assert reader.names().count("switch") == 0  # still on the fallback: nothing new to say

    fake.script("claude-x", B.text("back"))
    assert httpx.post(gw.url + "/reset", json={}, timeout=10).status_code == 200
    assert ask(gw.url, "s1") == "ant/claude-x"
    back = reader.next("switch", session="s1")
    assert (back["from"], back["to"], back["reason"], back["until"]) == ("oai/gpt-x", "ant/claude-x", "recovered", None)
    seen = gw.get("/status").json()["sessions"]["s1"]
    assert seen["model"] == "ant/claude-x" and seen["reason"] is None and seen["requests"] == 4


def test_a_session_that_starts_on_the_fallback_is_told(make_gateway, fake, events):
    fake.script("claude-x", B.rate_limit(retry_after=600))
    gw = make_gateway()
    ask(gw.url, "warm-up")  # another session meets the 429 first
    reader = events(gw.url + "/events?session=late")
    assert reader.next("state")["session"] is None
    assert ask(gw.url, "late") == "oai/gpt-x"
    switch = reader.next("switch", session="late")
    assert switch["from"] == "ant/claude-x" and switch["to"] == "oai/gpt-x"
    assert switch["reason"] in ("rate_limited", "cooling:rate_limited")


def test_claude_codes_session_header_names_the_session(make_gateway, fake):
    fake.script("claude-x", B.rate_limit(retry_after=600))
    gw = make_gateway()
    ask(gw.url, "0b4e6c1a-claude", header="x-claude-code-session-id")
    seen = gw.get("/status").json()["sessions"]["0b4e6c1a-claude"]
    assert seen["model"] == "oai/gpt-x" and seen["primary"] == "ant/claude-x"
    assert seen["until"] == pytest.approx(time.time() + 600, abs=15)


def test_session_filter_leaves_out_other_sessions(make_gateway, fake, events):
    gw = make_gateway()
    mine = events(gw.url + "/events?session=mine")
    mine.next("state")
    fake.script("claude-x", B.rate_limit(retry_after=600))
    ask(gw.url, "other")
    ask(gw.url, "mine")
    assert mine.next("switch", session="mine")["to"] == "oai/gpt-x"
    ask(gw.url, "other-2")
    time.sleep(0.5)
    sessions = set()
    while not mine.got.empty():
        name, data = mine.got.get_nowait()
        if name != "status":
            sessions.add(data.get("session"))
    assert sessions <= {None, "mine"}  # chain-wide events pass, other sessions' do not
    everything = gw.get("/status").json()["sessions"]
    assert {"other", "other-2", "mine"} <= set(everything)


def test_router_health_events_are_forwarded(make_gateway, fake, events):
    gw = make_gateway()
    reader = events(gw.url + "/events")
    reader.next("state")
    fake.script("claude-x", B.rate_limit(retry_after=600))
    ask(gw.url)
    cooling = reader.next("cooldown_start")
    assert cooling["scope"].endswith("ant/claude-x") and cooling["reason"] == "rate_limited"
    assert cooling["until"] == pytest.approx(time.time() + 600, abs=15)
    chain_switch = reader.next("switch", chain="default")
    assert chain_switch["to"] == "oai/gpt-x" and chain_switch["session"] is None


def test_gateway_keys_apply(make_gateway, events):
    gw = make_gateway(server={"apiKeys": ["gw-secret-1"]})
    refused = events(gw.url + "/events")
    assert refused.status == 401 and b"API key" in refused.body and b"gw-secret-1" not in refused.body
    allowed = events(gw.url + "/events", authorization="Bearer gw-secret-1")
    assert allowed.status == 200 and "chains" in allowed.next("state")["status"]


async def test_a_router_event_of_a_new_type_reaches_subscribers_as_it_was_emitted():
    """How a router component (routes, escalation) reaches /events: ledger.emit(HealthEvent(...)) -> the feed."""
    import asyncio

    from detour.health.events import EventBus, HealthEvent
    from detour.server.events import EventFeed, matches, sse

    feed, bus = EventFeed(), EventBus()
    bus.add_hook(feed.health)
    stream = feed.subscribe()
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    bus.emit(HealthEvent("route", 1700000000.0, model="oai/gpt-x", reason="kind:plan", chain="default", session="s9",
                         extra={"route": "plan"}))
    got = await asyncio.wait_for(first, 5)
    assert got == {"id": 1, "at": 1700000000.0, "type": "route", "session": "s9", "chain": "default",
                   "model": "oai/gpt-x", "reason": "kind:plan", "route": "plan"}
    assert matches(got, "s9") and not matches(got, "s8") and matches(got, None)
    assert sse("route", got, 1) == b"id: 1\nevent: route\ndata: " + json.dumps(got, separators=(",", ":")).encode() + b"\n\n"
    feed.close()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
