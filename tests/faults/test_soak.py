"""The soak's CI short form: 2 000 requests at concurrency 64 through a real `detour serve` process, against
upstreams that fail on 35 % of their requests, the healthy capable model last (bench/soak.py runs 20 000)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def _soak_module():
    spec = importlib.util.spec_from_file_location("detour_bench_soak", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    soak = _soak_module()
    workdir = tmp_path_factory.mktemp("soak")
    rep = soak.run(requests=2000, concurrency=64, fault_rate=0.35, seed=11, warmup=500, workdir=workdir)
    print(soak.summary(rep))
    rep.log = (workdir / "soak-gateway.log").read_text(errors="replace")
    return rep


def test_every_request_succeeds_and_is_answered_exactly_once(report):
    assert report.failed == [], report.failed[:5]
    assert report.missing_ids == [] and report.duplicate_ids == []
    assert report.wrong_ids == [], "an answer carried another request's id"
    assert report.ok == report.requests == 2000


def test_the_faulty_upstreams_got_traffic_and_failed(report):
    soak = sys.modules["detour_bench_soak"]
    # counted during the soak only (the warm-up's attempts are subtracted, its cooldowns cleared by POST /reset)
    met: set[str] = set()
    for model in soak.FAULTY:
        kinds = next(v for k, v in report.attempts.items() if k.endswith("/" + model))
        failures = {k for k in kinds if k != "ok"}
        assert kinds.get("ok", 0) > 0, f"{model} never served"
        assert failures, f"{model} never failed: {kinds}"
        met |= failures
    assert len(met) >= 4, f"too few fault kinds met: {met}"
    healthy = next(v for k, v in report.attempts.items() if k.endswith("/" + soak.HEALTHY))
    assert healthy.get("ok", 0) > 0 and set(healthy) == {"ok"}


def test_no_fd_leak_and_bounded_rss(report):
    # idle fds after a full-concurrency warm-up vs after the soak, the client's connections closed both times.
    # The upstream keep-alive pool legitimately breathes (it is capped by the concurrency); everything else
    # (listeners, logs, pipes, half-closed or abandoned sockets) must not grow.
    other_warm = report.fds_warm - report.pool_warm
    other_end = report.fds_settled - report.pool_settled
    assert other_end <= other_warm + 2, (report.fds_warm, report.pool_warm, report.fds_settled, report.pool_settled)
    assert report.pool_settled <= report.concurrency + 4
    assert report.close_wait == 0, "upstream sockets closed by the peer but never by the gateway"
    assert report.rss_growth < 0.10, f"RSS grew {report.rss_growth:.1%} after warm-up"


def test_healthz_answered_throughout(report):
    assert report.healthz_polls > 0
    assert report.healthz_failures == []


def test_no_traceback_in_the_gateway_log(report):
    assert "Traceback" not in report.log, report.log[-3000:]
