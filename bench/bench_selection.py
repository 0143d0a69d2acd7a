"""Warm smart_model_select over the full models.dev snapshot with varied requirements (median, p50).

Run: .venv/bin/python bench/bench_selection.py [path/to/models.dev-api.json]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

SNAPSHOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "models.dev-api.json"


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else SNAPSHOT
    if not path.exists():
        print(f"skipped: catalog snapshot not found at {path} (../shared is absent)")
        return 0
    os.environ.setdefault("DETOUR_CACHE_DIR", tempfile.mkdtemp(prefix="detour-bench-"))
    from detour.catalog import load_catalog
    from detour.selection import Requirements as R
    from detour.selection import smart_model_select

    catalog = load_catalog(catalog=str(path))
    reqs = [
        R.from_names(["tools"]),
        R.from_names(["tools", "image", "thinking"], min_context=200_000),
        R.from_names(["reasoning"], max_tier="low"),
        R(structured_output=True),
        R(),
        R.from_names(["pdf"], max_price=2.0),
        R(local_only=True),
        R(uncensored=True),
        R(tools=True, allow_providers=("openai", "anthropic")),
        R.from_names(["tools", "reasoning"], min_context=1_000_000, deny_providers=("openrouter",)),
    ]
    smart_model_select(candidates="all", catalog=catalog)  # builds the per-catalog index once
    for limit in (None, 10):
        timings: list[float] = []
        for _ in range(20):
            for prefer in ("priority", "cost", "context"):
                for req in reqs:
                    t0 = time.perf_counter()
                    smart_model_select(req, candidates="all", catalog=catalog, prefer=prefer, limit=limit)  # type: ignore[arg-type]
                    timings.append(time.perf_counter() - t0)
        timings.sort()
        p50, p90 = timings[len(timings) // 2], timings[int(len(timings) * 0.9)]
        print(f"smart_model_select over {len(catalog)} models, limit={limit}: "
              f"p50 {p50 * 1e3:.2f} ms, p90 {p90 * 1e3:.2f} ms, max {timings[-1] * 1e3:.2f} ms ({len(timings)} calls)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
