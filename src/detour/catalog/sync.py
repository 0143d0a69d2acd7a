"""`detour catalog sync`: download models.dev's api.json into the cache, atomically and conditionally."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from detour.catalog.errors import CatalogError
from detour.catalog.sources import (
    DEFAULT_URL,
    URL_MAX_AGE_S,
    Layer,
    cache_dir,
    cached_catalog_path,
    is_url,
    parse_bytes,
    read_layer,
)


@dataclass(slots=True)
class SyncResult:
    status: Literal["updated", "not_modified"]
    path: Path
    url: str
    providers: int = 0
    models: int = 0
    bytes: int = 0


def _meta_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".meta.json")


def _read_meta(dest: Path, url: str) -> dict[str, str]:
    try:
        meta = json.loads(_meta_path(dest).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) and meta.get("url") == url and dest.exists() else {}


def _validate(raw: bytes, url: str) -> tuple[int, int]:

    layer = parse_bytes(raw, url)
    if not layer.rows:
        raise CatalogError("the download holds no models", where=url, hint="is this a models.dev api.json URL?")
    return len(layer.providers), len(layer.rows)


def _download(client: Any, url: str, headers: dict[str, str], progress: bool) -> tuple[int, bytes, Any]:
    with client.stream("GET", url, headers=headers) as resp:
        if resp.status_code == 304:
            return 304, b"", resp.headers
        if resp.status_code >= 400:
            raise CatalogError(f"download failed: HTTP {resp.status_code}", where=url,
                               hint="check the URL; the cached catalog was kept")
        total = int(resp.headers.get("content-length") or 0) or None
        chunks: list[bytes] = []
        if progress:
            from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

            with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                          TransferSpeedColumn(), transient=True) as bar:
                task = bar.add_task("models.dev", total=total)
                for chunk in resp.iter_bytes():
                    chunks.append(chunk)
                    bar.update(task, advance=len(chunk))
        else:
            chunks.extend(resp.iter_bytes())
        return resp.status_code, b"".join(chunks), resp.headers


def sync_catalog(url: str = DEFAULT_URL, *, dest: Path | None = None, env: Mapping[str, str] | None = None,
                 progress: bool = True, timeout: float = 30.0) -> SyncResult:
    """Fetch `url` into `dest` (default: the user cache). A failed or partial download keeps the old file."""
    import httpx

    dest = dest or cached_catalog_path(env)
    meta = _read_meta(dest, url)
    headers = {"accept": "application/json", "user-agent": "detour"}
    if meta.get("etag"):
        headers["if-none-match"] = meta["etag"]
    if meta.get("last_modified"):
        headers["if-modified-since"] = meta["last_modified"]
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            status, raw, resp_headers = _download(client, url, headers, progress)
    except httpx.TimeoutException:
        raise CatalogError("download timed out", where=url, hint="try again later; the cached catalog was kept") from None
    except (httpx.ConnectError, httpx.NetworkError) as exc:
        raise CatalogError(f"cannot connect ({_short(exc)})", where=url,
                           hint="are you offline? the cached catalog was kept") from None
    except httpx.HTTPError as exc:
        raise CatalogError(f"download interrupted ({_short(exc)})", where=url,
                           hint="try again; the cached catalog was kept") from None
    if status == 304:
        return SyncResult("not_modified", dest, url)
    providers, models = _validate(raw, url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.write_bytes(raw)
    os.replace(tmp, dest)
    new_meta = {"url": url, "etag": resp_headers.get("etag", ""), "last_modified": resp_headers.get("last-modified", "")}
    _meta_path(dest).write_text(json.dumps(new_meta))
    return SyncResult("updated", dest, url, providers, models, len(raw))


def _short(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:120]


def url_layer(url: str, env: Mapping[str, str] | None = None) -> Layer:
    """A catalog URL, downloaded into the cache and re-fetched once a day; a stale copy beats no copy."""
    path = cache_dir(env) / "url" / (hashlib.sha1(url.encode()).hexdigest()[:20] + ".json")
    fresh = path.exists() and time.time() - path.stat().st_mtime < URL_MAX_AGE_S
    if not fresh:
        try:
            sync_catalog(url, dest=path, progress=False)
        except CatalogError:
            if not path.exists():
                raise
    layer = read_layer(path, env)
    return layer._replace(source=url)


def load_source(source: str, *, base: Path | None = None, env: Mapping[str, str] | None = None) -> Layer:
    if is_url(source):
        return url_layer(source, env)
    path = Path(source).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    return read_layer(path, env)
