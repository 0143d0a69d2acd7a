"""Checks on client input shared by the front-door codecs: sizes no upstream accepts, and base64 payloads."""

from __future__ import annotations

import re

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
