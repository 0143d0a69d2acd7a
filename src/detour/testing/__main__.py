"""``python -m detour.testing``: run a fake provider as a process; prints ``{"url": ...}`` once ready."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path

from detour.testing.server import FakeProvider, _new_loop


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m detour.testing", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--script", type=Path, help='JSON file: {"model": [behaviour, ...], "*": [...]}')
    p.add_argument("--latency-ms", type=float, default=0.0, help="added before every response")
    p.add_argument("--local-models", type=Path, help="JSON list of local models (ids or LocalModel fields)")
    p.add_argument("--no-record", action="store_true", help="do not keep recorded requests (long soaks)")
    return p


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeProvider(host=args.host, port=args.port, latency=args.latency_ms / 1000, record=not args.no_record)
    if args.script:
        fake.load_script(json.loads(args.script.read_text()))
    if args.local_models:
        fake.local_models = json.loads(args.local_models.read_text())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with fake:
        sys.stdout.write(json.dumps({"url": fake.url}) + "\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    loop = _new_loop()
    try:
        loop.run_until_complete(_serve(args))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
