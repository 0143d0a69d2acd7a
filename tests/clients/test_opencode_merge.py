"""`detour.opencode`: merging the provider block into opencode.json(c) text by minimal edits."""

from __future__ import annotations

import pytest

from detour._jsonc import loads
from detour.opencode import MODEL, SCHEMA, gateway_url, merge_text

BLOCK = {"npm": "@ai-sdk/openai-compatible", "name": "detour", "options": {"baseURL": "http://h:1/v1", "apiKey": "k"},
         "models": {"detour": {"name": "detour"}}}

JSONC = """// top comment
{
  "$schema": "https://opencode.ai/config.json",
  /* block comment */
  "model": "anthropic/claude-sonnet-4-5", // old model
  "provider": {
    "lmstudio": {"options": {"baseURL": "http://127.0.0.1:1234/v1"}},
    "detour": {"name": "stale"}, // replaced
  },
  "autoupdate": false, // trailing comma next
}
"""


def test_jsonc_keeps_comments_and_other_keys_and_replaces_in_place() -> None:
    out = merge_text(JSONC, BLOCK)
    doc = loads(out)
    assert doc["model"] == MODEL
    assert doc["provider"]["detour"] == BLOCK
    assert doc["provider"]["lmstudio"] == {"options": {"baseURL": "http://127.0.0.1:1234/v1"}}
    assert doc["autoupdate"] is False
    for comment in ("// top comment", "/* block comment */", "// old model", "// replaced", "// trailing comma next"):
        assert comment in out
    assert out.index('"$schema"') < out.index('"model"') < out.index('"provider"') < out.index('"autoupdate"')


def test_missing_keys_are_appended_after_the_last_member() -> None:
    text = '{\n  "autoupdate": false, // x\n  "share": "disabled" // y\n}\n'
    out = merge_text(text, BLOCK)
    assert loads(out) == {"$schema": SCHEMA, "autoupdate": False, "share": "disabled", "model": MODEL,
                          "provider": {"detour": BLOCK}}
    assert out.startswith('{\n  "$schema"')
    assert "// x" in out and "// y" in out
    assert out.index('"share"') < out.index('"model"') < out.index('"provider"')


def test_an_empty_provider_object_gets_the_block() -> None:
    out = merge_text('{\n  "provider": {},\n  "share": "auto"\n}\n', BLOCK)
    assert loads(out) == {"$schema": SCHEMA, "provider": {"detour": BLOCK}, "share": "auto", "model": MODEL}


@pytest.mark.parametrize("text", ["", "  \n", '{"share": "auto"}', "{}"])
def test_empty_or_one_line_files_are_written_cleanly(text: str) -> None:
    out = merge_text(text, BLOCK)
    doc = loads(out)
    assert doc["model"] == MODEL and doc["provider"] == {"detour": BLOCK} and doc["$schema"] == SCHEMA
    assert out.count("\n") > 10  # pretty-printed


@pytest.mark.parametrize("text", ["[]", '{"provider": "x"}'])
def test_files_that_cannot_hold_the_block_are_refused(text: str) -> None:
    with pytest.raises((TypeError, ValueError)):
        merge_text(text, BLOCK)


@pytest.mark.parametrize(("url", "host", "port", "expected"), [
    (None, "127.0.0.1", 4141, "http://127.0.0.1:4141/v1"),
    (None, "0.0.0.0", 8080, "http://127.0.0.1:8080/v1"),
    (None, "::1", 9, "http://[::1]:9/v1"),
    ("http://gw.example:1/", "x", 0, "http://gw.example:1/v1"),
    ("https://gw.example/v1/", "x", 0, "https://gw.example/v1"),
])
def test_gateway_url(url: str | None, host: str, port: int, expected: str) -> None:
    assert gateway_url(url, host, port) == expected
