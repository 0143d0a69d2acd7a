"""HEAD answers wherever GET does: Claude Code checks its ANTHROPIC_BASE_URL with `HEAD /`."""

from __future__ import annotations

import httpx


def test_head_answers_like_get_without_a_body(make_gateway):
    gw = make_gateway()
    for path in ("/", "/healthz", "/status", "/v1/models"):
        got = httpx.get(gw.url + path, timeout=10)
        head = httpx.head(gw.url + path, timeout=10)
        assert (head.status_code, head.content) == (200, b""), path
        assert head.headers["content-type"] == got.headers["content-type"], path
    assert httpx.head(gw.url + "/events", timeout=10).status_code == 404  # a stream: GET only
