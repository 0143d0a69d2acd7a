"""`detour status` and `detour reset`: read and clear the gateway's fallback state over HTTP."""

from __future__ import annotations

import time
from typing import Any

import typer

from detour._cli.common import fail, rich_console
from detour._cli.statusline import (
    URL_HELP,
    BadURL,
    Offline,
    Refused,
    call,
    clock,
    reason_text,
)
from detour._cli.statusline import gateway_url as _gateway_url
from detour._cli.statusline import print_line as _print_line


def gateway_url(url: str | None) -> str:
    try:
        return _gateway_url(url)
    except BadURL as exc:
        fail(str(exc), "use e.g. http://127.0.0.1:4141")


def print_line(url: str, chain: str) -> None:
    code = _print_line(url, chain)
    if code:
        raise typer.Exit(code)


# ---------------------------------------------------------------- the full view (rich)


def _ago(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m"


def _chains_table(status: dict[str, Any], only: str | None) -> Any:
    from rich.table import Table

    table = Table("chain", "primary", "serving", "why", "since", "back", title="chains", title_justify="left")
    for name, chain in status.get("chains", {}).items():
        if only and name != only:
            continue
        current = chain.get("current") or "-"
        on_primary = current == chain.get("primary")
        table.add_row(name, chain.get("primary") or "-", current if on_primary else f"[yellow]{current}[/]",
                      "" if on_primary else reason_text(chain.get("reason")),
                      clock(chain["since"]) if chain.get("since") else "",
                      clock(chain["until"]) if chain.get("until") else "")
    return table


STATE_STYLE = {"ok": "green", "cooling": "yellow", "probing": "cyan", "disabled": "red"}


def _num(value: Any, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _models_table(status: dict[str, Any]) -> Any:
    from rich.table import Column, Table

    table = Table(Column("model", no_wrap=True), "state", "back", "last error", "ok", "ms", "ttft", "tok/s",
                  title="models", title_justify="left")
    for model_id, h in status.get("models", {}).items():
        state = h.get("state") or "?"
        rate = h.get("success_rate")
        table.add_row(model_id, f"[{STATE_STYLE.get(state, 'white')}]{state}[/]",
                      clock(h["until"]) if h.get("until") else "", h.get("last_error") or "",
                      "-" if rate is None else f"{rate:.0%}", _num(h.get("latency_ms"), ".0f"),
                      _num(h.get("ttft_ms"), ".0f"), _num(h.get("speed_tps"), ".0f"))
    return table


def _sessions_table(status: dict[str, Any], only: str | None) -> Any:
    """Each recent session's last turns: the model that served it and why (pinned, fallback, a full window)."""
    from rich.table import Column, Table

    table = Table(Column("session", no_wrap=True), "chain", "turn", "served by", "why", "repair", title="sessions",
                  title_justify="left")
    for sid, view in (status.get("sessions") or {}).items():
        if not isinstance(view, dict) or (only and view.get("chain") != only):
            continue
        short = sid if len(sid) <= 14 else sid[:8] + "…" + sid[-4:]
        for turn in (view.get("turns") or [])[-5:]:
            table.add_row(short, view.get("chain") or "", clock(turn["at"]), turn.get("model") or "",
                          turn.get("why") or "", "; ".join(turn.get("notes") or []))
            short = ""
    return table


def _windows(status: dict[str, Any]) -> list[str]:
    return [w.get("label") or "" for w in status.get("windows") or [] if isinstance(w, dict)]


def _switches(status: dict[str, Any], only: str | None) -> list[str]:
    events = [s for s in status.get("switches", []) if not only or s.get("chain") == only][-10:]
    return [f"{clock(s['at'])}  {s.get('chain')}: {s.get('from')} → {s.get('to')} ({reason_text(s.get('reason'))})"
            for s in events]


def render(status: dict[str, Any], url: str, only: str | None) -> Any:
    from rich.console import Group
    from rich.text import Text

    parts: list[Any] = [Text(f"detour gateway {url} · up {_ago(status.get('uptime_s') or 0)}", style="bold")]
    parts += [_chains_table(status, only), _models_table(status)]
    if status.get("sessions"):
        parts.append(_sessions_table(status, only))
    if windows := _windows(status):
        parts.append(Text("subscription windows: " + " · ".join(windows)))
    switches = _switches(status, only)
    parts.append(Text("recent switches:\n  " + "\n  ".join(switches) if switches else "no switches yet", style="dim"))
    parts += [Text(f"note: {n}", style="dim") for n in status.get("notes", [])]
    return Group(*parts)


def fetch_or_fail(url: str) -> dict[str, Any]:
    try:
        status = call("GET", url, "/status")
    except Offline as exc:
        fail(f"cannot reach the detour gateway at {url} ({exc})",
             "start it with `detour serve`, or pass --url / set DETOUR_URL")
    except Refused as exc:
        fail(f"the gateway at {url} answered {exc}")
    return status


def watch(url: str, only: str | None) -> None:
    """Redraw once a second until Ctrl-C; an unreachable gateway shows as offline and is retried."""
    from rich.live import Live
    from rich.text import Text

    def frame() -> Any:
        try:
            return render(call("GET", url, "/status"), url, only)
        except (Offline, Refused) as exc:
            return Text(f"detour gateway {url}: offline ({exc}); retrying…", style="red")

    try:
        with Live(frame(), auto_refresh=False) as live:
            while True:
                time.sleep(1.0)
                live.update(frame(), refresh=True)
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status_cmd(
        url: str | None = typer.Option(None, "--url", help=URL_HELP, metavar="URL"),
        line: bool = typer.Option(False, "--line", help="One line for status bars; `detour: offline` (exit 1) if down."),
        watch_: bool = typer.Option(False, "--watch", help="A live view, refreshed every second, until Ctrl-C."),
        json_out: bool = typer.Option(False, "--json", help="Print the gateway's /status JSON."),
        chain: str | None = typer.Option(None, "--chain", help="Only this chain (default chain for --line).",
                                         metavar="NAME"),
        session_from_stdin: bool = typer.Option(
            False, "--session-from-stdin",
            help="With --line: the session whose id Claude Code's statusLine passes on stdin (JSON session_id)."),
    ) -> None:
        """Which model the gateway is serving, and why: chains, model health, recent switches."""
        url = gateway_url(url)
        if session_from_stdin:
            if not line:
                fail("--session-from-stdin goes with --line", "e.g. detour status --line --session-from-stdin")
            from detour._cli.statusline import print_session_line

            raise typer.Exit(print_session_line(url, chain or "default"))
        if line:
            print_line(url, chain or "default")
            return
        if watch_:
            watch(url, chain)
            return
        status = fetch_or_fail(url)
        if chain and chain not in status.get("chains", {}):
            fail(f"the gateway has no chain {chain!r}", f"its chains: {', '.join(status.get('chains', {}))}")
        if json_out:
            from detour._cli.common import print_json

            print_json(status)
            return
        rich_console().print(render(status, url, chain))

    @app.command("reset")
    def reset_cmd(
        model: str | None = typer.Argument(None, help="provider/model to clear; all cooldowns when omitted."),
        url: str | None = typer.Option(None, "--url", help=URL_HELP, metavar="URL"),
    ) -> None:
        """Clear cooldowns on the gateway now, so it tries those models again."""
        if model is not None and "/" not in model.strip("/"):
            fail(f"{model!r} is not a model id", "use provider/model, as `detour status` shows it")
        url = gateway_url(url)
        try:
            cleared = call("POST", url, "/reset", {"model": model} if model else {}).get("cleared", [])
        except Offline as exc:
            fail(f"cannot reach the detour gateway at {url} ({exc})",
                 "start it with `detour serve`, or pass --url / set DETOUR_URL")
        except Refused as exc:
            fail(f"the gateway at {url} answered {exc}")
        if not cleared:
            typer.echo(f"nothing to clear{f' for {model}' if model else ''}: no cooldowns")
            return
        typer.echo(f"cleared {len(cleared)} cooldown(s):")
        for scope in cleared:
            typer.echo(f"  {scope}")
