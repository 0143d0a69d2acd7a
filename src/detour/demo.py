"""`detour demo`: a short, key-free tour of fallback, run against fake providers on loopback.

A real gateway (in a thread) sits in front of a ``detour.testing`` fake whose primary model answers a few
requests, then rate-limits (429 with retry-after); the tour sends a request every tick and narrates who served it.
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import httpx

PRIMARY = "fake-anthropic/claude-sim"
FALLBACK = "fake-openai/gpt-sim"
CAPS = {"tools": True, "image": True, "context": 200000, "max_output": 8192, "cost_input": 1.0, "cost_output": 4.0}


@dataclass(frozen=True, slots=True)
class Served:
    """What the gateway did with one demo request."""

    n: int
    at: float  # seconds since the tour began
    status: int
    model: str | None
    reason: str | None
    attempts: int
    error: str | None = None


def demo_config(base: str) -> dict[str, Any]:
    return {
        "provider": {
            "fake-anthropic": {"baseURL": base, "protocol": "anthropic", "apiKey": "fake",
                               "models": {"claude-sim": dict(CAPS)}},
            "fake-openai": {"baseURL": base, "protocol": "openai", "apiKey": "fake",
                            "models": {"gpt-sim": dict(CAPS)}},
        },
        "model": {"primary": PRIMARY, "fallback": [FALLBACK], "onRateLimit": "auto-switch"},
        "state": "memory",
    }


class Simulation:
    """Fake providers + a real gateway on free 127.0.0.1 ports; use it as a ``with`` block."""

    def __init__(self, *, reset: float, burst: int) -> None:
        self.reset, self.burst = reset, burst
        self._primary_calls = 0
        self._tmp = tempfile.TemporaryDirectory(prefix="detour-demo-")
        self._fake: Any = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=30)
        self.url = ""

    def __enter__(self) -> Self:
        try:
            self._start_fake()
            self._start_gateway()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start_fake(self) -> None:
        from detour.testing import B, FakeProvider

        self._fake = FakeProvider.start_in_thread()
        self._fake.script("claude-sim", B.fn(self._primary))
        self._fake.script("gpt-sim", B.text("Hello from the fallback (simulated)."))

    def _primary(self, _req: Any) -> Any:
        from detour.testing import B

        self._primary_calls += 1
        # every (burst + 1)-th call is refused, so the primary serves `burst` requests between rate limits
        if self._primary_calls % (self.burst + 1) == 0:
            return B.rate_limit(retry_after=self.reset)
        return B.text("Hello from the primary (simulated).")

    def _start_gateway(self) -> None:
        import uvicorn

        from detour.server.run import create_app

        path = Path(self._tmp.name) / "detour-demo.json"
        path.write_text(json.dumps(demo_config(self._fake.url + "/v1")))
        app = create_app(str(path), env={}, discover=False)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="critical", lifespan="on", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True,
                                        name="detour-demo-gateway")
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the demo gateway did not start")
            time.sleep(0.02)

    def send(self, n: int, at: float) -> Served:
        body = {"model": "detour", "messages": [{"role": "user", "content": f"demo request {n}"}]}
        try:
            r = self._client.post(self.url + "/v1/chat/completions", json=body)
        except httpx.HTTPError as exc:
            return Served(n, at, 0, None, None, 0, f"{type(exc).__name__}: {exc}")
        h = r.headers
        error = None if r.status_code == 200 else _error_text(r)
        return Served(n, at, r.status_code, h.get("x-detour-model"), h.get("x-detour-fallback-reason"),
                      int(h.get("x-detour-attempts", "0") or 0), error)

    def primary_until(self) -> float | None:
        """When the primary's cooldown ends (epoch seconds), from the gateway's /status."""
        try:
            health = self._client.get(self.url + "/status").json()["models"].get(PRIMARY) or {}
        except (httpx.HTTPError, ValueError, KeyError):
            return None
        return health.get("until")

    def close(self) -> None:
        self._client.close()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        if self._fake is not None:
            self._fake.stop()
            self._fake = None
        self._tmp.cleanup()


def _error_text(r: httpx.Response) -> str:
    try:
        return str(r.json().get("error", {}).get("message", r.text))[:120]
    except ValueError:
        return r.text[:120]


class Tour:
    """Narrates a Simulation on a rich Console: one line a request, a banner on each switch."""

    def __init__(self, console: Any, sim: Simulation, *, duration: float, interval: float) -> None:
        self.console, self.sim = console, sim
        self.duration, self.interval = duration, interval
        self.served: list[Served] = []
        self.switches = 0
        self.returns = 0
        self.current: str | None = None

    def intro(self) -> None:
        c = self.console
        c.rule("[bold yellow]detour demo — SIMULATION with fake providers[/]")
        c.print("[yellow]SIMULATION:[/] both providers are fakes from detour.testing on 127.0.0.1; "
                "no API keys are used and nothing leaves this machine.")
        c.print(f"  chain:    primary [green]{PRIMARY}[/] → fallback [cyan]{FALLBACK}[/]")
        c.print(f"  scenario: the primary serves {self.sim.burst} requests, then answers "
                f"429 rate limit with retry-after {self.sim.reset:g}s; this repeats")
        c.print(f"  gateway:  {self.sim.url}/v1 (OpenAI) · dashboard {self.sim.url}/ — open it while this runs")
        c.print(f"  one request every {self.interval:g}s for {self.duration:g}s\n")

    def run(self) -> None:
        self.intro()
        start = time.monotonic()
        live = self._status() if self.console.is_terminal else None
        try:
            n = 0
            while time.monotonic() - start < self.duration:
                n += 1
                self.show(self.sim.send(n, time.monotonic() - start))
                if live is not None:
                    live.update(self._waiting())
                _sleep_until(start + n * self.interval, start + self.duration)
        finally:
            if live is not None:
                live.stop()
        self.summary()

    def _status(self) -> Any:
        status = self.console.status("starting…")
        status.start()
        return status

    def _waiting(self) -> str:
        if self.current in (None, PRIMARY):
            return f"serving: {PRIMARY} (primary)"
        until = self.sim.primary_until()
        left = f"; primary cooling until {_clock(until)} (~{max(0.0, until - time.time()):.0f}s)" if until else ""
        return f"serving: {self.current} (fallback){left}"

    def show(self, s: Served) -> None:
        self.served.append(s)
        stamp = f"[dim]{s.at:5.1f}s  #{s.n:02d}[/]"
        if s.status != 200 or s.model is None:
            self.console.print(f"{stamp}  [red]failed: HTTP {s.status} {s.error or ''}[/]")
            return
        if self.current is not None and s.model != self.current:
            self._switch(s)
        self.current = s.model
        if s.model == PRIMARY:
            self.console.print(f"{stamp}  served by [green]{s.model}[/] \\[primary]")
        else:
            self.console.print(f"{stamp}  served by [cyan]{s.model}[/] \\[fallback: {_why(s.reason)}]")

    def _switch(self, s: Served) -> None:
        if s.model == PRIMARY:
            self.returns += 1
            self.console.print(f"[bold green]  ⇠ BACK to the primary {PRIMARY}: its rate-limit window has passed, "
                               "so detour tried it again and it answered[/]")
            return
        self.switches += 1
        until = self.sim.primary_until()
        back = f"; primary cooling until {_clock(until)} (~{max(0.0, until - time.time()):.0f}s)" if until else ""
        self.console.print(f"[bold yellow]  ⇢ SWITCH to the fallback {s.model}: primary {PRIMARY} was "
                           f"{s.reason or 'unavailable'} (HTTP 429, retry-after {self.sim.reset:g}s){back}; "
                           f"the request still succeeded ({s.attempts} attempts)[/]")

    def summary(self) -> None:
        ok = [s for s in self.served if s.status == 200]
        on_primary = sum(s.model == PRIMARY for s in ok)
        c = self.console
        c.print()
        c.rule("[bold]summary (SIMULATION)[/]")
        c.print(f"{len(self.served)} requests, {len(ok)} answered: {on_primary} by the primary, "
                f"{len(ok) - on_primary} by the fallback; {self.switches} switch(es) to the fallback, "
                f"{self.returns} back to the primary; "
                f"{len(self.served) - len(ok)} failed.")
        c.print("Next: put your chain in detour.json (see the README) and run `detour serve`; "
                "point your client at http://127.0.0.1:4141/v1.")


def _why(reason: str | None) -> str:
    if reason and reason.startswith("cooling:"):
        return f"primary cooling down after {reason.removeprefix('cooling:')}"
    return reason or "primary unavailable"


def _clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def _sleep_until(tick: float, end: float) -> None:
    time.sleep(max(0.0, min(tick, end) - time.monotonic()))


def run(console: Any, *, duration: float = 30.0, reset: float = 8.0, interval: float = 0.75, burst: int = 6) -> int:
    """Run the tour; returns the number of failed requests (0 when fallback kept every request answered)."""
    with Simulation(reset=reset, burst=burst) as sim:
        tour = Tour(console, sim, duration=duration, interval=interval)
        tour.run()
    return sum(s.status != 200 for s in tour.served)
