"""Benchmarks for the fallback engine.

    .venv/bin/python bench/bench_routing.py              # routing decision: plan + health lookup, no I/O
    .venv/bin/python bench/bench_routing.py --transport  # httpx vs detour._http vs a raw-asyncio HTTP/1.1 client
    .venv/bin/python bench/bench_routing.py --transport --uvloop  # the same on uvloop, as the gateway runs

The routing decision runs for a 5-model chain with requests varied per iteration (text length, tools,
images, reasoning, explicit needs) and a ledger holding live cooldowns. Target: p50 < 50 µs.
The transport bench runs the fake provider in a subprocess and sends N keep-alive POSTs (non-streaming,
streaming read to the end, and 32 concurrent) from each client, reporting median req/s and the client
process's CPU µs per request over interleaved rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from typing import Any

from detour.catalog.model import ModelInfo
from detour.config import parse_config
from detour.health import model_scope
from detour.protocol.messages import ImagePart, Message, Request, TextPart, Tool
from detour.router import Router

CHAIN = ["anthropic/claude-sonnet-4-5", "openai/gpt-5", "google/gemini-2.5-flash", "deepseek/deepseek-chat", "lmstudio/qwen3-coder"]


class _Catalog:
    providers = None

    def __init__(self) -> None:
        caps = [
            {"tools": True, "image": True, "thinking": True, "reasoning": True, "context": 200_000, "cost_input": 3.0, "cost_output": 15.0},
            {"tools": True, "image": True, "reasoning": True, "context": 400_000, "cost_input": 1.25, "cost_output": 10.0},
            {"tools": True, "image": True, "thinking": True, "context": 1_000_000, "cost_input": 0.3, "cost_output": 2.5},
            {"tools": True, "image": False, "context": 128_000, "cost_input": 0.27, "cost_output": 1.1},
            {"context": 32_000},
        ]
        self.models = {m: ModelInfo(id=m, provider=m.split("/")[0], model=m.split("/", 1)[1], **c) for m, c in zip(CHAIN, caps)}

    def get(self, model_id: str) -> ModelInfo | None:
        return self.models.get(model_id)


def _requests(n: int) -> list[Request]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        parts: list[Any] = [TextPart("word " * rng.randint(1, 4000))]
        if i % 5 == 0:
            parts.append(ImagePart(data="iVBOR", media_type="image/png"))
        req = Request(model="detour", messages=[Message("system", [TextPart("be brief")]), Message("user", parts)])
        if i % 3 == 0:
            req.tools = [Tool("lookup"), Tool("search")]
        if i % 7 == 0:
            req.reasoning_effort = "high"
        if i % 11 == 0:
            req.detour = {"require": ["thinking"]}
        req.max_tokens = rng.choice([None, 1024, 8192])
        out.append(req)
    return out


async def bench_routing(iterations: int) -> dict[str, float]:
    env = {"ANTHROPIC_API_KEY": "x", "OPENAI_API_KEY": "y", "GEMINI_API_KEY": "z", "DEEPSEEK_API_KEY": "w"}
    config = parse_config({"model": {"primary": CHAIN[0], "fallback": CHAIN[1:]}}).config
    router = Router(config, _Catalog(), env=env)
    await router.ledger.cool(model_scope(CHAIN[0]), "rate_limited", reported=3600)
    await router.ledger.cool(model_scope(CHAIN[2]), "overloaded")
    reqs = _requests(256)
    for req in reqs:  # warm the target cache
        router.route(req)
    samples = []
    perf = time.perf_counter
    for i in range(iterations):
        req = reqs[i % len(reqs)]
        t0 = perf()
        router.route(req)
        samples.append(perf() - t0)
    await router.aclose()
    samples.sort()
    return {
        "p50_us": samples[len(samples) // 2] * 1e6,
        "p90_us": samples[int(len(samples) * 0.9)] * 1e6,
        "p99_us": samples[int(len(samples) * 0.99)] * 1e6,
        "mean_us": statistics.fmean(samples) * 1e6,
    }


# ---------------------------------------------------------------- transport comparison


class RawHTTP:
    """A minimal keep-alive HTTP/1.1 client on asyncio streams (Content-Length responses only)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self._conn is None:
            self._conn = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._conn
        head = f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\ncontent-length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode() + body)
        status_line = await reader.readline()
        status = int(status_line.split()[1])
        length, chunked = 0, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "transfer-encoding" and "chunked" in value:
                chunked = True
        if chunked:
            data = b""
            while (size := int((await reader.readline()).strip(), 16)) != 0:
                data += await reader.readexactly(size)
                await reader.readline()
            await reader.readline()
            return status, data
        return status, await reader.readexactly(length)

    async def aclose(self) -> None:
        if self._conn is not None:
            self._conn[1].close()


def _start_fake() -> tuple[Any, str]:
    """The fake provider in its own process, so the CPU figures below are the client's alone."""
    import json
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "detour.testing", "--no-record"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["url"]


async def _clients(url: str) -> dict[str, tuple[Any, Any, Any]]:
    """name -> (post, stream, aclose): one non-streaming POST, one streaming POST read to the end."""
    import httpx
    import orjson

    from detour._http import HttpClient

    host, port = url.removeprefix("http://").split(":")
    target = url + "/v1/chat/completions"
    msgs = [{"role": "user", "content": "hi"}]
    body = orjson.dumps({"model": "m", "messages": msgs})
    sbody = orjson.dumps({"model": "m", "messages": msgs, "stream": True})
    headers = {"content-type": "application/json", "authorization": "Bearer x"}
    hx = httpx.AsyncClient(limits=httpx.Limits(max_connections=100, max_keepalive_connections=100), trust_env=False)
    lean = HttpClient(trust_env=False)
    raw = RawHTTP(host, int(port))

    async def hx_stream() -> None:
        async with hx.stream("POST", target, content=sbody, headers=headers) as r:
            async for _ in r.aiter_raw():
                pass

    async def lean_stream() -> None:
        async with lean.stream("POST", target, body=sbody, headers=headers) as r:
            async for _ in r.aiter_bytes(30):
                pass

    return {
        "httpx": (lambda: hx.post(target, content=body, headers=headers), hx_stream, hx.aclose),
        "detour._http": (lambda: lean.request("POST", target, body=body, headers=headers), lean_stream, lean.aclose),
        "raw_asyncio": (lambda: raw.post("/v1/chat/completions", body, headers), lambda: raw.post("/v1/chat/completions", sbody, headers), raw.aclose),
    }


async def _measure(send: Any, n: int, concurrency: int) -> tuple[float, float]:
    """(req/s, client CPU µs per request) for n requests, ``concurrency`` at a time."""
    async def worker(count: int) -> None:
        for _ in range(count):
            await send()

    for _ in range(20):
        await send()
    t0, c0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    done = n // concurrency * concurrency
    return done / wall, cpu / done * 1e6


async def bench_transport(n: int, rounds: int = 5) -> dict[str, dict[str, tuple[float, float]]]:
    """Median (req/s, CPU µs/request) per client and mode, over ``rounds`` interleaved rounds."""
    proc, url = _start_fake()
    try:
        clients = await _clients(url)
        modes = {"post": (0, 1), "stream": (1, 1), "post x32": (0, 32)}
        samples: dict[str, dict[str, list[tuple[float, float]]]] = {c: {m: [] for m in modes} for c in clients}
        for _ in range(rounds):
            for name, fns in clients.items():
                for mode, (which, conc) in modes.items():
                    if name == "raw_asyncio" and conc > 1:
                        continue  # one connection, no pool: sequential only
                    samples[name][mode].append(await _measure(fns[which], n, conc))
        for fns in clients.values():
            await fns[2]()
    finally:
        proc.terminate()
        proc.wait()
    return {c: {m: (statistics.median(s[0] for s in v), statistics.median(s[1] for s in v)) for m, v in ms.items() if v}
            for c, ms in samples.items()}


def print_transport(result: dict[str, dict[str, tuple[float, float]]]) -> None:
    modes = list(next(iter(result.values())))
    print(f"{'client':14s}" + "".join(f"{m + ' req/s':>16s}{m + ' CPU µs':>16s}" for m in modes))
    for name, by_mode in result.items():
        cells = "".join(f"{by_mode[m][0]:16.0f}{by_mode[m][1]:16.1f}" if m in by_mode else f"{'-':>16s}{'-':>16s}"
                        for m in modes)
        print(f"{name:14s}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--transport", action="store_true")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--uvloop", action="store_true", help="run the clients on uvloop (as the gateway does)")
    args = parser.parse_args()
    if args.transport:
        if args.uvloop:
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        print_transport(asyncio.run(bench_transport(args.requests, args.rounds)))
        return
    result = asyncio.run(bench_routing(args.iterations))
    for k, v in result.items():
        print(f"{k:10s} {v:8.1f}")
    print("PASS" if result["p50_us"] < 50 else "FAIL", "(p50 < 50 µs)")


if __name__ == "__main__":
    main()
