"""Cold CLI start-up: median of 10 `subprocess.run` timings of `detour --help` and `detour models`.

`detour models` runs in a folder holding the mission's detour.json, with the built-in catalog plus,
when ../shared is present, the full models.dev snapshot as the cached catalog.
Run: .venv/bin/python bench/bench_cli_startup.py

`--against REF` times this tree's `src` and REF's (`git archive`) side by side in one run, alternating the two
on every repetition (`python -m detour` with PYTHONPATH set), and prints each median and the ratio.
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


def _archive(ref: str, dest: Path) -> Path:
    root = Path(__file__).resolve().parents[1]
    tar = subprocess.run(["git", "-C", str(root), "archive", ref, "src"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar, check=True)
    return dest / "src"


def side_by_side(ref: str, runs: int = 15) -> int:
    """This tree against REF: alternating runs, medians and the ratio (this / REF)."""
    work = Path(tempfile.mkdtemp(prefix="detour-bench-"))
    try:
        (work / "detour.json").write_text(json.dumps(MISSION))
        (work / "cache").mkdir()
        trees = {"this tree": Path(__file__).resolve().parents[1] / "src", ref: _archive(ref, work)}
        base = {**os.environ, "DETOUR_CACHE_DIR": str(work / "cache")}
        base.pop("DETOUR_CATALOG", None)
        for label, argv in (("--help", ["--help"]), ("models", ["models"])):
            walls: dict[str, list[float]] = {name: [] for name in trees}
            for i in range(runs + 1):
                for name, src in trees.items():
                    env = {**base, "PYTHONPATH": str(src)}
                    t0 = time.perf_counter()
                    subprocess.run([sys.executable, "-m", "detour", *argv], cwd=work, env=env, capture_output=True,
                                   check=True)
                    if i:  # the first round warms the file cache and the bytecode of both trees
                        walls[name].append(time.perf_counter() - t0)
            med = {name: statistics.median(w) * 1e3 for name, w in walls.items()}
            print(f"detour {label}: " + ", ".join(f"{n} median {m:.0f} ms" for n, m in med.items())
                  + f"; ratio {med['this tree'] / med[ref]:.2f} ({runs} alternating runs each)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--against":
        return side_by_side(sys.argv[2])
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
