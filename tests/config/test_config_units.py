from __future__ import annotations

import pytest

from detour.units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [("200k", 200_000), ("1m", 1_000_000), ("32MiB", 33_554_432), ("1.5m", 1_500_000), ("512", 512),
     (4096, 4096), ("2 KB", 2000), ("1gi", 1024**3), ("0", 0)],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "big", "12 parsecs", "-1k", True, -5, "1..2k"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10s", 10.0), ("500ms", 0.5), ("2m", 120.0), ("1h", 3600.0), (3, 3.0), (0.25, 0.25), ("7", 7.0),
     ("1m30s", 90.0), ("1h 2m", 3720.0), ("1.5s", 1.5), ("1d", 86400.0), (" 2S ", 2.0)],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "10 parsecs", "-1s", "s", "10s!", False, -1, "1m-2s"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)
