"""Soak: many requests through a real `detour serve` process, against fakes that fail at random.

    .venv/bin/python bench/soak.py                          # the full run: 20 000 requests, concurrency 64
    .venv/bin/python bench/soak.py --requests 2000 --json   # the CI short form (tests/faults/test_soak.py)

Three faulty upstreams (OpenAI, Anthropic and Gemini wire formats) answer with a random fault on
``--fault-rate`` of their requests (429s, 503/529, 500, TCP resets, silence, slow first tokens, cuts, stalls,
malformed chunks, in-stream errors, content filters); the healthy, capable model is LAST in the chain. Every
request carries a unique id that the upstreams echo back, so each answer can be matched to its request.

Prints: throughput, request latency, the gateway's file descriptors and RSS after warm-up and at the end,
/healthz latency during the soak (polled from a side task), and the upstream attempts per model and outcome.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

PY = sys.executable
FAULTY = {"f-oai": "openai", "f-ant": "anthropic", "f-gem": "gemini"}
HEALTHY = "h-ant"
CAPS = {"tools": True, "image": True, "context": 200000, "max_output": 8192, "cost_input": 1.0, "cost_output": 4.0}
ID = re.compile(r"soak-id-(\d+)-x")

# fault -> weight inside the faulty share; each model draws from its own seeded sequence
FAULTS: list[tuple[float, Any]] = [
    (3, {"rate_limit": {"retry_after": 1}}),
    (2, {"rate_limit": {}}),
    (2, "overloaded"),
    (2, {"server_error": {"code": 500}}),
    (1, {"status": {"code": 529}}),
    (2, "reset"),
    (1, "silent"),
    (1, {"slow_first_token": {"seconds": 5}}),
    (2, {"cut": {"after": 0}}),
    (2, {"cut": {"after": 2}}),
    (1, {"stall": {"after": 1, "seconds": 30}}),
    (2, {"malformed": {"after": 1}}),
    (2, {"midstream_error": {"after": 1}}),
    (1, {"content_filter": {}}),
]


def fault_script(fault_rate: float, seed: int) -> dict[str, Any]:
    total = sum(w for w, _ in FAULTS)
    choices = [[1.0 - fault_rate, "echo"], *[[fault_rate * w / total, spec] for w, spec in FAULTS]]
    script: dict[str, Any] = {m: [{"random": {"choices": choices, "seed": seed + i}}] for i, m in enumerate(FAULTY)}
    script[HEALTHY] = ["echo"]
    return script


def gateway_config(fake_url: str) -> dict[str, Any]:
    base = {"openai": f"{fake_url}/v1", "anthropic": f"{fake_url}/v1", "gemini": f"{fake_url}/v1beta"}
    provider = {
        f"p-{model}": {"baseURL": base[proto], "protocol": proto, "apiKey": f"sk-soak-{model}", "models": {model: dict(CAPS)}}
        for model, proto in FAULTY.items()
    }
    provider[f"p-{HEALTHY}"] = {"baseURL": base["anthropic"], "protocol": "anthropic", "apiKey": "sk-soak-healthy",
                                "models": {HEALTHY: {**CAPS, "context": 1000000}}}
    ids = [f"p-{m}/{m}" for m in FAULTY]
    return {
        "provider": provider,
        "model": {"primary": ids[0], "fallback": [*ids[1:], f"p-{HEALTHY}/{HEALTHY}"], "retryAttempts": 1,
                  "maxRetryWait": "1s", "onContentBlock": "switch"},
        # short enough that silent and stalled upstreams are given up quickly, long enough that a loaded machine
        # does not make the healthy model miss its first token
        "timeouts": {"connect": "1s", "firstToken": "2s", "firstTokenReasoning": "2s", "idle": "0.5s", "total": "4s"},
        "state": "memory",
        "discovery": False,
        "logging": "warning",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- processes


class Procs:
    """The fake provider and the gateway, each a subprocess; the gateway's log goes to a file."""

    def __init__(self, workdir: Path, fault_rate: float, seed: int) -> None:
        self.workdir = workdir
        script = workdir / "soak-script.json"
        script.write_text(json.dumps(fault_script(fault_rate, seed)))
        self.fake = subprocess.Popen([PY, "-m", "detour.testing", "--port", "0", "--script", str(script), "--no-record"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.fake.stdout.readline() if self.fake.stdout else ""
        if not line:
            raise RuntimeError("the fake provider did not start")
        self.fake_url = json.loads(line)["url"]
        config = workdir / "soak-detour.json"
        config.write_text(json.dumps(gateway_config(self.fake_url)))
        os.chmod(config, 0o600)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "soak-gateway.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and k != "DETOUR_CONFIG"}
        self.gateway = subprocess.Popen([PY, "-m", "detour", "serve", "--config", str(config), "--port", str(self.port)],
                                        stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=str(workdir))

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.gateway.poll() is not None:
                raise RuntimeError(f"detour serve exited: {self.log_path.read_text(errors='replace')}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("detour serve did not become ready")

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.gateway.pid}/fd"))

    def upstream_sockets(self) -> tuple[int, int]:
        """The gateway's TCP connections to the fake (its keep-alive pool, capped by the transport), and how many
        of them the fake already closed (CLOSE_WAIT: a socket the gateway forgot to close)."""
        port = int(self.fake_url.rsplit(":", 1)[1])
        states: dict[str, str] = {}
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            cols = line.split()
            if int(cols[2].split(":")[1], 16) == port:
                states[cols[9]] = cols[3]
        count = close_wait = 0
        for fd in os.listdir(f"/proc/{self.gateway.pid}/fd"):
            try:
                target = os.readlink(f"/proc/{self.gateway.pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in states:
                count += 1
                close_wait += states[target[8:-1]] == "08"
        return count, close_wait

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.gateway.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        for proc in (self.gateway, self.fake):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self._log.close()


# ---------------------------------------------------------------- load


@dataclass
class Outcome:
    n: int
    ok: bool
    status: int
    text: str
    seconds: float
    detail: str = ""


def request_for(n: int) -> tuple[str, dict[str, Any], bool]:
    """Vary the door (OpenAI / Anthropic) and the mode (streaming or not) per request."""
    prompt = f"soak-id-{n}-x"
    door = "openai" if n % 2 == 0 else "anthropic"
    stream = (n // 2) % 2 == 0
    if door == "openai":
        body: dict[str, Any] = {"model": "detour", "messages": [{"role": "user", "content": prompt}], "stream": stream}
        return "/v1/chat/completions", body, stream
    body = {"model": "detour", "max_tokens": 64, "messages": [{"role": "user", "content": prompt}], "stream": stream}
    return "/v1/messages", body, stream


def parse_answer(path: str, stream: bool, status: int, raw: bytes) -> tuple[bool, str, str]:
    """(complete, text, detail) of one answer, in the door's protocol."""
    if status != 200:
        return False, "", raw[:300].decode(errors="replace")
    if not stream:
        data = orjson.loads(raw)
        if path.endswith("/chat/completions"):
            return True, data["choices"][0]["message"]["content"] or "", ""
        return True, "".join(b.get("text", "") for b in data["content"] if b.get("type") == "text"), ""
    text: list[str] = []
    done = False
    for line in raw.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            done = True
            continue
        event = orjson.loads(payload)
        if "error" in event or event.get("type") == "error":
            return False, "".join(text), payload[:300].decode(errors="replace")
        if path.endswith("/chat/completions"):
            for choice in event.get("choices") or []:
                text.append((choice.get("delta") or {}).get("content") or "")
        elif event.get("type") == "content_block_delta" and event["delta"].get("type") == "text_delta":
            text.append(event["delta"]["text"])
        elif event.get("type") == "message_stop":
            done = True
    return done, "".join(text), "" if done else "stream ended without its terminator"


class RawClient:
    """A minimal keep-alive HTTP/1.1 client on raw asyncio + httptools: a pool of ``size`` connections.

    httpx costs ~1 ms of CPU per request, which on a 2-core machine would make the load generator, not the
    gateway, the bottleneck (and distort the /healthz figures)."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(size)

    async def request(self, method: str, path: str, body: bytes = b"", timeout: float = 60.0) -> tuple[int, bytes]:
        async with self.slots:
            conn = self.idle.pop() if self.idle else await asyncio.open_connection(self.host, self.port)
            try:
                status, data, keep = await asyncio.wait_for(self._exchange(conn, method, path, body), timeout)
            except BaseException:
                conn[1].close()
                raise
            if keep:
                self.idle.append(conn)
            else:
                conn[1].close()
            return status, data

    async def _exchange(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], method: str, path: str,
                        body: bytes) -> tuple[int, bytes, bool]:
        import httptools

        reader, writer = conn
        head = (f"{method} {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\n\r\n").encode()
        writer.write(head + body)
        chunks: list[bytes] = []
        done = asyncio.Event()
        keep = [False]

        class Sink:
            def on_body(self, data: bytes) -> None:
                chunks.append(data)

            def on_message_complete(self) -> None:
                keep[0] = parser.should_keep_alive()  # only valid inside the callback
                done.set()

        parser = httptools.HttpResponseParser(Sink())
        while not done.is_set():
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("the gateway closed the connection mid-response")
            parser.feed_data(data)
        return parser.get_status_code(), b"".join(chunks), keep[0]

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def one(client: RawClient, n: int) -> Outcome:
    path, body, stream = request_for(n)
    started = time.perf_counter()
    try:
        status, raw = await client.request("POST", path, orjson.dumps(body))
        ok, text, detail = parse_answer(path, stream, status, raw)
        return Outcome(n, ok, status, text, time.perf_counter() - started, detail)
    except (OSError, ValueError, TimeoutError, KeyError) as exc:
        return Outcome(n, False, 0, "", time.perf_counter() - started, f"{type(exc).__name__}: {exc}")


async def load(client: RawClient, ids: range, concurrency: int) -> list[Outcome]:
    queue = iter(ids)
    out: list[Outcome] = []

    async def worker() -> None:
        for n in queue:
            out.append(await one(client, n))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


class HealthzPoller(threading.Thread):
    """Polls /healthz from its own thread (own connection, own timing) while the soak runs."""

    def __init__(self, port: int, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.port, self.every = port, every
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        while not self.halt.is_set():
            started = time.perf_counter()
            try:
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    self.failures.append(f"status {resp.status}")
                self.latencies.append(time.perf_counter() - started)
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            self.halt.wait(self.every)
        conn.close()


# ---------------------------------------------------------------- the run


@dataclass
class Report:
    requests: int
    concurrency: int
    fault_rate: float
    seconds: float = 0.0
    rps: float = 0.0
    ok: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    missing_ids: list[int] = field(default_factory=list)
    duplicate_ids: list[int] = field(default_factory=list)
    wrong_ids: list[int] = field(default_factory=list)
    latency_ms: dict[str, float] = field(default_factory=dict)
    healthz_ms: dict[str, float] = field(default_factory=dict)
    healthz_polls: int = 0
    healthz_failures: list[str] = field(default_factory=list)
    fds_warm: int = 0
    fds_end: int = 0
    fds_settled: int = 0
    pool_warm: int = 0  # of which connections to the upstreams (the keep-alive pool)
    pool_settled: int = 0
    close_wait: int = 0  # upstream sockets the peer closed but the gateway still holds
    rss_warm_kb: int = 0
    rss_end_kb: int = 0
    attempts: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def rss_growth(self) -> float:
        return (self.rss_end_kb - self.rss_warm_kb) / self.rss_warm_kb if self.rss_warm_kb else 0.0


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)


def attempts_from_metrics(text: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        m = re.match(r'detour_attempts_total\{kind="([^"]+)",model="([^"]+)"\} ([0-9.e+]+)', line)
        if m:
            out.setdefault(m.group(2), {})[m.group(1)] = float(m.group(3))
    return out


async def settle_fds(procs: Procs, floor: int, seconds: float = 5.0) -> int:
    """The gateway's fd count once it stops falling (connections closing after a client left)."""
    deadline = time.monotonic() + seconds
    count = procs.fds()
    while count > floor and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        count = procs.fds()
    return count


async def soak(procs: Procs, requests: int, concurrency: int, warmup: int, report: Report) -> None:
    idle_fds = procs.fds()
    # warm-up: fill the pools and caches at full concurrency, with ids that are not counted
    client = RawClient("127.0.0.1", procs.port, concurrency)
    await load(client, range(10_000_000, 10_000_000 + warmup), concurrency)
    client.close()
    report.fds_warm, report.rss_warm_kb = await settle_fds(procs, idle_fds), procs.rss_kb()
    report.pool_warm = procs.upstream_sockets()[0]
    client = RawClient("127.0.0.1", procs.port, concurrency)
    # start the soak with every upstream in service (the warm-up left the faulty ones cooling)
    await client.request("POST", "/reset", b"{}")
    _status, metrics = await client.request("GET", "/metrics")
    before = attempts_from_metrics(metrics.decode())
    poller = HealthzPoller(procs.port)
    poller.start()
    started = time.perf_counter()
    outcomes = await load(client, range(requests), concurrency)
    report.seconds = time.perf_counter() - started
    poller.halt.set()
    await asyncio.to_thread(poller.join)
    report.fds_end = procs.fds()
    _status, metrics = await client.request("GET", "/metrics")
    after = attempts_from_metrics(metrics.decode())
    report.attempts = {m: {k: v - before.get(m, {}).get(k, 0.0) for k, v in kinds.items()
                           if v - before.get(m, {}).get(k, 0.0) > 0} for m, kinds in after.items()}
    client.close()
    # the load generator's connections are closed now; the gateway must give their fds back
    report.fds_settled = await settle_fds(procs, report.fds_warm)
    report.pool_settled, report.close_wait = procs.upstream_sockets()
    report.rss_end_kb = procs.rss_kb()
    health, report.healthz_failures = poller.latencies, poller.failures
    report.rps = round(requests / report.seconds, 1)
    report.latency_ms = {"p50": _pct([o.seconds for o in outcomes], 0.5), "p99": _pct([o.seconds for o in outcomes], 0.99),
                         "max": _pct([o.seconds for o in outcomes], 1.0)}
    report.healthz_polls = len(health)
    report.healthz_ms = {"p50": _pct(health, 0.5), "p99": _pct(health, 0.99), "max": _pct(health, 1.0)}
    seen: dict[int, int] = {}
    for o in outcomes:
        seen[o.n] = seen.get(o.n, 0) + 1
        if not o.ok:
            report.failed.append({"n": o.n, "status": o.status, "detail": o.detail})
            continue
        found = {int(i) for i in ID.findall(o.text)}
        if found != {o.n}:
            report.wrong_ids.append(o.n)
            report.failed.append({"n": o.n, "status": o.status, "detail": f"answer without its own id: {o.text[:200]!r}"})
        else:
            report.ok += 1
    report.missing_ids = [n for n in range(requests) if n not in seen]
    report.duplicate_ids = [n for n, c in seen.items() if c > 1]


def run(requests: int = 20_000, concurrency: int = 64, fault_rate: float = 0.35, seed: int = 7,
        warmup: int | None = None, workdir: Path | None = None) -> Report:
    report = Report(requests, concurrency, fault_rate)
    with tempfile.TemporaryDirectory(prefix="detour-soak-") as tmp:
        procs = Procs(Path(workdir or tmp), fault_rate, seed)
        try:
            procs.wait_ready()
            asyncio.run(soak(procs, requests, concurrency, warmup or max(500, requests // 4), report))
        finally:
            procs.stop()
    return report


def summary(r: Report) -> str:
    faulty = {m: a for m, a in r.attempts.items() if any(m.endswith("/" + f) for f in FAULTY)}
    lines = [
        f"soak: {r.requests} requests, concurrency {r.concurrency}, fault rate {r.fault_rate:.0%} on the faulty upstreams",
        f"  answered ok: {r.ok}/{r.requests}  not ok: {len(r.failed)}  of which wrong id: {len(r.wrong_ids)}  "
        f"missing: {len(r.missing_ids)}  duplicated: {len(r.duplicate_ids)}",
        f"  throughput: {r.rps} req/s over {r.seconds:.1f} s; latency p50 {r.latency_ms.get('p50')} ms, "
        f"p99 {r.latency_ms.get('p99')} ms, max {r.latency_ms.get('max')} ms",
        f"  /healthz during the soak: {r.healthz_polls} polls, {len(r.healthz_failures)} failed; p50 "
        f"{r.healthz_ms.get('p50')} ms, p99 {r.healthz_ms.get('p99')} ms, max {r.healthz_ms.get('max')} ms",
        f"  gateway fds: {r.fds_warm} after warm-up (idle), {r.fds_end} at the end (the client still connected), "
        f"{r.fds_settled} once the client left (upstream keep-alive pool: {r.pool_warm} then {r.pool_settled}; "
        f"{r.close_wait} in CLOSE_WAIT)",
        f"  gateway RSS: {r.rss_warm_kb / 1024:.1f} MiB after warm-up, {r.rss_end_kb / 1024:.1f} MiB at the end "
        f"({r.rss_growth:+.1%})",
        "  upstream attempts during the soak, by outcome:",
    ]
    for model, kinds in sorted(r.attempts.items()):
        tag = "faulty " if model in faulty else "healthy"
        lines.append(f"    {tag} {model}: " + ", ".join(f"{k}={int(v)}" for k, v in sorted(kinds.items())))
    for f in r.failed[:5]:
        lines.append(f"  failed: {f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--fault-rate", type=float, default=0.35, help="share of the faulty upstreams' answers that fail")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", action="store_true", help="also print the report as JSON")
    args = p.parse_args(argv)
    report = run(args.requests, args.concurrency, args.fault_rate, args.seed)
    print(summary(report))
    if args.json:
        print(json.dumps(asdict(report) | {"rss_growth": report.rss_growth}, indent=1))
    ok = report.ok == report.requests and not report.healthz_failures
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
