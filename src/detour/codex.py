"""Codex CLI integration: the ``config.toml`` settings that point OpenAI's Codex at the gateway.

Codex speaks only the Responses API. It reads ``$CODEX_HOME/config.toml`` (default ``~/.codex/config.toml``)::

    model = "detour"
    model_provider = "detour"

    [model_providers.detour]
    name = "detour"
    base_url = "http://127.0.0.1:4141/v1"
    env_key = "DETOUR_API_KEY"     # the variable whose value Codex sends as a bearer token
    wire_api = "responses"

``write`` edits the file with tomlkit, so comments, other providers and profiles survive.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["ENV_KEY", "MODEL", "PROVIDER", "config_path", "render", "settings", "write"]

PROVIDER = "detour"
MODEL = "detour"
ENV_KEY = "DETOUR_API_KEY"


def config_path(env: dict[str, str] | None = None) -> Path:
    """Where Codex reads its config: ``$CODEX_HOME/config.toml``, else ``~/.codex/config.toml``."""
    env = dict(os.environ) if env is None else env
    home = env.get("CODEX_HOME")
    return Path(home).expanduser() / "config.toml" if home else Path.home() / ".codex" / "config.toml"


def settings(url: str, env_key: str = ENV_KEY, context_window: int | None = None) -> dict[str, Any]:
    """The top-level keys and the provider table, as plain data."""
    top: dict[str, Any] = {"model": MODEL, "model_provider": PROVIDER}
    if context_window:
        top["model_context_window"] = context_window
    top["model_providers"] = {PROVIDER: {"name": PROVIDER, "base_url": url, "env_key": env_key, "wire_api": "responses"}}
    return top


def _merge(doc: Any, data: dict[str, Any]) -> Any:
    import tomlkit

    for key, value in data.items():
        if key == "model_providers":
            continue
        doc[key] = value
    providers = doc.get("model_providers")
    if providers is None:
        providers = tomlkit.table(is_super_table=True)
        doc["model_providers"] = providers
    elif not isinstance(providers, dict):
        raise TypeError("model_providers must be a table")
    table = tomlkit.table()
    for key, value in data["model_providers"][PROVIDER].items():
        table[key] = value
    providers[PROVIDER] = table
    return doc


def render(data: dict[str, Any], text: str = "") -> str:
    """The config file's text with the settings merged in (``text`` empty: a new file)."""
    import tomlkit

    doc = tomlkit.parse(text) if text.strip() else tomlkit.document()
    if not text.strip():
        doc.add(tomlkit.comment("Codex through detour: fallback across providers (written by `detour codex --write`)"))
    return tomlkit.dumps(_merge(doc, data))


def write(path: Path, data: dict[str, Any]) -> tuple[str | None, str | None]:
    """Merge into ``path`` (created when missing); returns the (model, model_provider) it replaced."""
    import tomllib

    old = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        before = tomllib.loads(old) if old.strip() else {}
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
    new = render(data, old)
    after = tomllib.loads(new)
    unchanged = {k: v for k, v in before.items() if k not in data}
    if any(after.get(k) != v for k, v in unchanged.items() if k != "model_providers") or any(
        after["model_providers"].get(k) != v for k, v in (before.get("model_providers") or {}).items() if k != PROVIDER
    ):  # a guard: only detour's keys may change
        raise ValueError("could not edit the file without changing other settings")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.detour-tmp")
    tmp.write_text(new, encoding="utf-8")
    tmp.replace(path)
    model, provider = before.get("model"), before.get("model_provider")
    return (model if model != MODEL else None, provider if provider != PROVIDER else None)
