"""Shared CLI plumbing: global options, one-line errors, config/catalog loading, formatting."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import typer

if TYPE_CHECKING:  # pragma: no cover
    from detour.catalog.model import ModelInfo
    from detour.catalog.store import Catalog

CATALOG_HELP = "Catalog file or URL (models.dev format); replaces the built-in and cached layers. Env: DETOUR_CATALOG."
CONFIG_HELP = "Config file (default: ./detour.json|jsonc|yaml|toml, then the user config)."


@dataclass(slots=True)
class State:
    catalog: str | None = None
    config: str | None = None


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


def fail(message: str, hint: str = "", code: int = 1) -> NoReturn:
    """One or two lines on stderr, no traceback."""
    print(f"error: {message}", file=sys.stderr)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)
    raise typer.Exit(code)


def fail_from(exc: BaseException) -> NoReturn:
    from detour.catalog.errors import CatalogError

    if isinstance(exc, CatalogError):
        fail(f"{exc.where}: {exc.message}" if exc.where else exc.message, exc.hint)
    issues = getattr(exc, "issues", None)
    if issues is not None:  # ConfigError: every error, one per line
        errors = [i for i in issues if i.severity == "error"] or issues
        for issue in errors:
            print(f"error: {issue}", file=sys.stderr)
        raise typer.Exit(1)
    fail(str(exc))


def parse_size_option(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    from detour.units import parse_size

    try:
        return parse_size(value)
    except ValueError:
        fail(f"{flag} {value!r} is not a size", "use a number of tokens like 200000, 200k or 1m")


def load(ctx: typer.Context, catalog: str | None, config: str | None, *, need_config: bool = True) -> tuple[Any, Catalog]:
    """(LoadedConfig or None, Catalog) honouring --config/--catalog on the command or the root."""
    from detour.catalog.errors import CatalogError
    from detour.catalog.store import load_catalog

    st = state(ctx)
    catalog = catalog or st.catalog
    config = config or st.config
    loaded = None
    if need_config:
        from detour.config import ConfigError, load_config

        try:
            loaded = load_config(config)
        except ConfigError as exc:
            fail_from(exc)
        except FileNotFoundError:
            fail(f"config file not found: {config}", "check the path given to --config")
    try:
        return loaded, load_catalog(loaded, catalog=catalog, env=os.environ)
    except CatalogError as exc:
        fail_from(exc)


def mark(value: bool | None) -> str:
    return "?" if value is None else ("✓" if value else "✗")


def tokens(value: int | None) -> str:
    if value is None:
        return "?"
    if value >= 1_000_000:
        return f"{value / 1_000_000:.3g}m"
    if value >= 1000:
        return f"{value / 1000:.0f}k"
    return str(value)


def price(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def model_row(info: ModelInfo, health: dict[str, Any] | None = None) -> list[str]:
    speed = (health or {}).get("speed_tps") or info.speed_tps
    return [info.id, mark(info.tools), mark(info.image), mark(info.reasoning), mark(info.thinking),
            mark(info.uncensored), tokens(info.context), price(info.cost_input), price(info.cost_output),
            info.tier or "?", "?" if speed is None else f"{speed:g}", health_text(health)]


def health_text(health: dict[str, Any] | None) -> str:
    """`ok`, `cooling→14:05`, `probing`, `disabled`; `—` when no gateway reports on the model."""
    if not health:
        return "—"
    import time

    state = str(health.get("state") or "ok")
    if state == "cooling" and health.get("until"):
        state = f"cooling→{time.strftime('%H:%M', time.localtime(health['until']))}"
    window = health.get("window")
    if isinstance(window, dict) and isinstance(window.get("used"), (int, float)):  # a subscription window
        state += f" {window.get('window')} {round(window['used'] * 100)}%"
        if window.get("resets_at"):
            state += f"→{time.strftime('%H:%M', time.localtime(window['resets_at']))}"
    return state


def live_health() -> dict[str, dict[str, Any]]:
    """Per-model health from a running gateway ($DETOUR_URL or 127.0.0.1:4141); empty when none answers."""
    from detour._cli import statusline

    try:
        statusline.TIMEOUT = 0.5
        return statusline.call("GET", statusline.gateway_url(None), "/status").get("models") or {}
    except (statusline.Offline, statusline.Refused, statusline.BadURL):
        return {}


MODEL_COLUMNS = ("id", "tools", "image", "reasoning", "thinking", "uncensored", "context", "$/M in", "$/M out",
                 "tier", "speed", "health")


def print_json(data: Any) -> None:
    import orjson

    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


def rich_console() -> Any:
    """A rich Console for tables. Piped (no terminal, no COLUMNS) it is as wide as the content needs.

    rich assumes 80 columns when stdout is not a terminal, and would cut cells with `…` or fold them.
    """
    from rich.console import Console

    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=100_000)


def table(columns: tuple[str, ...], rows: list[list[str]], title: str | None = None) -> None:
    """Plain aligned columns: rich's Table costs ~2 ms a row, too slow for `detour models` start-up."""
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    tty = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    header = "  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()
    lines = [title] if title else []
    lines.append(f"\x1b[1m{header}\x1b[0m" if tty else header)
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
    sys.stdout.write("\n".join(lines) + "\n")
