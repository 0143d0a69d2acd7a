"""The gateway's log line format: the cached timestamp reads exactly like logging's own."""

from __future__ import annotations

import logging

from detour.server.run import LineFormatter


def test_line_formatter_matches_the_standard_one() -> None:
    fmt = "%(asctime)s %(levelname)s %(name)s %(message)s"
    plain, fast = logging.Formatter(fmt), LineFormatter(fmt)
    for created in (0.0, 1.0005, 1.9999, 2.0, 1764216000.123456, 1764216000.999999, 1764216001.0):
        record = logging.LogRecord("detour.server", logging.INFO, "", 0, "request %s", ("a",), None)
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert fast.format(record) == plain.format(record)
