"""The one load generator used for every system: wrk (closed loop, keep-alive) for c1/c50, and a raw-socket
streaming client for time to first token; plus /proc readings (CPU seconds, RSS of a process tree).

Standard library only, so the same file drives detour, LiteLLM and the fake alone.
"""

from __future__ import annotations

import json
import os
import re
import socket
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LUA = HERE / "post.lua"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------------------------------------- wrk


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    raw: dict[str, Any]


def wrk(url: str, *, connections: int, seconds: float, model: str, path: str = "/v1/chat/completions",
        kind: str = "openai", auth: str | None = None, cpu: str | None = "0", timeout_s: int = 30) -> WrkResult:
    """One closed-loop wrk run (1 thread, ``connections`` keep-alive connections), pinned to ``cpu``."""
    env = dict(os.environ, BENCH_PATH=path, BENCH_MODEL=model, BENCH_KIND=kind, BENCH_AUTH=auth or "")
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", f"--timeout={timeout_s}s",
           "-s", str(LUA), url.rstrip("/") + path]
    if cpu is not None:
        cmd = ["taskset", "-c", cpu, *cmd]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + timeout_s + 30)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary (rc={out.returncode}): {out.stdout[-800:]} {out.stderr[-800:]}")
    raw = json.loads(line.split(" ", 1)[1])
    secs = raw["duration_us"] / 1e6
    errors = sum(raw[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
    return WrkResult(raw["requests"], secs, raw["requests"] / secs if secs else 0.0, raw["p50_us"] / 1000,
                     raw["p90_us"] / 1000, raw["p99_us"] / 1000, errors, raw)


# ---------------------------------------------------------------------------------------------- streams

_CONTENT = re.compile(rb'"(?:content|text)"\s*:\s*"(?:[^"\\]|\\.)')  # a non-empty content / text delta


@dataclass
class StreamResult:
    n: int
    ttft_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    @property
    def ttft_p50(self) -> float:
        return statistics.median(self.ttft_ms) if self.ttft_ms else float("nan")

    @property
    def total_p50(self) -> float:
        return statistics.median(self.total_ms) if self.total_ms else float("nan")

    @property
    def per_s(self) -> float:
        return len(self.total_ms) / self.seconds if self.seconds else 0.0


class _Conn:
    """One keep-alive HTTP/1.1 connection on a blocking socket; just enough for SSE over chunked bodies."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.sock: socket.socket | None = None
        self.buf = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buf = sock, b""
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _fill(self) -> None:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed")
        self.buf += data

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def stream(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[float, float, int]:
        """POST; returns (seconds to first content delta, seconds to end of body, status)."""
        sock = self.sock or self._connect()
        head = [f"POST {path} HTTP/1.1", f"host: {self.host}:{self.port}", "content-type: application/json",
                f"content-length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
        started = time.perf_counter()
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status_line = self._line()
        status = int(status_line.split()[1])
        resp_headers: dict[str, str] = {}
        while True:
            line = self._line()
            if not line:
                break
            k, _, v = line.decode("latin-1").partition(":")
            resp_headers[k.strip().lower()] = v.strip()
        first = None
        seen = b""  # de-chunked body so far, scanned for the first content delta
        if resp_headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():  # trailers, then the blank line
                        pass
                    break
                while len(self.buf) < size + 2:
                    self._fill()
                data, self.buf = self.buf[:size], self.buf[size + 2:]
                if first is None:
                    seen += data
                    if _CONTENT.search(seen):
                        first = time.perf_counter()
        else:
            length = int(resp_headers.get("content-length", "-1"))
            while length < 0 or len(self.buf) < length:
                try:
                    self._fill()
                except ConnectionError:
                    if length < 0:
                        break
                    raise
                if first is None and _CONTENT.search(self.buf):
                    first = time.perf_counter()
            self.buf = self.buf[length:] if length >= 0 else b""
        end = time.perf_counter()
        if resp_headers.get("connection", "").lower() == "close" or "content-length" not in resp_headers and \
                resp_headers.get("transfer-encoding", "").lower() != "chunked":
            self.close()
        return (first or end) - started, end - started, status


def streams(url: str, *, n: int, model: str, path: str = "/v1/chat/completions", auth: str | None = None,
            warmup: int = 20) -> StreamResult:
    """``n`` streaming requests at concurrency 1 over one keep-alive connection, after ``warmup`` unrecorded ones."""
    host, port = _host_port(url)
    headers = {"authorization": f"Bearer {auth}"} if auth else {}
    conn = _Conn(host, port)
    out = StreamResult(n)
    base = int(time.time() * 1000) % 1_000_000_000
    t0 = 0.0
    for i in range(warmup + n):
        if i == warmup:
            t0 = time.perf_counter()
        body = json.dumps({"model": model, "stream": True,
                           "messages": [{"role": "user", "content": f"bench stream {base}-{i}: answer ok"}]}).encode()
        try:
            ttft, total, status = conn.stream(path, body, headers)
        except (OSError, ValueError):
            conn.close()
            if i >= warmup:
                out.errors += 1
            continue
        if i < warmup:
            continue
        if status != 200:
            out.errors += 1
            continue
        out.ttft_ms.append(ttft * 1000)
        out.total_ms.append(total * 1000)
    out.seconds = time.perf_counter() - t0
    conn.close()
    return out


def _host_port(url: str) -> tuple[str, int]:
    rest = url.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = rest.rpartition(":")
    return host, int(port)


# ---------------------------------------------------------------------------------------------- /proc


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid``'s tree (live processes, plus the waited-for children each has reaped)."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # after the ")": state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14)
        total += sum(int(x) for x in fields[11:15])
    return total / CLK_TCK


def rss_bytes(pid: int) -> int:
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE
        except OSError:
            continue
    return total


class RssPeak:
    """Samples the RSS of a process tree every ``every`` seconds in a thread; ``peak`` is the largest sum seen."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self._stop.wait(self.every)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.pid))
        return self.peak


# ---------------------------------------------------------------------------------------------- noise
# This machine is shared: other people's tests can run during a bench. Measure how much CPU was used by
# processes that are not part of the bench, so a noisy run can be repeated and the rest reported.


def system_busy() -> float:
    """CPU seconds all cores spent busy since boot (user, nice, system, irq, softirq, steal)."""
    with open("/proc/stat", "rb") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def own_cpu(pids: list[int]) -> float:
    """CPU seconds of this driver, its reaped children (wrk) and the given process trees."""
    import resource

    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime + sum(cpu_seconds(p) for p in pids)


class Noise:
    """``with Noise(pids) as n: ...`` then ``n.foreign``: CPU-seconds per second used by everything else."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.foreign = 0.0

    def __enter__(self) -> Noise:
        self._t, self._busy, self._own = time.perf_counter(), system_busy(), own_cpu(self.pids)
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self._t
        foreign = (system_busy() - self._busy) - (own_cpu(self.pids) - self._own)
        self.foreign = max(0.0, foreign / elapsed) if elapsed > 0 else 0.0


def wait_quiet(pids: list[int], limit: float = 0.15, timeout: float = 60.0, sample: float = 0.5) -> float:
    """Wait (up to ``timeout`` s) until other processes use < ``limit`` cores; returns the last reading."""
    deadline = time.perf_counter() + timeout
    while True:
        with Noise(pids) as n:
            time.sleep(sample)
        if n.foreign < limit or time.perf_counter() > deadline:
            return n.foreign
