"""A tiny scripted HTTP server on 127.0.0.1 for sync and discovery tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# handler(method, path, headers, body) -> (status, headers, body bytes, declared content-length or None)
Route = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes, int | None]]


def json_reply(data: Any, status: int = 200, headers: dict[str, str] | None = None):
    return status, {"content-type": "application/json", **(headers or {})}, json.dumps(data).encode(), None


@contextmanager
def serve(route: Route) -> Iterator[str]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen.append({"method": self.command, "path": self.path, **headers})
            status, out_headers, out, declared = route(self.command, self.path, headers, body)
            self.send_response(status)
            for k, v in out_headers.items():
                self.send_header(k, v)
            self.send_header("content-length", str(declared if declared is not None else len(out)))
            self.end_headers()
            self.wfile.write(out)
            self.wfile.flush()
            if declared is not None:  # a truncated body: hang up early
                self.close_connection = True

        do_GET = do_POST = _handle

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        serve.seen = seen  # type: ignore[attr-defined]
        yield url
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
