"""OpenCode integration: the ``provider.detour`` block that points OpenCode at the gateway, and merging it into
an opencode.json(c) by minimal text edits, so comments, key order and every other setting survive.

    provider_block(config, catalog, url=..., api_key=...) -> {"npm": ..., "options": ..., "models": {...}}
    merge_text(text, block)  -> the file's text with top-level "model" and "provider.detour" set
    install_plugin(config_path) -> .opencode/plugins/detour.js beside it: toasts on switches, /detour
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from detour.catalog.model import ModelInfo

__all__ = ["MODEL", "PROVIDER", "SCHEMA", "document", "gateway_url", "install_plugin", "merge_text", "provider_block",
           "write"]

PROVIDER = "detour"
MODEL = f"{PROVIDER}/detour"
NPM = "@ai-sdk/openai-compatible"
SCHEMA = "https://opencode.ai/config.json"
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class CatalogLike(Protocol):
    def get(self, model_id: str) -> ModelInfo | None: ...


# ---------------------------------------------------------------- the block


def gateway_url(url: str | None, host: str = "127.0.0.1", port: int = 4141) -> str:
    """The base URL OpenCode needs, always ending in /v1 (a wildcard bind address is reached on loopback)."""
    if not url:
        host = "127.0.0.1" if host in _WILDCARD_HOSTS else host
        url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    url = url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def _limit(infos: Iterable[ModelInfo | None]) -> dict[str, int] | None:
    """The smallest known context and output: what every model of a chain can take (OpenCode needs both)."""
    known = [i for i in infos if i is not None]
    contexts = [i.context for i in known if i.context]
    outputs = [i.max_output for i in known if i.max_output]
    if not contexts or not outputs:
        return None
    return {"context": min(contexts), "output": min(outputs)}


def _entry(name: str, infos: list[ModelInfo | None]) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name}
    known = [i for i in infos if i is not None]
    # detour routes a request to a model that can serve it, so the chain can do what any of its models can
    for key, cap in (("tool_call", "tools"), ("attachment", "image")):
        values = [getattr(i, cap) for i in known]
        if any(v is not None for v in values):
            entry[key] = any(v is True for v in values)
    limit = _limit(infos)
    if limit:
        entry["limit"] = limit
    return entry


def _configured_models(config: Any) -> list[str]:
    """Every chain's models, then models declared under detour's own ``provider`` block, in order, once each."""
    chains = [config.model, *config.chains.values()]
    ids = [m for chain in chains for m in chain.models]
    for pid, entry in config.provider.items():
        ids += [key if key.startswith(f"{pid}/") else f"{pid}/{key}" for key in entry.models]
    return [m for m in dict.fromkeys(ids) if not m.startswith(f"{PROVIDER}/")]  # never point detour at itself


def provider_block(config: Any, catalog: CatalogLike, *, url: str, api_key: str) -> dict[str, Any]:
    """OpenCode's ``provider.detour``: "detour" (the default chain), each named chain, each configured model."""
    default = [catalog.get(m) for m in config.model.models]
    models: dict[str, Any] = {"detour": _entry("detour (fallback chain)", default)}
    for name, chain in config.chains.items():
        models.setdefault(name, _entry(f"detour chain {name}", [catalog.get(m) for m in chain.models]))
    for model_id in _configured_models(config):
        info = catalog.get(model_id)
        label = f"{info.name or info.model} via detour" if info is not None else f"{model_id} via detour"
        models.setdefault(model_id, _entry(label, [info]))
    return {"npm": NPM, "name": PROVIDER, "options": {"baseURL": url, "apiKey": api_key}, "models": models}


def document(block: dict[str, Any]) -> dict[str, Any]:
    """A whole opencode.json using the block: what `detour opencode` prints."""
    return {"$schema": SCHEMA, "model": MODEL, "provider": {PROVIDER: block}}


# ---------------------------------------------------------------- minimal JSONC edits


@dataclass(frozen=True, slots=True)
class _Member:
    key: str
    key_start: int
    value_start: int
    value_end: int


@dataclass(frozen=True, slots=True)
class _Object:
    open: int  # index of "{"
    close: int  # index of "}"
    members: list[_Member]

    def get(self, key: str) -> _Member | None:
        return next((m for m in reversed(self.members) if m.key == key), None)  # JSON: the last duplicate wins


_DECODER = json.JSONDecoder()
_WS = " \t\r\n"


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def _object(clean: str, start: int) -> _Object:
    """The members of the object at ``start`` in comment-free text (positions equal the original's)."""
    i = _skip(clean, start)
    if i >= len(clean) or clean[i] != "{":
        raise ValueError("expected a JSON object")
    open_at, members = i, []
    i = _skip(clean, i + 1)
    while clean[i] != "}":
        key, after_key = _DECODER.raw_decode(clean, i)
        colon = _skip(clean, after_key)
        value_start = _skip(clean, colon + 1)
        _, value_end = _DECODER.raw_decode(clean, value_start)
        members.append(_Member(key, i, value_start, value_end))
        i = _skip(clean, value_end)
        if clean[i] == ",":
            i = _skip(clean, i + 1)
    return _Object(open_at, i, members)


def _line_indent(text: str, index: int) -> str:
    """The leading whitespace of the line holding ``index``."""
    start = text.rfind("\n", 0, index) + 1
    line = text[start:index]
    return line[: len(line) - len(line.lstrip(" \t"))]


def _member_indent(text: str, obj: _Object) -> str:
    if obj.members:
        first = obj.members[0].key_start
        if not text[text.rfind("\n", 0, first) + 1 : first].strip():  # the first member starts its own line
            return _line_indent(text, first)
    return _line_indent(text, obj.open) + "  "


def _dump(value: Any, indent: str) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + indent)


def _set(text: str, clean: str, obj: _Object, key: str, value: Any, *, first: bool = False) -> str:
    """Replace ``key``'s value in place, or add it after the last member (or first, when asked or awkward)."""
    member = obj.get(key)
    if member is not None:
        indent = _line_indent(text, member.key_start)
        return text[: member.value_start] + _dump(value, indent) + text[member.value_end :]
    indent = _member_indent(text, obj)
    entry = f"\n{indent}{json.dumps(key)}: {_dump(value, indent)}"
    if obj.members and not first:
        last = obj.members[-1].value_end
        eol = clean.find("\n", last)
        if eol != -1 and eol < obj.close and not clean[last:eol].replace(",", "").strip():
            # the last member ends its line (maybe with a comma or a comment): the new one goes on the next line
            comma = "" if text[last:eol].lstrip().startswith(",") else ","
            return text[:last] + comma + text[last:eol] + entry + text[eol:]
    if obj.members:
        return text[: obj.open + 1] + entry + "," + text[obj.open + 1 :]
    return text[: obj.open + 1] + entry + "\n" + _line_indent(text, obj.open) + text[obj.open + 1 :]


def merge_text(text: str, block: dict[str, Any]) -> str:
    """Set top-level ``model`` and ``provider.detour`` in JSON/JSONC text; everything else is left as written."""
    from detour._jsonc import loads, strip

    if not text.strip():
        return json.dumps(document(block), indent=2) + "\n"
    before = loads(text)
    if not isinstance(before, dict):
        raise TypeError("the file must hold a JSON object at the top level")
    providers = before.get("provider")
    if providers is not None and not isinstance(providers, dict):
        raise TypeError('"provider" must be an object')
    expected = {"$schema": SCHEMA, **before, "model": MODEL, "provider": {**(providers or {}), PROVIDER: block}}
    if "\n" not in text.strip() and strip(text) == text:  # one line of plain JSON: nothing to keep but the data
        return json.dumps(expected, indent=2, ensure_ascii=False) + "\n"
    clean = strip(text)
    if "$schema" not in before:  # else OpenCode adds it itself, rewriting the file under a running gateway
        text = _set(text, clean, _object(clean, 0), "$schema", SCHEMA, first=True)
        clean = strip(text)
    text = _set(text, clean, _object(clean, 0), "model", MODEL)
    clean = strip(text)
    member = _object(clean, 0).get("provider")
    if member is None:
        text = _set(text, clean, _object(clean, 0), "provider", {PROVIDER: block})
    else:
        text = _set(text, clean, _object(clean, member.value_start), PROVIDER, block)
    after = loads(text)
    if after != expected:  # a guard: the text edit must change exactly these two keys
        raise ValueError("could not edit the file without changing other settings")
    return text


def write(path: Path, block: dict[str, Any]) -> str | None:
    """Merge the block into ``path`` (created when missing); returns the ``model`` it replaced, if any."""
    from detour._jsonc import loads

    old = path.read_text(encoding="utf-8") if path.exists() else ""
    previous = loads(old).get("model") if old.strip() else None
    new = merge_text(old, block)
    tmp = path.with_name(f".{path.name}.detour-tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(path)  # atomic: OpenCode never reads a half-written file
    return previous if isinstance(previous, str) and previous != MODEL else None


def install_plugin(config_path: Path) -> Path:
    """Copy the packaged OpenCode plugin into ``.opencode/plugins/`` beside the opencode.json (OpenCode loads
    every file there at start); an older copy is replaced, so re-running ``--write`` upgrades it."""
    from importlib.resources import files

    source = files("detour.plugins.opencode").joinpath("detour.js").read_bytes()
    target = config_path.resolve().parent / ".opencode" / "plugins" / "detour.js"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists() or target.read_bytes() != source:
        tmp = target.with_name(".detour.js.detour-tmp")
        tmp.write_bytes(source)
        tmp.replace(target)
    return target
