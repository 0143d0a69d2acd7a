"""`catalog sync` against a loopback server: 200, 304 with ETag, truncated, invalid JSON, refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from catalog_loopback import free_port, serve

from detour.catalog.errors import CatalogError
from detour.catalog.sources import cached_catalog_path
from detour.catalog.store import load_catalog
from detour.catalog.sync import sync_catalog


def _server(body: bytes, *, etag: str = '"v1"', declared: int | None = None, status: int = 200):
    def route(method, path, headers, _body):
        if headers.get("if-none-match") == etag:
            return 304, {"etag": etag}, b"", None
        return status, {"etag": etag, "content-type": "application/json"}, body, declared
    return serve(route)


def test_download_then_not_modified(mini: Path, env: dict[str, str]) -> None:
    body = mini.read_bytes()
    with _server(body) as url:
        first = sync_catalog(f"{url}/api.json", env=env, progress=False)
        second = sync_catalog(f"{url}/api.json", env=env, progress=False)
        sent = serve.seen  # type: ignore[attr-defined]
    assert first.status == "updated" and first.models == 8 and first.providers == 5
    assert first.path == cached_catalog_path(env) and first.path.read_bytes() == body
    assert second.status == "not_modified" and sent[-1]["if-none-match"] == '"v1"'
    assert "acme/plain" in load_catalog(env=env)


@pytest.mark.parametrize(("body", "declared", "fragment"), [
    (b'{"acme": {"models": {', 5000, "interrupted"),
    (b"<html>oops</html>", None, "invalid JSON"),
    (b'{"acme": {"models": {}}}', None, "no models"),
])
def test_failed_download_keeps_old_file(mini: Path, env: dict[str, str], body: bytes, declared: int | None,
                                        fragment: str) -> None:
    dest = cached_catalog_path(env)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(mini.read_bytes())
    with _server(body, declared=declared) as url:
        with pytest.raises(CatalogError, match=fragment):
            sync_catalog(f"{url}/api.json", env=env, progress=False)
    assert dest.read_bytes() == mini.read_bytes()
    assert [p.name for p in dest.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_http_error(env: dict[str, str]) -> None:
    with _server(b"nope", status=500) as url:
        with pytest.raises(CatalogError, match="HTTP 500"):
            sync_catalog(f"{url}/api.json", env=env, progress=False)


def test_connection_refused(env: dict[str, str]) -> None:
    with pytest.raises(CatalogError, match="cannot connect") as err:
        sync_catalog(f"http://127.0.0.1:{free_port()}/api.json", env=env, progress=False)
    assert "offline" in err.value.hint
    assert not cached_catalog_path(env).exists()


def test_url_catalog_layer(mini: Path, env: dict[str, str]) -> None:
    with _server(mini.read_bytes()) as url:
        cat = load_catalog(catalog=f"{url}/api.json", env=env)
    assert cat.get("acme/plain") is not None and cat.sources == [f"{url}/api.json"]
    # served from the cache while the server is gone
    assert load_catalog(catalog=f"{url}/api.json", env=env).get("acme/plain") is not None
