"""The gateway benchmark: the fake upstream alone ("direct"), detour and LiteLLM's proxy, side by side in one run.

    python bench/gateway/run.py                  # full run (~10 min with LiteLLM), writes bench/results/gateway.md
    python bench/gateway/run.py --quick          # short runs, same figures (a smoke check)
    python bench/gateway/run.py --skip-litellm   # direct and detour only
    python bench/gateway/run.py --only failover --skip-litellm   # just detour's failover row (healthy side by side)
    python bench/gateway/run.py --profile 15     # also: py-spy (or cProfile) of detour under c50 for 15 s

Method (see /work/shared/docs/litellm-baseline.md): a fake OpenAI/Anthropic upstream with 0 ms delay
(``python -m detour.testing``), one load generator for every system (wrk, 1 thread, closed loop over keep-alive
connections, a counter in every request's text; a raw-socket Python client for streams at concurrency 1), each
proxy pinned to CPU 1 with ``taskset``, the load generator, the fake and this driver pinned to CPU 0. Every figure
is the median of ``--runs`` runs (default 3). detour runs with its default config (only the fake providers and the
chain are set), 1 worker; LiteLLM with the baseline's config, 1 worker. It is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import litellm_setup  # noqa: E402
import loadgen  # noqa: E402

PROXY_CPU = "1"
LOAD_CPU = "0"
RETRY_AFTER = 20
FAKE_TEXT = {"text": {"text": "The quick brown fox jumps over the lazy dog.", "chunks": 5}}


# ---------------------------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def pinned(cpu: str | None, cmd: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *cmd] if cpu is not None and shutil.which("taskset") else cmd


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    url: str
    log: Path
    started: float
    ready_s: float = math.nan
    rss: loadgen.RssPeak | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> int:
        peak = self.rss.stop() if self.rss else 0
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return peak


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_post(url: str, body: dict, headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _answers(host: str, port: int, path: str) -> bool:
    """One raw GET; True on a 200. Cheap enough to poll every few ms."""
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n".encode())
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def launch(name: str, cmd: list[str], port: int, health: str, tmp: Path, env: dict[str, str] | None = None,
           timeout: float = 120.0, every: float = 0.005) -> Proc:
    log = tmp / f"{name}.log"
    started = time.perf_counter()
    popen = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=tmp,
                             start_new_session=True)
    proc = Proc(name, popen, f"http://127.0.0.1:{port}", log, started)
    proc.rss = loadgen.RssPeak(popen.pid)
    while time.perf_counter() - started < timeout:
        if _answers("127.0.0.1", port, health):
            proc.ready_s = time.perf_counter() - started
            return proc
        if popen.poll() is not None:
            break
        time.sleep(every)
    proc.stop()
    raise RuntimeError(f"{name} did not answer {health} (rc={popen.poll()}); log {log}:\n{log.read_text()[-3000:]}")


def start_fake(tmp: Path, name: str, script: dict, record: bool) -> Proc:
    spath = tmp / f"{name}.script.json"
    spath.write_text(json.dumps(script))
    cmd = pinned(LOAD_CPU, [python(), "-m", "detour.testing", "--port", "0", "--script", str(spath)])
    if not record:
        cmd.append("--no-record")
    log = tmp / f"{name}.log"
    popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log.open("wb"), cwd=tmp, start_new_session=True)
    line = popen.stdout.readline() if popen.stdout else b""
    if not line:
        raise RuntimeError(f"fake provider did not start: {log.read_text()[-2000:]}")
    url = json.loads(line)["url"]
    return Proc(name, popen, url, log, time.perf_counter())


def detour_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("DETOUR_CONFIG", "DETOUR_CATALOG", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        env.pop(var, None)
    home = tmp / "detour-home"
    for var, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_CACHE_HOME", "cache"), ("XDG_STATE_HOME", "state"),
                     ("XDG_DATA_HOME", "data")):
        env[var] = str(home / sub)  # hermetic: no user config or cached catalog changes the figures
    return env


def detour_exe() -> list[str]:
    exe = ROOT / ".venv" / "bin" / "detour"
    return [str(exe)] if exe.exists() else [python(), "-m", "detour"]


def detour_config(fake: str, primary: str, fallback: list[str] | None = None) -> dict:
    """The default config, plus only what the bench needs: the fake's two providers and the chain."""
    return {"model": {"primary": primary, "fallback": fallback or []},
            "provider": {"fake": {"baseURL": f"{fake}/v1", "apiKey": "x", "protocol": "openai"},
                         "fakeant": {"baseURL": f"{fake}/v1", "apiKey": "x", "protocol": "anthropic"}}}


def start_detour(tmp: Path, name: str, config: dict, timeout: float = 60) -> Proc:
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(config, indent=2))
    port = free_port()
    cmd = pinned(PROXY_CPU, [*detour_exe(), "serve", "--config", str(path), "--port", str(port)])
    return launch(name, cmd, port, "/healthz", tmp, env=detour_env(tmp), timeout=timeout)


def start_litellm(tmp: Path, name: str, config: str, exe: Path, timeout: float = 180) -> Proc:
    path = tmp / f"{name}.yaml"
    path.write_text(config)
    port = free_port()
    cmd = pinned(PROXY_CPU, [str(exe), "--config", str(path), "--host", "127.0.0.1", "--port", str(port),
                             "--num_workers", "1"])
    return launch(name, cmd, port, "/health/liveliness", tmp, env=litellm_setup.env(), timeout=timeout, every=0.02)


# ---------------------------------------------------------------------------------------------- measuring


@dataclass
class System:
    name: str
    url: str
    pid: int | None  # the process whose tree CPU is charged to (None: not measured)
    model: str
    translate_model: str
    auth: str | None = None
    translate_kind: str = "openai"
    translate_path: str = "/v1/chat/completions"
    runs: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


NOISE = {"limit": 0.25, "quiet": 0.15, "wait": 20.0, "retries": 2}


def phase(pids: list[int], fn: Callable[[], dict[str, Any]], say: Callable[[str], None], label: str) -> dict[str, Any]:
    """Run one measurement when the machine is quiet; repeat it (up to ``retries`` times) when other processes
    used more than ``limit`` cores meanwhile, keeping the quietest. Adds ``noise_<label>`` (cores)."""
    best: dict[str, Any] | None = None
    for attempt in range(1 + int(NOISE["retries"])):
        loadgen.wait_quiet(pids, limit=NOISE["quiet"], timeout=NOISE["wait"])
        with loadgen.Noise(pids) as n:
            out = fn()
        out[f"noise_{label}"] = round(n.foreign, 3)
        if best is None or n.foreign < best[f"noise_{label}"]:
            best = out
        if n.foreign <= NOISE["limit"]:
            break
        say(f"    {label}: other processes used {n.foreign:.2f} cores meanwhile; repeating")
    assert best is not None
    return best


def measure(sys_: System, runs: int, d: dict[str, float], say: Callable[[str], None], pids: list[int]) -> None:
    w = dict(model=sys_.model, auth=sys_.auth, cpu=LOAD_CPU)
    loadgen.wrk(sys_.url, connections=50, seconds=d["warm"], **w)  # warm-up, unrecorded
    loadgen.streams(sys_.url, n=0, model=sys_.model, auth=sys_.auth, warmup=20)
    loadgen.wrk(sys_.url, connections=50, seconds=d["warm"], model=sys_.translate_model, path=sys_.translate_path,
                kind=sys_.translate_kind, auth=sys_.auth, cpu=LOAD_CPU)

    def c1() -> dict[str, Any]:
        r = loadgen.wrk(sys_.url, connections=1, seconds=d["c1"], **w)
        return dict(c1_p50_ms=r.p50_ms, c1_p99_ms=r.p99_ms, c1_rps=r.rps, c1_errors=r.errors)

    def c50() -> dict[str, Any]:
        cpu0 = loadgen.cpu_seconds(sys_.pid) if sys_.pid else None
        r = loadgen.wrk(sys_.url, connections=50, seconds=d["c50"], **w)
        out = dict(c50_rps=r.rps, c50_p50_ms=r.p50_ms, c50_p99_ms=r.p99_ms, c50_errors=r.errors)
        if cpu0 is not None and r.requests:
            out["cpu_ms_per_req"] = (loadgen.cpu_seconds(sys_.pid) - cpu0) * 1000 / r.requests
        return out

    def streams() -> dict[str, Any]:
        cpu0 = loadgen.cpu_seconds(sys_.pid) if sys_.pid else None
        st = loadgen.streams(sys_.url, n=int(d["streams"]), model=sys_.model, auth=sys_.auth, warmup=0)
        out = dict(ttft_p50_ms=st.ttft_p50, stream_p50_ms=st.total_p50, streams_per_s=st.per_s, stream_errors=st.errors)
        if cpu0 is not None and st.total_ms:
            out["cpu_ms_per_stream"] = (loadgen.cpu_seconds(sys_.pid) - cpu0) * 1000 / len(st.total_ms)
        return out

    def translate() -> dict[str, Any]:
        r = loadgen.wrk(sys_.url, connections=50, seconds=d["translate"], model=sys_.translate_model,
                        path=sys_.translate_path, kind=sys_.translate_kind, auth=sys_.auth, cpu=LOAD_CPU)
        return dict(translate_rps=r.rps, translate_p50_ms=r.p50_ms, translate_errors=r.errors)

    for i in range(runs):
        r: dict[str, Any] = {}
        for label, fn in (("c1", c1), ("c50", c50), ("streams", streams), ("translate", translate)):
            r.update(phase(pids, fn, say, label))
        sys_.runs.append(r)
        noise = max(v for k, v in r.items() if k.startswith("noise_"))
        say(f"  {sys_.name} run {i + 1}: c1 p50 {r['c1_p50_ms']:.3f} ms, c50 {r['c50_rps']:.0f} rps "
            f"(p50 {r['c50_p50_ms']:.1f} ms), cpu/req {r.get('cpu_ms_per_req', math.nan):.3f} ms, "
            f"ttft p50 {r['ttft_p50_ms']:.3f} ms, translate {r['translate_rps']:.0f} rps, errors "
            f"{r['c1_errors']}/{r['c50_errors']}/{r['stream_errors']}/{r['translate_errors']}, "
            f"other load ≤ {noise:.2f} cores")


def failover(sys_: System, fake: Proc, runs: int, seconds: float, warm: float, say: Callable[[str], None],
             pids: list[int], healthy_model: str | None = None) -> None:
    """Primary always 429 + retry-after: 20; c50 throughput, and how often the limited upstream is still called.

    With ``healthy_model`` (a chain of the same gateway whose primary is the healthy fallback), each run also
    measures that chain right before the failover one: same process, same recording fake, side by side, so
    ``failover_ratio`` compares like with like.
    """
    status, _ = http_post(sys_.url + "/v1/chat/completions",  # the first 429, at concurrency 1
                          {"model": sys_.model, "messages": [{"role": "user", "content": "first"}]},
                          {"authorization": f"Bearer {sys_.auth}"} if sys_.auth else None)
    t_first_done = time.time()
    loadgen.wrk(sys_.url, connections=50, seconds=warm, model=sys_.model, auth=sys_.auth, cpu=LOAD_CPU)
    if healthy_model:
        loadgen.wrk(sys_.url, connections=50, seconds=warm, model=healthy_model, auth=sys_.auth, cpu=LOAD_CPU)

    def one() -> dict[str, Any]:
        res = loadgen.wrk(sys_.url, connections=50, seconds=seconds, model=sys_.model, auth=sys_.auth, cpu=LOAD_CPU)
        return {"failover_rps": res.rps, "failover_p50_ms": res.p50_ms, "failover_errors": res.errors}

    def healthy() -> dict[str, Any]:
        res = loadgen.wrk(sys_.url, connections=50, seconds=seconds, model=healthy_model or sys_.model,
                          auth=sys_.auth, cpu=LOAD_CPU)
        return {"healthy_rps": res.rps, "healthy_p50_ms": res.p50_ms, "healthy_errors": res.errors}

    for i in range(runs):
        r: dict[str, Any] = {}
        order = [("healthy", healthy), ("failover", one)] if healthy_model else [("failover", one)]
        for label, fn in (order if i % 2 == 0 else order[::-1]):  # alternate which goes first (ABBA)
            r.update(phase(pids, fn, say, label))
        if healthy_model and r.get("healthy_rps"):
            r["failover_ratio"] = r["failover_rps"] / r["healthy_rps"]
        sys_.runs.append(r)
        side = (f"; healthy chain {r['healthy_rps']:.0f} rps, ratio {r['failover_ratio']:.2f}"
                if "failover_ratio" in r else "")
        say(f"  {sys_.name} failover run {i + 1}: {r['failover_rps']:.0f} rps (p50 {r['failover_p50_ms']:.1f} ms), "
            f"errors {r['failover_errors']}{side}, other load {r['noise_failover']:.2f} cores")
    t_end = time.time()
    _, body = http_get(f"{fake.url}/__fake/requests?model=gpt-limited", timeout=60)
    times = sorted(r["t"] for r in json.loads(body))
    _, body = http_get(f"{fake.url}/__fake/requests?model=gpt-ok", timeout=120)
    ok_calls = len(json.loads(body))
    first = times[0] if times else t_first_done
    after = [t for t in times[1:]]
    span = t_end - first
    windows = [0] * (int(span // RETRY_AFTER) + 1)
    for t in after:
        windows[min(len(windows) - 1, int((t - first) // RETRY_AFTER))] += 1
    # every completed reset window allows one half-open probe; the window still open at the end allows one too,
    # but only if it began (a probe is due at its start)
    allowed = int(span // RETRY_AFTER)
    sys_.extra.update(first_status=status, limited_calls=len(times), limited_after_first=len(after),
                      limited_per_window=windows, span_s=span, allowed_after_first=allowed, ok_calls=ok_calls)
    say(f"  {sys_.name} failover: limited upstream called {len(times)}x ({len(after)} after the first 429, "
        f"per {RETRY_AFTER}s window {windows}, allowed {allowed}) over {span:.1f}s; fallback called {ok_calls}x")


def startup(start: Callable[[int], Proc], n: int, say: Callable[[str], None], name: str) -> list[float]:
    out = []
    for i in range(n):
        loadgen.wait_quiet([], limit=NOISE["quiet"], timeout=NOISE["wait"])
        p = start(i)
        out.append(p.ready_s)
        p.stop()
    say(f"  {name} start until healthy: " + ", ".join(f"{s:.3f}" for s in out) + " s")
    return out


# ---------------------------------------------------------------------------------------------- profile


def profile(tmp: Path, fake: Proc, seconds: float, say: Callable[[str], None]) -> Path | None:
    """py-spy of a detour gateway under c50; falls back to nothing when py-spy is missing."""
    spy = shutil.which("py-spy") or str(ROOT / ".venv" / "bin" / "py-spy")
    if not Path(spy).exists():
        say("  profile: py-spy not installed (pip install py-spy into .venv); skipped")
        return None
    proc = start_detour(tmp, "detour-profile", detour_config(fake.url, "fake/gpt-mock"))
    try:
        loadgen.wrk(proc.url, connections=50, seconds=2, model="detour", cpu=LOAD_CPU)
        raw = tmp / "detour-c50.pyspy.txt"  # summarised into the report; kept with --keep
        spy_cmd = pinned(LOAD_CPU, [spy, "record", "-p", str(proc.pid), "-d", str(int(seconds)), "-r", "250",
                                    "-f", "raw", "-o", str(raw), "--nonblocking"])
        spy_p = subprocess.Popen(spy_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        res = loadgen.wrk(proc.url, connections=50, seconds=seconds - 1, model="detour", cpu=LOAD_CPU)
        spy_p.wait(seconds + 30)
        say(f"  profile: {res.rps:.0f} rps under py-spy; raw stacks in {raw}")
        return raw
    finally:
        proc.stop()


_GROUPS = (  # (label, substrings of a frame's file): a sample goes to the group of its innermost Python frame
    ("upstream HTTP client: httpx/httpcore/anyio/h11", ("httpx/", "httpcore/", "anyio/", "h11/", "sniffio/")),
    ("ASGI server: uvicorn/httptools", ("uvicorn/", "httptools/")),
    ("logging", ("logging/",)),
    ("metrics: prometheus_client", ("prometheus_client/",)),
    ("codecs: detour.protocol", ("detour/protocol/",)),
    ("fallback engine: router/routing/health/upstream", ("detour/router", "detour/routing/", "detour/health/",
                                                          "detour/upstream")),
    ("gateway app: detour.server", ("detour/server/",)),
    ("asyncio (Python side)", ("asyncio/",)),
)


def _frame(f: str) -> str:
    """``Func (path/to/file.py:123)`` without the line number, and the path from the package on."""
    name, _, where = f.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "python3.11/", "src/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{name} ({where})"


def summarize_profile(raw: Path, top: int = 30) -> str:
    """py-spy collapsed stacks: share of samples by component, self time and inclusive time by function."""
    selfc: dict[str, int] = {}
    incl: dict[str, int] = {}
    groups: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        frames = [_frame(f) for f in stack.split(";") if f and "(" in f]
        if not frames:
            continue
        total += count
        leaf = frames[-1]
        selfc[leaf] = selfc.get(leaf, 0) + count
        for f in set(frames):
            incl[f] = incl.get(f, 0) + count
        label = "event loop in C (uvloop: epoll, socket reads/writes), other"
        for f in reversed(frames if not leaf.startswith("Runner.run ") else ()):
            hit = next((g for g, keys in _GROUPS if any(k in f for k in keys)), None)
            if hit:
                label = hit
                break
        groups[label] = groups.get(label, 0) + count
    if not total:
        return "no samples"
    pct = lambda c: f"{100 * c / total:5.1f}"  # noqa: E731
    lines = [f"samples: {total} (non-idle, all threads)", "", "share  component (by innermost Python frame)"]
    lines += [f"{pct(c)}  {g}" for g, c in sorted(groups.items(), key=lambda kv: -kv[1])]
    lines += ["", "self %  function"]
    lines += [f"{pct(c)}  {f}" for f, c in sorted(selfc.items(), key=lambda kv: -kv[1])[:top]]
    lines += ["", "incl %  detour function"]
    lines += [f"{pct(c)}  {f}" for f, c in sorted(incl.items(), key=lambda kv: -kv[1])
              if f.split("(", 1)[1].startswith("detour/") and c * 100 >= total][:top]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- report


def med(runs: list[dict[str, Any]], key: str) -> float:
    vals = [r[key] for r in runs if key in r and r[key] == r[key]]
    return statistics.median(vals) if vals else math.nan


def fmt(v: float, unit: str = "", digits: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:,.{digits}f}{unit}"


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("**pass**" if ok else "**miss**")


def report(res: dict[str, Any], args: argparse.Namespace, meta: dict[str, Any]) -> str:
    D, T, L = res.get("direct"), res.get("detour"), res.get("litellm")
    TF, LF = res.get("detour_failover"), res.get("litellm_failover")
    m = lambda s, k: med(s.runs, k) if s else math.nan  # noqa: E731
    nan = math.nan
    rows: list[tuple[str, str, str, str, str, str, str]] = []

    def ratio(a: float, b: float) -> float:
        return a / b if b and not math.isnan(a) and not math.isnan(b) else nan

    def ok(cond: bool, *vals: float) -> bool | None:
        return None if any(math.isnan(v) for v in vals) else cond

    d_c1, t_c1, l_c1 = m(D, "c1_p50_ms"), m(T, "c1_p50_ms"), m(L, "c1_p50_ms")
    t_add, l_add = t_c1 - d_c1, l_c1 - d_c1
    rows.append(("c1 p50 latency", fmt(d_c1, " ms", 3), fmt(t_c1, " ms", 3), fmt(l_c1, " ms", 3), "", "", ""))
    rows.append(("added latency c1 p50 (proxy − direct)", "", fmt(t_add, " ms", 3), fmt(l_add, " ms", 3),
                 fmt(ratio(l_add, t_add), "×", 1) + " lower", "≤ 0.5 ms and ≤ 1/15 of LiteLLM's",
                 verdict(ok(t_add <= 0.5 and (math.isnan(l_add) or t_add <= l_add / 15), t_add))))
    d50, t50, l50 = m(D, "c50_rps"), m(T, "c50_rps"), m(L, "c50_rps")
    rows.append(("throughput c50, 1 worker", fmt(d50, " rps", 0), fmt(t50, " rps", 0), fmt(l50, " rps", 0),
                 fmt(ratio(t50, l50), "×", 1), "≥ 20× LiteLLM", verdict(ok(ratio(t50, l50) >= 20, t50, l50))))
    rows.append(("latency c50 p50 / p99", f"{fmt(m(D, 'c50_p50_ms'), '', 2)} / {fmt(m(D, 'c50_p99_ms'), ' ms', 2)}",
                 f"{fmt(m(T, 'c50_p50_ms'), '', 2)} / {fmt(m(T, 'c50_p99_ms'), ' ms', 2)}",
                 f"{fmt(m(L, 'c50_p50_ms'), '', 1)} / {fmt(m(L, 'c50_p99_ms'), ' ms', 1)}", "", "", ""))
    t_cpu, l_cpu = m(T, "cpu_ms_per_req"), m(L, "cpu_ms_per_req")
    rows.append(("CPU per request (c50)", fmt(m(D, "cpu_ms_per_req"), " ms", 3) + " (fake)", fmt(t_cpu, " ms", 3),
                 fmt(l_cpu, " ms", 2), fmt(ratio(l_cpu, t_cpu), "×", 1) + " less", "≤ 0.35 ms",
                 verdict(ok(t_cpu <= 0.35, t_cpu))))
    rows.append(("CPU per stream (c1)", fmt(m(D, "cpu_ms_per_stream"), " ms", 3) + " (fake)",
                 fmt(m(T, "cpu_ms_per_stream"), " ms", 3), fmt(m(L, "cpu_ms_per_stream"), " ms", 2), "", "", ""))
    t_rss, l_rss = res.get("detour_rss_mb", nan), res.get("litellm_rss_mb", nan)
    rows.append(("peak RSS of the proxy process tree", fmt(res.get("direct_rss_mb", nan), " MB", 0) + " (fake)",
                 fmt(t_rss, " MB", 0), fmt(l_rss, " MB", 0), fmt(ratio(l_rss, t_rss), "×", 1) + " less", "≤ 80 MB",
                 verdict(ok(t_rss <= 80, t_rss))))
    d_tt, t_tt, l_tt = m(D, "ttft_p50_ms"), m(T, "ttft_p50_ms"), m(L, "ttft_p50_ms")
    rows.append(("stream: time to first content p50", fmt(d_tt, " ms", 3), fmt(t_tt, " ms", 3), fmt(l_tt, " ms", 2),
                 "", "", ""))
    rows.append(("time to first token added p50", "", fmt(t_tt - d_tt, " ms", 3), fmt(l_tt - d_tt, " ms", 2),
                 fmt(ratio(l_tt - d_tt, t_tt - d_tt), "×", 1) + " lower", "≤ 1 ms",
                 verdict(ok(t_tt - d_tt <= 1, t_tt))))
    rows.append(("streams/s, c1", fmt(m(D, "streams_per_s"), "", 0), fmt(m(T, "streams_per_s"), "", 0),
                 fmt(m(L, "streams_per_s"), "", 0), fmt(ratio(m(T, "streams_per_s"), m(L, "streams_per_s")), "×", 1),
                 "", ""))
    t_tr, l_tr = m(T, "translate_rps"), m(L, "translate_rps")
    rows.append(("translated OpenAI → Anthropic, c50", fmt(m(D, "translate_rps"), " rps", 0) + " (Anthropic direct)",
                 fmt(t_tr, " rps", 0), fmt(l_tr, " rps", 0), fmt(ratio(t_tr, l_tr), "×", 1), "≥ 10× LiteLLM",
                 verdict(ok(ratio(t_tr, l_tr) >= 10, t_tr, l_tr))))
    t_fo, l_fo = m(TF, "failover_rps"), m(LF, "failover_rps")
    # detour's ratio: each run's failover c50 over the same gateway's healthy chain measured right before it
    t_ratio = m(TF, "failover_ratio")
    if math.isnan(t_ratio):
        t_ratio = ratio(t_fo, t50)
    rows.append(("failover c50 (primary 429, retry-after 20)", "", fmt(t_fo, " rps", 0)
                 + f" ({fmt(100 * t_ratio, '%', 0)} of healthy, {fmt(m(TF, 'healthy_rps'), ' rps', 0)} side by side)",
                 fmt(l_fo, " rps", 0) + f" ({fmt(100 * ratio(l_fo, l50), '%', 0)} of healthy)",
                 fmt(ratio(t_fo, l_fo), "×", 1), "≥ 90% of healthy", verdict(ok(t_ratio >= 0.9, t_ratio))))

    def calls(s: System | None) -> str:
        if not s or "limited_calls" not in s.extra:
            return "–"
        e = s.extra
        return f"{e['limited_after_first']} after the first in {e['span_s']:.0f} s (windows {e['limited_per_window']})"

    t_calls_ok = None
    if TF and "limited_calls" in TF.extra:
        t_calls_ok = TF.extra["limited_after_first"] <= TF.extra["allowed_after_first"]
    rows.append(("calls to the limited upstream after its first 429", "", calls(TF), calls(LF), "",
                 "≤ 1 per reset window (allowed: "
                 + (str(TF.extra.get("allowed_after_first")) if TF else "–") + ")", verdict(t_calls_ok)))
    t_up, l_up = res.get("detour_startup", []), res.get("litellm_startup", [])
    t_s = statistics.median(t_up) if t_up else nan
    l_s = statistics.median(l_up) if l_up else nan
    rows.append((f"start until healthy (median of {len(t_up)})", "", fmt(t_s, " s", 3), fmt(l_s, " s", 2),
                 fmt(ratio(l_s, t_s), "×", 1) + " faster", "≤ 1 s", verdict(ok(t_s <= 1, t_s))))

    if getattr(args, "only", None):  # one section: only the rows it measured
        rows = [r for r in rows if any(ch.isdigit() for ch in r[2])]
    out = ["# Gateway benchmark: direct vs detour vs LiteLLM", "",
           f"Generated by `{meta['command']}` on {meta['date']}.", "",
           "| measure | direct (fake alone) | detour | LiteLLM | detour vs LiteLLM | target | detour |",
           "|---|---|---|---|---|---|---|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    errs = {n: sum(v for r in s.runs for k, v in r.items() if k.endswith("errors")) for n, s in
            (("direct", D), ("detour", T), ("LiteLLM", L), ("detour failover", TF), ("LiteLLM failover", LF)) if s}
    noise = {n: statistics.median([v for r in s.runs for k, v in r.items() if k.startswith("noise_")] or [0])
             for n, s in (("direct", D), ("detour", T), ("LiteLLM", L), ("detour failover", TF),
                          ("LiteLLM failover", LF)) if s}
    out += ["", "Other processes on this shared machine used, per measurement (median, in cores): "
            + ", ".join(f"{n} {v:.2f}" for n, v in noise.items())
            + f". A measurement above {NOISE['limit']} cores was repeated (up to {NOISE['retries']} times), "
            "keeping the quietest."]
    out += ["", "Errors (non-2xx, socket, timeouts) summed over all measured runs: "
            + ", ".join(f"{n} {v}" for n, v in errs.items()) + ".", ""]
    out += ["## Setup", ""]
    out += [f"- {k}: {v}" for k, v in meta["setup"].items()]
    out += ["", "## Every run", "", "```json",
            json.dumps({n: {"runs": s.runs, **s.extra} for n, s in
                        (("direct", D), ("detour", T), ("litellm", L), ("detour_failover", TF),
                         ("litellm_failover", LF)) if s}, indent=1, default=str),
            "```", ""]
    out += ["Start-up times (s): detour " + ", ".join(f"{x:.3f}" for x in t_up)
            + ("; LiteLLM " + ", ".join(f"{x:.2f}" for x in l_up) if l_up else ""), ""]
    if res.get("profile"):
        out += ["## Profile of detour under c50 (py-spy, collapsed stacks)", "", "```", res["profile"], "```", ""]
    return "\n".join(out)


def versions(litellm_exe: Path | None) -> dict[str, str]:
    def ver(pkg: str) -> str:
        r = subprocess.run([python(), "-c", f"import importlib.metadata as m; print(m.version('{pkg}'))"],
                           capture_output=True, text=True)
        return r.stdout.strip() or "-"

    out = {p: ver(p) for p in ("detour-llm", "uvicorn", "uvloop", "httptools", "httpx", "orjson")}
    out["python"] = subprocess.run([python(), "-c", "import sys; print(sys.version.split()[0])"],
                                   capture_output=True, text=True).stdout.strip()
    out["wrk"] = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split()[1]
    if litellm_exe:
        out["litellm"] = litellm_setup.version(litellm_exe.parent.parent)
    return out


def fingerprint() -> str:
    """A hash of detour's sources: other people may change them while the bench runs."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted((ROOT / "src" / "detour").rglob("*.py")):
        h.update(str(f.relative_to(ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB RAM, {platform.system()} {platform.release()}"


# ---------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short runs (a smoke check of the bench itself)")
    p.add_argument("--skip-litellm", action="store_true", help="direct and detour only")
    p.add_argument("--only", choices=["failover"], default=None,
                   help="run one section only (writes bench/results/gateway-<section>.md unless --out is given)")
    p.add_argument("--runs", type=int, default=3, help="runs per figure; each figure is their median (≥ 3)")
    p.add_argument("--profile", type=float, default=0, metavar="SECONDS",
                   help="also profile detour under c50 with py-spy for SECONDS")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--docs", type=Path, default=None,
                   help="also write the results as a markdown section to this file (full runs with LiteLLM only)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (configs, logs)")
    p.add_argument("--max-noise", type=float, default=NOISE["limit"], metavar="CORES",
                   help="repeat a measurement when other processes used more than this many cores meanwhile "
                        "(the machine may be shared); default %(default)s")
    p.add_argument("--quiet-wait", type=float, default=NOISE["wait"], metavar="SECONDS",
                   help="before each measurement, wait up to this long for other processes to go quiet")
    args = p.parse_args(argv)
    if not shutil.which("wrk"):
        print("bench: wrk is required (apt-get install wrk)", file=sys.stderr)
        return 2
    d = (dict(warm=1, c1=2, c50=3, streams=100, translate=3, failover=3, startup=3) if args.quick else
         dict(warm=2, c1=5, c50=10, streams=300, translate=10, failover=10, startup=5))
    runs = max(1, args.runs)
    NOISE.update(limit=args.max_noise, wait=args.quiet_wait)
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {int(LOAD_CPU)})  # this driver and the stream client share CPU 0 with wrk
    cmd = "python bench/gateway/run.py" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    started = time.time()
    src_before, load_before = fingerprint(), Path("/proc/loadavg").read_text().split()[:3]

    def say(msg: str) -> None:
        print(f"[{time.time() - started:6.1f}s] {msg}", flush=True)

    litellm_exe = None if args.skip_litellm else litellm_setup.ensure_venv()
    tmp = Path(tempfile.mkdtemp(prefix="detour-gwbench-"))
    res: dict[str, Any] = {}
    procs: list[Proc] = []
    try:
        fake = start_fake(tmp, "fake", {"*": [FAKE_TEXT]}, record=False)
        procs.append(fake)
        fake.rss = loadgen.RssPeak(fake.pid)
        say(f"fake upstream at {fake.url} (pid {fake.pid}, CPU {LOAD_CPU}); temp {tmp}")

        full = args.only is None
        # ---- direct: the fake alone
        say("direct (fake alone)")
        direct = System("direct", fake.url, fake.pid, "gpt-mock", "claude-mock", translate_kind="anthropic",
                        translate_path="/v1/messages")
        if full:
            measure(direct, runs, d, say, [fake.pid])
            res["direct"] = direct

        if full:
            # ---- detour
            say("detour")
            proc = start_detour(tmp, "detour", detour_config(fake.url, "fake/gpt-mock"))
            try:
                det = System("detour", proc.url, proc.pid, "detour", "fakeant/claude-mock")
                measure(det, runs, d, say, [fake.pid, proc.pid])
                res["detour"] = det
            finally:
                res["detour_rss_mb"] = proc.stop() / 2**20
            say(f"  detour peak RSS {res['detour_rss_mb']:.1f} MB")

            # ---- LiteLLM
            if litellm_exe:
                say("LiteLLM")
                proc = start_litellm(tmp, "litellm", litellm_setup.healthy_config(fake.url), litellm_exe)
                try:
                    lit = System("litellm", proc.url, proc.pid, "gpt-mock", "claude-mock", auth=litellm_setup.master_key())
                    measure(lit, runs, d, say, [fake.pid, proc.pid])
                    res["litellm"] = lit
                finally:
                    res["litellm_rss_mb"] = proc.stop() / 2**20
                say(f"  LiteLLM peak RSS {res['litellm_rss_mb']:.1f} MB")
            res["direct_rss_mb"] = fake.rss.peak / 2**20

        # ---- failover: a recording fake whose gpt-limited always answers 429 + retry-after: 20
        script = {"gpt-limited": [{"rate_limit": {"retry_after": RETRY_AFTER}}], "*": [FAKE_TEXT]}
        say("failover, detour")
        ffake = start_fake(tmp, "fake-failover-detour", script, record=True)
        procs.append(ffake)
        fconfig = detour_config(ffake.url, "fake/gpt-limited", ["fake/gpt-ok"])
        fconfig["chains"] = {"healthy": {"primary": "fake/gpt-ok"}}  # the same gateway's healthy baseline
        proc = start_detour(tmp, "detour-failover", fconfig)
        try:
            tf = System("detour failover", proc.url, proc.pid, "detour", "")
            failover(tf, ffake, runs, d["failover"], d["warm"], say, [ffake.pid, proc.pid], healthy_model="healthy")
            res["detour_failover"] = tf
        finally:
            proc.stop()
            ffake.stop()
        if litellm_exe:
            say("failover, LiteLLM")
            ffake = start_fake(tmp, "fake-failover-litellm", script, record=True)
            procs.append(ffake)
            proc = start_litellm(tmp, "litellm-failover", litellm_setup.failover_config(ffake.url), litellm_exe)
            try:
                lf = System("litellm failover", proc.url, proc.pid, "gpt-limited", "", auth=litellm_setup.master_key())
                failover(lf, ffake, runs, d["failover"], d["warm"], say, [ffake.pid, proc.pid])
                res["litellm_failover"] = lf
            finally:
                proc.stop()
                ffake.stop()

        if full:
            # ---- start-up until healthy
            say("start-up")
            cfg = detour_config(fake.url, "fake/gpt-mock")
            res["detour_startup"] = startup(lambda i: start_detour(tmp, f"detour-start{i}", cfg), d["startup"], say,
                                            "detour")
            if litellm_exe:
                res["litellm_startup"] = startup(
                    lambda i: start_litellm(tmp, f"litellm-start{i}", litellm_setup.healthy_config(fake.url), litellm_exe),
                    d["startup"], say, "LiteLLM")

        if args.profile:
            say("profile")
            raw = profile(tmp, fake, args.profile, say)
            if raw is not None:
                res["profile"] = summarize_profile(raw)
    finally:
        for proc in procs:
            proc.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    vers = versions(litellm_exe)
    src_after, load_after = fingerprint(), Path("/proc/loadavg").read_text().split()[:3]
    src_note = (f"sha256 {src_before} (unchanged during the run)" if src_before == src_after else
                f"CHANGED during the run: {src_before} at the start, {src_after} at the end; figures mix versions")
    meta = {"command": cmd, "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "setup": {
                "machine": machine() + f"; load average {' '.join(load_before)} at the start, "
                           f"{' '.join(load_after)} at the end",
                "detour sources (src/detour/**/*.py)": src_note,
                "versions": ", ".join(f"{k} {v}" for k, v in vers.items()),
                "pinning": f"each proxy on CPU {PROXY_CPU} (taskset); wrk, the fake upstream, the stream client and "
                           f"this driver on CPU {LOAD_CPU}",
                "upstream": "`python -m detour.testing` (raw asyncio + httptools, uvloop), 0 ms delay, "
                            "5 content chunks per stream; recording off except in the failover runs",
                "load generator": "wrk -t1 (closed loop, keep-alive), bench/gateway/post.lua: a counter in every "
                                  "request's text; streams: bench/gateway/loadgen.py, raw sockets, concurrency 1, "
                                  "time from sending the request to the first non-empty content delta",
                "durations": f"{runs} runs each; c1 {d['c1']} s, c50 {d['c50']} s, {d['streams']} streams, "
                             f"translated c50 {d['translate']} s, failover c50 {d['failover']} s; "
                             f"{d['warm']} s c50 warm-up + 20 streams before the runs",
                "detour": "`detour serve --config <tmp>/detour.json --port N`, 1 worker, the default config plus "
                          "two fake providers (OpenAI and Anthropic protocol) and the chain; `state` left at its "
                          "default (`sqlite`), logging at its default (`info`, one line per request, to a file), "
                          "/metrics on. XDG dirs point into the temp folder (no user config or cached catalog)",
                "LiteLLM": "`litellm --config <tmp>/litellm.yaml --num_workers 1` with LITELLM_LOCAL_MODEL_COST_MAP, "
                           "telemetry off and a master key; the translated model is `anthropic/claude-mock` with "
                           "api_base at the fake; failover uses the baseline's tuned variant (fallbacks, "
                           "num_retries 0, allowed_fails 1, cooldown_time 20)",
                "CPU per request": "utime+stime of the proxy's process tree from /proc/<pid>/stat over the c50 "
                                   "run ÷ requests completed",
                "peak RSS": "sum of RSS over the proxy's process tree, sampled every 50 ms from launch to stop",
                "failover calls": f"one request at c1 gets the first 429; then warm-up and the c50 runs; the "
                                  f"fake's GET /__fake/requests?model=gpt-limited lists every call; each full "
                                  f"{RETRY_AFTER} s window since the first allows one half-open probe",
            }}
    text = report(res, args, meta)
    if args.out is None:
        args.out = ROOT / "bench" / "results" / ("gateway.md" if args.only is None else f"gateway-{args.only}.md")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    say(f"wrote {args.out}")
    if not args.quick and litellm_exe and args.docs:
        write_docs(args.docs, text, cmd)
        say(f"wrote {args.docs}")
    print(text.split("## Setup")[0])
    return 0


def write_docs(path: Path, report_text: str, cmd: str) -> None:
    table = report_text.split("## Setup")[0].split("\n", 2)[2].strip()
    path.write_text("\n".join([
        "## Benchmarks: the gateway against LiteLLM's proxy", "",
        "detour's gateway and LiteLLM's proxy (1 worker each), side by side in one run, against a fake "
        "OpenAI/Anthropic upstream with 0 ms delay on a 2-core machine; each proxy pinned to one core, the load "
        "generator (wrk; a raw-socket client for streams) and the fake to the other. Figures are medians of 3 runs. "
        "detour runs its default config (state: sqlite, logging: info, /metrics on). The machine was shared with "
        "other work during the run: the line under the table says how much CPU other processes used.",
        "", table, "",
        "Reproduce (needs `wrk`; creates LiteLLM's venv in /tmp/litellm-venv when missing):", "",
        "```bash", cmd.replace("python ", ".venv/bin/python ", 1), "```", "",
        "The full setup, versions and every run are in `bench/results/gateway.md`.", ""]))


if __name__ == "__main__":
    sys.exit(main())
