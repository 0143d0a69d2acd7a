"""Where catalog layers come from: the user cache, local files and URLs, with a compact parsed cache.

Parsing 5k models from JSON costs tens of milliseconds; the compact form (marshal of plain tuples,
keyed by the source's mtime, size and FORMAT_VERSION) loads in a few.
"""

from __future__ import annotations

import hashlib
import marshal
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from detour.catalog.errors import CatalogError
from detour.catalog.modelsdev import ProviderRow, Row

FORMAT_VERSION = 3
CACHE_FILE = "models.dev.json"
DEFAULT_URL = "https://models.dev/api.json"
URL_MAX_AGE_S = 24 * 3600


class Layer(NamedTuple):
    source: str
    rows: list[Row]
    providers: dict[str, ProviderRow]
    moderation: dict[str, bool]  # openrouter/* id -> is_moderated (OpenRouter list files only)


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    override = env.get("DETOUR_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("detour"))


def cached_catalog_path(env: Mapping[str, str] | None = None) -> Path:
    return cache_dir(env) / CACHE_FILE


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _decode(raw: bytes, source: str) -> Any:
    import orjson

    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CatalogError(f"invalid JSON ({exc})", where=source,
                           hint="re-download it (`detour catalog sync`) or point --catalog at a valid file") from None


def parse_bytes(raw: bytes, source: str) -> Layer:
    from detour.catalog import modelsdev

    data = _decode(raw, source)
    if modelsdev.is_openrouter_list(data):
        return Layer(source, [], {}, modelsdev.parse_openrouter_moderation(data))
    rows, providers = modelsdev.parse_modelsdev(data, source=source, local=_local_ids())
    return Layer(source, rows, providers, {})


def _local_ids() -> frozenset[str]:
    from detour.catalog.modelsdev import LOCAL_PROVIDERS
    from detour.catalog.registry import builtin_specs

    return LOCAL_PROVIDERS | {pid for pid, spec in builtin_specs().items() if spec.local}


def read_layer(path: Path, env: Mapping[str, str] | None = None) -> Layer:
    """One catalog file, through the compact cache when it is current."""
    source = str(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CatalogError("catalog file not found", where=source,
                           hint="check the path, or run `detour catalog sync` to download models.dev") from None
    except OSError as exc:
        raise CatalogError(f"cannot read catalog ({exc.strerror})", where=source) from None
    key = (FORMAT_VERSION, str(path.resolve()), st.st_mtime_ns, st.st_size)
    compact = cache_dir(env) / "compact" / (hashlib.sha1(str(key[1]).encode()).hexdigest()[:20] + ".marshal")
    try:
        with open(compact, "rb") as fh:
            stored_key, rows, providers, moderation = marshal.load(fh)
        if stored_key == key:
            return Layer(source, rows, providers, moderation)
    except (OSError, ValueError, EOFError, TypeError):
        pass
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"cannot read catalog ({exc.strerror})", where=source) from None
    layer = parse_bytes(raw, source)
    _write_atomic(compact, marshal.dumps((key, layer.rows, layer.providers, layer.moderation)))
    return layer


def _write_atomic(path: Path, data: bytes) -> None:
    """Best effort: a read-only cache only costs speed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass
