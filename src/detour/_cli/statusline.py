"""The status one-liner and the gateway client behind `detour status`/`reset`: no typer, no rich.

Plain `http.client` rather than httpx: `detour status --line` runs from status bars every few seconds,
so `detour.cli.main` calls this module directly without building the typer app.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

DEFAULT_URL = "http://127.0.0.1:4141"
TIMEOUT = 2.0
URL_HELP = "The gateway (default: $DETOUR_URL or http://127.0.0.1:4141). Key: $DETOUR_API_KEY."
REASONS = {"rate_limited": "rate-limited", "quota_exhausted": "out of quota", "server_error": "server error",
           "timeout": "timing out", "auth_failed": "auth failed", "not_found": "model not found",
           "context_too_long": "context too long", "content_blocked": "content blocked",
           "bad_request": "bad request", "stream_broken": "stream broken",
           "connection_lost": "dropping connections", "unreachable": "unreachable"}


class Offline(Exception):
    """The gateway did not answer."""


class Refused(Exception):
    """The gateway answered with an error status."""


class BadURL(ValueError):
    pass


def gateway_url(url: str | None) -> str:
    url = (url or os.environ.get("DETOUR_URL") or DEFAULT_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise BadURL(f"--url {url!r} is not an http(s) URL")
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


SKIPS = {"budget": "over budget", "context_too_small": "context too small", "probe_in_flight": "being probed",
         "no_endpoint": "not configured", "proactive": "out of requests until its reset"}


def reason_text(kind: str | None) -> str:
    """Words a person reads for an error kind or a fallback reason (``cooling:rate_limited``, ``missing:tools``)."""
    kind = (kind or "").removeprefix("cooling:")
    head, _, what = kind.partition(":")
    if head == "missing" and what:
        return f"lacks {what.replace('_', ' ')}"
    if head == "unsupported" and what:
        return f"refused {what}"
    return REASONS.get(kind) or SKIPS.get(kind) or (kind or "unavailable").replace("_", " ")


def why(who: str | None, kind: str | None, until: float | None) -> str:
    text = f"{who} {reason_text(kind)}" if who else reason_text(kind)
    return f"{text}, back {clock(until)}" if until else text


def window_text(status: dict[str, Any], primary: str | None) -> str:
    """The fullest subscription window of the primary's provider: `claude-max 5h 92%, resets 14:05`."""
    provider = (primary or "").partition("/")[0]
    live = [w for w in status.get("windows") or [] if isinstance(w, dict) and w.get("provider") == provider
            and not w.get("reset") and isinstance(w.get("used"), (int, float))]
    if not live:
        return ""
    w = max(live, key=lambda x: x["used"])
    text = f"{provider} {w.get('window')} {round(w['used'] * 100)}%"
    return text + (f", resets {clock(w['resets_at'])}" if w.get("resets_at") else "")


def _with_window(line: str, status: dict[str, Any], primary: str | None) -> str:
    window = window_text(status, primary)
    return f"{line} · {window}" if window else line


def status_line(status: dict[str, Any], chain_name: str = "default") -> str:
    """`detour: openai/gpt-5 (anthropic rate-limited, back 14:05)`, or just the model when on the primary;
    then the primary's fullest subscription window when it reports one (`· claude-max 5h 92%, resets 14:05`)."""
    chain = status.get("chains", {}).get(chain_name)
    if chain is None:
        return f"detour: no chain {chain_name!r}"
    return _with_window(_chain_line(status, chain), status, chain.get("primary"))


def _chain_line(status: dict[str, Any], chain: dict[str, Any]) -> str:
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


def session_line(status: dict[str, Any], session: str | None, chain_name: str = "default") -> str:
    """The one-liner for one client session: the model serving it, why when not its primary, and when
    the primary is back. A session the gateway has not seen yet gets the chain's line."""
    view = (status.get("sessions") or {}).get(session or "")
    if not isinstance(view, dict) or not view.get("model"):
        return status_line(status, chain_name)
    return _with_window(_session_line(status, view), status, view.get("primary"))


def _session_line(status: dict[str, Any], view: dict[str, Any]) -> str:
    model, primary = view["model"], view.get("primary")
    health = status.get("models", {}).get(primary or "") or {}
    if model == primary:
        if health.get("state") in ("cooling", "disabled"):  # its next request will not be served by it
            return f"detour: {model} ({why(None, health.get('last_error'), health.get('until'))})"
        return f"detour: {model}"
    who = (primary or "").partition("/")[0] or None
    return f"detour: {model} ({why(who, view.get('reason') or health.get('last_error'), view.get('until'))})"


def stdin_session() -> str | None:
    """Claude Code's statusLine input: a JSON object with ``session_id`` on stdin; None for anything else."""
    try:
        if sys.stdin is None or sys.stdin.isatty():
            return None
        data = json.loads(sys.stdin.read(1_000_000) or "null")
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    session = data.get("session_id") if isinstance(data, dict) else None
    return session if isinstance(session, str) and session else None


def print_session_line(url: str, chain: str) -> int:
    """`--session-from-stdin`: always exit 0 (a status bar shows stdout), never a traceback."""
    try:
        session = stdin_session()
        status = call("GET", url, "/status")
        line = session_line(status, session, chain)
    except Offline:
        line = "detour: offline"
    except Refused as exc:
        line = f"detour: error ({str(exc).partition(':')[0]})"
    except Exception as exc:  # noqa: BLE001 - a status bar gets one line, whatever happened
        line = f"detour: error ({type(exc).__name__})"
    sys.stdout.write(line + "\n")
    return 0


def print_line(url: str, chain: str) -> int:
    """Print the one-liner; the exit code is 1 when the gateway is offline or the chain unknown."""
    code = 1
    try:
        status = call("GET", url, "/status")
        line, code = status_line(status, chain), 0 if chain in status.get("chains", {}) else 1
    except Offline:
        line = "detour: offline"
    except Refused as exc:
        line = f"detour: error ({str(exc).partition(':')[0]})"
    sys.stdout.write(line + "\n")
    return code


def fast_main(args: list[str]) -> int | None:
    """`detour status --line [--session-from-stdin] [--url U] [--chain C]` without typer; None when args need
    the full CLI."""
    if not args or args[0] != "status" or "--line" not in args:
        return None
    opts: dict[str, str] = {}
    from_stdin = "--session-from-stdin" in args
    rest = [a for a in args[1:] if a not in ("--line", "--session-from-stdin")]
    while rest:
        flag = rest.pop(0)
        if flag not in ("--url", "--chain") or not rest:
            return None
        opts[flag] = rest.pop(0)
    try:
        url = gateway_url(opts.get("--url"))
    except BadURL as exc:
        sys.stderr.write(f"error: {exc}\n  hint: use e.g. http://127.0.0.1:4141\n")
        return 1
    if from_stdin:
        return print_session_line(url, opts.get("--chain", "default"))
    return print_line(url, opts.get("--chain", "default"))


