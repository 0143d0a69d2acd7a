"""Config text readers: a small JSONC parser (JSON plus comments and trailing commas), YAML and TOML.

Comments and trailing commas are blanked to spaces so json's error positions stay true to the source.
yaml and tomllib are imported only when such a file is read.
"""

from __future__ import annotations

import json
import re
from typing import Any

_COMMENTS = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|/\*[\s\S]*?\*/|/\*')
_TRAILING_COMMAS = re.compile(r'"(?:[^"\\\n]|\\.)*"|,(?=\s*[\]}])')
_NOT_NEWLINE = re.compile(r"[^\r\n]")
_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
SUFFIXES = (".json", ".jsonc", ".yaml", ".yml", ".toml")


class ParseError(ValueError):
    """Bad syntax, with a 1-based line and column when known and a hint for the fix."""

    def __init__(self, kind: str, message: str, line: int | None, column: int | None, hint: str) -> None:
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"invalid {kind}: {message}{where}")
        self.kind, self.message, self.line, self.column, self.hint = kind, message, line, column, hint


_JSON_HINT = "look for a missing comma, quote, colon or bracket at or just before this position"


def _position(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def strip(text: str) -> str:
    """The same text with comments and trailing commas replaced by spaces (newlines kept)."""

    def blank_comment(match: re.Match[str]) -> str:
        token = match.group()
        if token[0] == '"':
            return token
        if token == "/*":
            raise ParseError("JSON", "unterminated /* comment", *_position(text, match.start()), "close it with */")
        return _NOT_NEWLINE.sub(" ", token)

    def blank_comma(match: re.Match[str]) -> str:
        return match.group() if match.group()[0] == '"' else " "

    if text.startswith("\ufeff"):
        text = " " + text[1:]
    return _TRAILING_COMMAS.sub(blank_comma, _COMMENTS.sub(blank_comment, text))


def loads(text: str) -> Any:
    """Parse JSONC text; raises :class:`ParseError` with the line and column of the problem."""
    cleaned = strip(text)
    try:
        return json.loads(cleaned)
    except json.JSONDecodeError as exc:
        raise ParseError("JSON", exc.msg, exc.lineno, exc.colno, _JSON_HINT) from None


def load_yaml(text: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        parts = (getattr(exc, "context", None), getattr(exc, "problem", None))
        message = " ".join(str(p) for p in parts if p) or str(exc)
        line, column = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        hint = "check the indentation and that values containing ':' or '#' are quoted"
        raise ParseError("YAML", message, line, column, hint) from None


def load_toml(text: str) -> Any:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = _TOML_AT.search(str(exc))
        line, column = (int(at.group(1)), int(at.group(2))) if at else (None, None)
        hint = "strings need quotes and tables look like [model]"
        raise ParseError("TOML", _TOML_AT.sub("", str(exc)), line, column, hint) from None


def parse_text(text: str, suffix: str) -> Any:
    """Parse config text by file suffix (``.json`` files may hold JSONC too); empty text is ``{}``."""
    if not text.strip():
        return {}
    suffix = suffix.lower()
    if suffix in (".json", ".jsonc"):
        return loads(text)
    if suffix in (".yaml", ".yml"):
        doc = load_yaml(text)
        return {} if doc is None else doc  # only comments
    if suffix == ".toml":
        return load_toml(text)
    raise ValueError(f"unsupported config file type {suffix or '(none)'!r}")
