"""Incremental Server-Sent Events parsing and encoding, shared by every codec."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SSEMessage:
    event: str | None
    data: str


class SSEParser:
    """Feed raw bytes as they arrive; get whole SSE messages back.

    Comment lines (``: keep-alive``) and blank keep-alives yield nothing; ``comments`` counts them,
    so a stall detector can tell a keep-alive from data.
    """

    __slots__ = ("_buf", "_event", "_data", "comments")

    def __init__(self) -> None:
        self._buf = b""
        self._event: str | None = None
        self._data: list[str] = []
        self.comments = 0

    def feed(self, chunk: bytes) -> list[SSEMessage]:
        buf = self._buf + chunk if self._buf else chunk
        out: list[SSEMessage] = []
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            line = buf[start:nl]
            start = nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            self._line(line, out)
        self._buf = buf[start:]
        return out

    def _line(self, line: bytes, out: list[SSEMessage]) -> None:
        if not line:
            if self._data or self._event is not None:
                out.append(SSEMessage(self._event, "\n".join(self._data)))
                self._event, self._data = None, []
            return
        if line[0] == 58:  # ":" comment / keep-alive
            self.comments += 1
            return
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif field == b"event":
            self._event = value.decode("utf-8", "replace")

    def close(self) -> list[SSEMessage]:
        """Flush a final message that was not followed by a blank line."""
        out: list[SSEMessage] = []
        if self._buf:
            self._line(self._buf.rstrip(b"\r"), out)
            self._buf = b""
        self._line(b"", out)
        return out

    @property
    def pending(self) -> bool:
        return bool(self._buf or self._data)


def encode(data: str | bytes, event: str | None = None) -> bytes:
    body = data.encode() if isinstance(data, str) else data
    if event is None:
        return b"data: " + body + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + body + b"\n\n"
