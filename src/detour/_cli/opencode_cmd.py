"""`detour opencode`: print, or merge into an opencode.json(c), the provider block that points OpenCode at detour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from detour._cli.common import CATALOG_HELP, CONFIG_HELP, fail, load, print_json, state

WRITE_HELP = ("Merge into this opencode.json/.jsonc (created if missing): sets \"model\" and \"provider.detour\", "
              "keeps every other key and comment.")
URL_HELP = "The gateway's address (default: http://server.host:server.port from the config); /v1 is added."
KEY_HELP = ("The key OpenCode sends (default: the config's first server.apiKeys entry, as {env:X} if written so, "
            "else 'detour').")


def _config_source(explicit: str | None, write: Path | None) -> str | None:
    """--config, else the --write target when it already holds detour's settings (one file serves both)."""
    if explicit or write is None or not write.is_file():
        return explicit
    from detour._jsonc import ParseError, parse_text

    try:
        doc = parse_text(write.read_text(encoding="utf-8"), write.suffix)
    except (ParseError, OSError, UnicodeDecodeError, ValueError):
        return explicit
    return str(write) if isinstance(doc, dict) and "detour" in doc else explicit


def _raw_server_key(path: Path | None) -> str | None:
    """The first server.apiKeys entry as an OpenCode {env:X} reference when it is one, so no secret is copied."""
    if path is None:
        return None
    import re

    from detour._jsonc import parse_text

    try:
        doc: Any = parse_text(path.read_text(encoding="utf-8"), path.suffix)
    except Exception:  # noqa: BLE001 - already loaded once; fall back to the interpolated key
        return None
    if isinstance(doc, dict) and path.name.lower().startswith("opencode."):
        doc = doc.get("detour")
    keys = ((doc or {}).get("server") or {}).get("apiKeys") if isinstance(doc, dict) else None
    first = keys if isinstance(keys, str) else keys[0] if isinstance(keys, list) and keys else None
    match = re.fullmatch(r"\{env:\s*(\w+)\s*\}|\$\{(\w+)\}", first.strip()) if isinstance(first, str) else None
    return f"{{env:{match.group(1) or match.group(2)}}}" if match else None


def register(app: typer.Typer) -> None:
    @app.command("opencode")
    def opencode_cmd(
        ctx: typer.Context,
        write: Path | None = typer.Option(None, "--write", help=WRITE_HELP, metavar="PATH"),
        url: str | None = typer.Option(None, "--url", help=URL_HELP, metavar="URL"),
        api_key: str | None = typer.Option(None, "--api-key", help=KEY_HELP, metavar="KEY"),
        config: str | None = typer.Option(None, "--config", help=CONFIG_HELP, metavar="PATH"),
        catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP, metavar="PATH|URL"),
        plugin: bool = typer.Option(True, "--plugin/--no-plugin",
                                    help="With --write: also install detour's OpenCode plugin in .opencode/plugins/."),
    ) -> None:
        """Point OpenCode at the gateway: a provider "detour" with the chain, each named chain and each model."""
        from detour import opencode

        if write is not None and write.suffix.lower() not in (".json", ".jsonc"):
            fail(f"--write {write}: OpenCode reads .json or .jsonc files", "e.g. --write opencode.json")
        loaded, cat = load(ctx, catalog, _config_source(config or state(ctx).config, write))
        cfg = loaded.config
        server = cfg.server
        key = api_key or _raw_server_key(loaded.path) or (server.api_keys[0] if server.api_keys else "detour")
        block = opencode.provider_block(cfg, cat, url=opencode.gateway_url(url, server.host, server.port), api_key=key)
        if write is None:
            print_json(opencode.document(block))
            return
        try:
            replaced = opencode.write(write, block)
        except (ValueError, TypeError) as exc:
            fail(f"{write}: {exc}", "fix the file by hand, or run `detour opencode` and paste its output")
        except OSError as exc:
            fail(f"cannot write {write}: {exc.strerror or exc}")
        note = f" (was {replaced!r})" if replaced else ""
        typer.echo(f"wrote {write}: model {opencode.MODEL!r}{note}, provider {opencode.PROVIDER!r} with "
                   f"{len(block['models'])} model(s) at {block['options']['baseURL']}")
        if plugin:
            try:
                installed = opencode.install_plugin(write)
            except OSError as exc:
                fail(f"cannot install the OpenCode plugin beside {write}: {exc.strerror or exc}",
                     "or pass --no-plugin")
            typer.echo(f"installed {installed}: toasts when a session switches model, and /detour")
