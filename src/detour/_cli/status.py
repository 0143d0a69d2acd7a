"""`detour status` and `detour reset`: read and clear the gateway's fallback state over HTTP.

Plain `http.client` rather than httpx: `detour status --line` runs from status bars every few seconds.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import typer

from detour._cli.common import fail

DEFAULT_URL = "http://127.0.0.1:4141"
TIMEOUT = 2.0
URL_HELP = "The gateway (default: $DETOUR_URL or http://127.0.0.1:4141). Key: $DETOUR_API_KEY."
REASONS = {"rate_limited": "rate-limited", "quota_exhausted": "out of quota", "server_error": "server error",
           "timeout": "timing out", "auth_failed": "auth failed", "not_found": "model not found",
           "context_too_long": "context too long", "content_blocked": "content blocked",
           "bad_request": "bad request", "stream_broken": "stream broken"}


class Offline(Exception):
    """The gateway did not answer."""


class Refused(Exception):
    """The gateway answered with an error status."""


def gateway_url(url: str | None) -> str:
    url = (url or os.environ.get("DETOUR_URL") or DEFAULT_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        fail(f"--url {url!r} is not an http(s) URL", "use e.g. http://127.0.0.1:4141")
    return url


def call(method: str, url: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """One JSON request to the gateway; Offline when it does not answer, Refused on a non-200 reply."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    headers = {"accept": "application/json", "content-type": "application/json"}
    if os.environ.get("DETOUR_API_KEY"):
        headers["authorization"] = f"Bearer {os.environ['DETOUR_API_KEY']}"
    try:
        conn = conn_type(parts.hostname or "127.0.0.1", parts.port, timeout=TIMEOUT)
        try:
            conn.request(method, parts.path + path, body=None if body is None else json.dumps(body), headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
    except (OSError, http.client.HTTPException) as exc:
        raise Offline(str(exc) or type(exc).__name__) from None
    if resp.status != 200:
        raise Refused(_error_text(resp.status, raw))
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise Refused("not a JSON object; is this a detour gateway?")
    return data


def _error_text(status: int, raw: bytes) -> str:
    if status == 401:
        return "HTTP 401: the gateway wants an API key; set DETOUR_API_KEY to one of its server.apiKeys"
    try:
        message = json.loads(raw)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = raw[:200].decode(errors="replace")
    return f"HTTP {status}: {message}"


# ---------------------------------------------------------------- the one-liner


def clock(epoch: float) -> str:
    """Local wall-clock time; with the weekday when it is not today."""
    at = time.localtime(epoch)
    return time.strftime("%H:%M" if at[:3] == time.localtime()[:3] else "%a %H:%M", at)


def reason_text(kind: str | None) -> str:
    return REASONS.get(kind or "", (kind or "unavailable").replace("_", " "))


def why(who: str | None, kind: str | None, until: float | None) -> str:
    text = f"{who} {reason_text(kind)}" if who else reason_text(kind)
    return f"{text}, back {clock(until)}" if until else text


def status_line(status: dict[str, Any], chain_name: str = "default") -> str:
    """`detour: openai/gpt-5 (anthropic rate-limited, back 14:05)`, or just the model when on the primary."""
    chain = status.get("chains", {}).get(chain_name)
    if chain is None:
        return f"detour: no chain {chain_name!r}"
    primary, current = chain.get("primary"), chain.get("current")
    if current is None:
        return "detour: no model configured"
    health = status.get("models", {}).get(primary or "") or {}
    if current != primary:
        who = (primary or "").partition("/")[0] or None
        kind = chain.get("reason") or health.get("last_error")
        return f"detour: {current} ({why(who, kind, chain.get('until') or health.get('until'))})"
    if health.get("state") in ("cooling", "disabled"):  # still the primary, but the next request will not be
        return f"detour: {current} ({why(None, health.get('last_error'), health.get('until'))})"
    return f"detour: {current}"


def print_line(url: str, chain: str) -> None:
    code = 1
    try:
        status = call("GET", url, "/status")
        line, code = status_line(status, chain), 0 if chain in status.get("chains", {}) else 1
    except Offline:
        line = "detour: offline"
    except Refused as exc:
        line = f"detour: error ({str(exc).partition(':')[0]})"
    sys.stdout.write(line + "\n")
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


def _switches(status: dict[str, Any], only: str | None) -> list[str]:
    events = [s for s in status.get("switches", []) if not only or s.get("chain") == only][-10:]
    return [f"{clock(s['at'])}  {s.get('chain')}: {s.get('from')} → {s.get('to')} ({reason_text(s.get('reason'))})"
            for s in events]


def render(status: dict[str, Any], url: str, only: str | None) -> Any:
    from rich.console import Group
    from rich.text import Text

    parts: list[Any] = [Text(f"detour gateway {url} · up {_ago(status.get('uptime_s') or 0)}", style="bold")]
    parts += [_chains_table(status, only), _models_table(status)]
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
    ) -> None:
        """Which model the gateway is serving, and why: chains, model health, recent switches."""
        url = gateway_url(url)
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
        from rich.console import Console

        Console().print(render(status, url, chain))

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
