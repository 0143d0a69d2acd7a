"""`detour` command line: typer + rich, loaded lazily so `detour --help` starts fast.

Each command lives in its own module under detour._cli, registered in ``detour._cli.app.build_app``.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # no `import typing` on the start-up path of `detour status --line`
if TYPE_CHECKING:
    from typing import Any


def build_app() -> Any:
    from detour._cli.app import build_app as build

    return build()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):  # answered before typer loads
        from detour._cli.version import version_line

        print(version_line())
        raise SystemExit(0)
    from detour._cli.statusline import fast_main

    code = fast_main(args)  # status bars run `detour status --line` every few seconds: skip typer
    if code is not None:
        raise SystemExit(code)
    try:
        build_app()(args=args, prog_name="detour")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except Exception as exc:  # noqa: BLE001 - the last guard: one line, never a traceback
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("  hint: this is a bug in detour; please report it with the command you ran", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
