"""Checks on client input shared by the front-door codecs: sizes no upstream accepts, and base64 payloads."""

from __future__ import annotations

import re
from typing import Any

# More tools than any provider takes (OpenAI caps at 128); a request beyond this is refused up front with a 400
# instead of being sent to every candidate of the chain in turn.
MAX_TOOLS = 1024

_BASE64 = re.compile(r"[A-Za-z0-9+/_\-\s]+={0,2}\s*")


def is_base64(data: str) -> bool:
    """Only base64 characters (standard or URL-safe, line breaks allowed); empty is not an image.

    The alphabet is checked, not the decoded bytes: garbage such as a file path or a JSON fragment is refused
    with a clear 400, while the upstream stays the judge of the image itself. A length of 4n+1 characters
    (whitespace aside) is never base64 either, whatever the characters."""
    if _BASE64.fullmatch(data) is None or data.isspace():
        return False
    body = data.rstrip().rstrip("=")
    return (len(body) - sum(body.count(c) for c in " \t\r\n")) % 4 != 1


def opt_int(body: dict[str, Any], key: str) -> int | None:
    """``body[key]`` when absent or an integer (not a bool); else a ValueError naming the key."""
    v = body.get(key)
    if v is None or (isinstance(v, int) and not isinstance(v, bool)):
        return v
    raise ValueError(f"{key}: expected an integer")


def opt_num(body: dict[str, Any], key: str) -> float | None:
    """``body[key]`` when absent or a number (not a bool); else a ValueError naming the key."""
    v = body.get(key)
    if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)):
        return v
    raise ValueError(f"{key}: expected a number")


def opt_bool(body: dict[str, Any], key: str) -> bool:
    """``body[key]`` as a bool (absent is False); anything but a bool is a ValueError naming the key."""
    v = body.get(key)
    if v is None or isinstance(v, bool):
        return bool(v)
    raise ValueError(f"{key}: expected a boolean")


def opt_dict(body: dict[str, Any], key: str) -> dict[str, Any] | None:
    """``body[key]`` when absent or an object; else a ValueError naming the key."""
    v = body.get(key)
    if v is None or isinstance(v, dict):
        return v
    raise ValueError(f"{key}: expected an object")
