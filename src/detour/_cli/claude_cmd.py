"""`detour claude`: print, or merge into Claude Code's settings.json, the gateway's address and a status line.

Claude Code reads `env` (variables for its process) and `statusLine` (a command it runs after each message,
with a JSON object about the session on stdin; it shows the first line printed) from its settings files:
`~/.claude/settings.json` (user), `.claude/settings.json` (project, shared) and `.claude/settings.local.json`.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import typer

from detour._cli.common import CONFIG_HELP, fail, fail_from, print_json, state

WRITE_HELP = ("Merge into Claude Code's settings: 'user' (~/.claude/settings.json), 'project' "
              "(.claude/settings.json here), or a path. Keeps every other setting.")
URL_HELP = "The gateway's address (default: http://server.host:server.port from the config)."


def detour_command() -> str:
    """The detour executable to put in the status line: this one, by absolute path, so no PATH is needed."""
    here = Path(sys.executable).with_name("detour")
    return shlex.quote(str(here)) if here.exists() else "detour"


def settings_block(url: str) -> dict[str, Any]:
    command = f"{detour_command()} status --line --session-from-stdin --url {shlex.quote(url)}"
    return {"env": {"ANTHROPIC_BASE_URL": url},
            "statusLine": {"type": "command", "command": command, "padding": 0}}


def target_path(write: str) -> Path:
    if write == "user":
        return Path.home() / ".claude" / "settings.json"
    if write == "project":
        return Path.cwd() / ".claude" / "settings.json"
    return Path(write).expanduser()


def merge(path: Path, block: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The settings with detour's keys set; also the status-line command it replaced, if another one."""
    doc: Any = {}
    if path.exists():
        text = path.read_text(encoding="utf-8")
        try:
            doc = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise ValueError(f"not valid JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise ValueError(f"the settings must be a JSON object, not {type(doc).__name__}")
    env = doc.get("env")
    if env is not None and not isinstance(env, dict):
        raise ValueError(f"'env' must be an object, not {type(env).__name__}")
    old = doc.get("statusLine")
    replaced = old.get("command") if isinstance(old, dict) else None
    doc["env"] = {**(env or {}), **block["env"]}
    doc["statusLine"] = block["statusLine"]
    return doc, replaced if replaced != block["statusLine"]["command"] else None


def register(app: typer.Typer) -> None:
    @app.command("claude")
    def claude_cmd(
        ctx: typer.Context,
        write: str | None = typer.Option(None, "--write", help=WRITE_HELP, metavar="user|project|PATH"),
        url: str | None = typer.Option(None, "--url", help=URL_HELP, metavar="URL"),
        config: str | None = typer.Option(None, "--config", help=CONFIG_HELP, metavar="PATH"),
    ) -> None:
        """Point Claude Code at the gateway and show the serving model in its status line."""
        if url is None:
            from detour.config import ConfigError, load_config

            source = config or state(ctx).config
            try:
                server = load_config(source).config.server
            except ConfigError as exc:
                fail_from(exc)
            except FileNotFoundError:
                fail(f"config file not found: {source}", "check the path given to --config")
            url = f"http://{server.host}:{server.port}"
        url = url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            fail(f"--url {url!r} is not an http(s) URL", "e.g. --url http://127.0.0.1:4141")
        block = settings_block(url)
        if write is None:
            print_json(block)
            return
        path = target_path(write)
        try:
            doc, replaced = merge(path, block)
        except ValueError as exc:
            fail(f"{path}: {exc}", "fix the file by hand, or run `detour claude` and paste its output")
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror or exc}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError as exc:
            fail(f"cannot write {path}: {exc.strerror or exc}")
        print(f"wrote {path}: env.ANTHROPIC_BASE_URL={url} and statusLine")
        if replaced:
            print(f"note: replaced the previous statusLine command: {replaced}")
