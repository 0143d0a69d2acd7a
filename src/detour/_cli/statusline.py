"""The status one-liner and the gateway client behind `detour status`/`reset`: no typer, no rich.

`detour status --line` runs from status bars every few seconds (Claude Code's after every message), so
`detour.cli.main` calls this module directly without building the typer app, and it speaks HTTP/1.1 to a
plain-http gateway over a socket itself: importing `http.client` (and the `email` package under it) costs
more than the whole exchange with the gateway. https goes through `http.client`.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # `import typing` is a measurable share of this module's start-up
if TYPE_CHECKING:
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
    import json  # imported here: `json` pulls in `re`, which the Claude Code status line never needs

    status, raw = request(method, url, path, b"" if body is None else json.dumps(body).encode())
    if status != 200:
        raise Refused(_error_text(status, raw))
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise Refused("not a JSON object; is this a detour gateway?")
    return data


def request(method: str, url: str, path: str, payload: bytes = b"") -> tuple[int, bytes]:
    """(status, body) of one request to the gateway; Offline when it does not answer."""
    headers = {"accept": "application/json", "content-type": "application/json"}
    if os.environ.get("DETOUR_API_KEY"):
        headers["authorization"] = f"Bearer {os.environ['DETOUR_API_KEY']}"
    scheme, _, rest = url.partition("://")
    hostport, slash, prefix = rest.partition("/")
    target = (slash + prefix).rstrip("/") + path
    host, _, port = hostport.rpartition(":") if hostport.rpartition(":")[2].isdigit() else (hostport, "", "")
    host = host.strip("[]") or "127.0.0.1"
    try:
        if scheme == "https":
            return _https(host, int(port or 443), method, target, headers, payload)
        return _exchange(host, int(port or 80), method, target, headers, payload)
    except OSError as exc:
        raise Offline(str(exc) or type(exc).__name__) from None


def _exchange(host: str, port: int, method: str, target: str, headers: dict[str, str],
              payload: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a fresh connection (``Connection: close``): (status, body).

    Through `_socket`, not `socket`: the `socket` module imports selectors and enum, and its
    create_connection resolves names through the idna codec, which imports `re`."""
    import _socket

    lines = [f"{method} {target} HTTP/1.1", f"host: {host}:{port}", "connection: close",
             *(f"{k}: {v}" for k, v in headers.items()), f"content-length: {len(payload)}", "", ""]
    chunks = []
    sock = None
    error: OSError = OSError(f"cannot resolve {host}")
    for family, kind, proto, _name, address in _socket.getaddrinfo(host.encode(), port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        sock.settimeout(TIMEOUT)
        try:
            sock.connect(address)
            break
        except OSError as exc:
            sock.close()
            sock, error = None, exc
    if sock is None:
        raise error
    try:
        sock.sendall("\r\n".join(lines).encode("latin-1") + payload)
        while data := sock.recv(65536):
            chunks.append(data)
    finally:
        sock.close()
    head, sep, body = b"".join(chunks).partition(b"\r\n\r\n")
    first, *fields = head.decode("latin-1").split("\r\n")
    parts = first.split(" ", 2)
    if not sep or len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise OSError("not an HTTP response")
    meta = {name.strip().lower(): value.strip() for name, _, value in (f.partition(":") for f in fields)}
    if "chunked" in meta.get("transfer-encoding", "").lower():
        body = _dechunk(body)
    elif meta.get("content-length", "").isdigit():
        size = int(meta["content-length"])
        if len(body) < size:
            raise OSError(f"the answer ended after {len(body)} of {size} bytes")
        body = body[:size]
    return int(parts[1]), body


def _dechunk(body: bytes) -> bytes:
    out: list[bytes] = []
    rest = body
    while True:
        size_line, sep, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16) if sep else -1
        if size < 0 or len(rest) < size:
            raise OSError("a chunked answer ended early")
        if size == 0:
            return b"".join(out)
        out.append(rest[:size])
        rest = rest[size + 2:]


def _https(host: str, port: int, method: str, target: str, headers: dict[str, str],
           payload: bytes) -> tuple[int, bytes]:
    import http.client

    conn = http.client.HTTPSConnection(host, port, timeout=TIMEOUT)
    try:
        conn.request(method, target, body=payload or None, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except http.client.HTTPException as exc:
        raise OSError(str(exc) or type(exc).__name__) from None
    finally:
        conn.close()


def _error_text(status: int, raw: bytes) -> str:
    import json

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
    chains = status.get("chains", {})
    chain = chains.get(chain_name)
    if chain is None:
        return f"detour: no chain {chain_name!r}"
    # a model the client names is tracked like a chain: the line follows whichever served last
    views = [chain, *(v for v in chains.values() if v.get("explicit") and v.get("chain") == chain_name)]
    chain = max(views, key=lambda v: v.get("at") or 0.0)
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


def session_id(raw: bytes) -> str | None:
    """``session_id`` of Claude Code's statusLine JSON, read without the json module (and so without `re`):
    the top-level ``"session_id": "…"`` comes first in what Claude Code sends. An id with escapes, or a
    document this does not recognise, goes through json; anything that is not such an object gives None."""
    text = raw.lstrip()
    at = text.find(b'"session_id"')
    if not text.startswith(b"{") or at < 0:
        return None
    rest = text[at + 12:].lstrip()
    if rest.startswith(b":") and (rest := rest[1:].lstrip()).startswith(b'"'):
        end = rest.find(b'"', 1)
        value = rest[1:end] if end > 0 else b""
        if value and b"\\" not in value:
            try:
                return value.decode()
            except UnicodeDecodeError:
                return None
    import json

    try:
        data = json.loads(raw)
    except ValueError:
        return None
    session = data.get("session_id") if isinstance(data, dict) else None
    return session if isinstance(session, str) and session else None


def stdin_session() -> str | None:
    """Claude Code's statusLine input on stdin; None when there is none (a terminal) or it holds no id."""
    try:
        if sys.stdin is None or sys.stdin.isatty():
            return None
        return session_id(sys.stdin.buffer.read(1_000_000))
    except OSError:
        return None


def _quote(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.~" else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


def print_session_line(url: str, chain: str) -> int:
    """`--session-from-stdin`: the gateway formats the line (GET /status/line), so this process parses no JSON
    but Claude Code's. Always exit 0 (a status bar shows stdout), never a traceback."""
    try:
        session = stdin_session()
        query = f"?chain={_quote(chain)}" + (f"&session={_quote(session)}" if session else "")
        status, raw = request("GET", url, "/status/line" + query)
        if status == 200:
            line = raw.decode("utf-8", "replace").strip() or "detour: error (empty answer)"
        elif status == 404 and b"no route" in raw:  # a gateway from before /status/line
            line = session_line(call("GET", url, "/status"), session, chain)
        else:
            raise Refused(_error_text(status, raw))
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


