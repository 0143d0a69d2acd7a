"""Loading the full models.dev snapshot from the compact cache, in a fresh process each time (median of 10).

Run: .venv/bin/python bench/bench_catalog.py [path/to/models.dev-api.json]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

SNAPSHOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "models.dev-api.json"
CHILD = """
import time
t0 = time.perf_counter()
from detour.catalog import load_catalog
cat = load_catalog()
print(len(cat), time.perf_counter() - t0)
"""


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else SNAPSHOT
    if not path.exists():
        print(f"skipped: catalog snapshot not found at {path} (../shared is absent)")
        return 0
    cache = Path(tempfile.mkdtemp(prefix="detour-bench-"))
    try:
        shutil.copy(path, cache / "models.dev.json")  # as `detour catalog sync` leaves it
        env = {**os.environ, "DETOUR_CACHE_DIR": str(cache)}
        env.pop("DETOUR_CATALOG", None)
        first = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, check=True)
        count, cold = first.stdout.split()
        times = []
        for _ in range(10):
            out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, check=True)
            times.append(float(out.stdout.split()[1]))
        print(f"first load (parse + write compact cache): {float(cold) * 1e3:.0f} ms, {count} models")
        print(f"load from cache incl. imports: median {statistics.median(times) * 1e3:.0f} ms "
              f"(min {min(times) * 1e3:.0f}, max {max(times) * 1e3:.0f}) over 10 fresh processes")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
