"""Cold CLI start-up: median of 10 `subprocess.run` timings of `detour --help` and `detour models`.

`detour models` runs in a folder holding the mission's detour.json, with the built-in catalog plus,
when ../shared is present, the full models.dev snapshot as the cached catalog.
Run: .venv/bin/python bench/bench_cli_startup.py
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SNAPSHOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "models.dev-api.json"
DETOUR = Path(sys.executable).with_name("detour")
MISSION = {"model": {"primary": "anthropic/claude-sonnet-4-20250514",
                     "fallback": ["openai/gpt-5", "google/gemini-2-flash", "deepseek/deepseek-coder"]}}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], cwd: Path, env: dict[str, str], runs: int = 10) -> str:
    """Median wall time, and median CPU time (user+sys), which a busy shared machine inflates less."""
    subprocess.run(args, cwd=cwd, env=env, capture_output=True, check=True)  # warm the OS file cache
    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), _cpu()
        subprocess.run(args, cwd=cwd, env=env, capture_output=True, check=True)
        walls.append(time.perf_counter() - t0)
        cpus.append(_cpu() - c0)
    return f"median {statistics.median(walls) * 1e3:.0f} ms wall, {statistics.median(cpus) * 1e3:.0f} ms CPU"


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="detour-bench-"))
    try:
        (work / "detour.json").write_text(json.dumps(MISSION))
        (work / "cache").mkdir()
        env = {**os.environ, "DETOUR_CACHE_DIR": str(work / "cache")}
        env.pop("DETOUR_CATALOG", None)
        print(f"detour --help: {timed([str(DETOUR), '--help'], work, env)}")
        print(f"detour models (built-in catalog): {timed([str(DETOUR), 'models'], work, env)}")
        if SNAPSHOT.exists():
            shutil.copy(SNAPSHOT, work / "cache" / "models.dev.json")
            print(f"detour models (5k-model cached catalog): {timed([str(DETOUR), 'models'], work, env)}")
        else:
            print(f"skipped the full-catalog run: snapshot not found at {SNAPSHOT}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
