"""`detour route --explain REQUEST.json`: which route rule a request matches and why, then the plan that follows."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from detour._cli.common import CATALOG_HELP, CONFIG_HELP, fail, load

DOOR_HELP = "The request's protocol: openai (Chat Completions), anthropic (Messages), or auto (guess from the body)."
_ANTHROPIC_KEYS = ("system", "thinking", "output_config", "stop_sequences", "anthropic_version")
_ANTHROPIC_BLOCKS = ("tool_use", "tool_result", "thinking", "redacted_thinking", "document")


def register(app: typer.Typer) -> None:
    @app.command("route")
    def route_cmd(
        ctx: typer.Context,
        request: str = typer.Option(..., "--explain", help="A request body (JSON) as a client would send it.",
                                     metavar="REQUEST.json"),
        door: str = typer.Option("auto", "--door", help=DOOR_HELP, metavar="openai|anthropic|auto"),
        header: list[str] | None = typer.Option(None, "--header", "-H", help="A request header, 'name: value' (repeatable).",
                                         metavar="NAME:VALUE"),
        json_out: bool = typer.Option(False, "--json", help="Print the explanation as JSON."),
        config: str | None = typer.Option(None, "--config", help=CONFIG_HELP, metavar="PATH"),
        catalog: str | None = typer.Option(None, "--catalog", help=CATALOG_HELP, metavar="PATH|URL"),
    ) -> None:
        """Explain the routing decision for one request, without sending anything: rules, chain, candidates."""
        body = _read(Path(request))
        loaded, cat = load(ctx, catalog, config)
        headers = _headers(header or [])
        report = explain(loaded.config, cat, body, _door(door, body), headers)
        if json_out:
            typer.echo(json.dumps(report, indent=2))
        else:
            _print(report)


def _read(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(f"request file not found: {path}", "give the path of a JSON request body")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}", "check the path and permissions")
    except json.JSONDecodeError as exc:
        fail(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
             "the file must hold one request body, as a client sends it")
    if not isinstance(body, dict):
        fail(f"{path} holds JSON {type(body).__name__}, not a request object", 'e.g. {"model": "detour", "messages": [...]}')
    return body


def _headers(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition(":")
        if not sep or not name.strip():
            fail(f"--header {value!r} is not 'name: value'", "e.g. --header 'x-task: json'")
        out[name.strip().lower()] = rest.strip()
    return out


def _door(door: str, body: dict[str, Any]) -> str:
    if door in ("openai", "anthropic"):
        return door
    if door != "auto":
        fail(f"--door {door!r} is not openai, anthropic or auto", "e.g. --door anthropic")
    if any(k in body for k in _ANTHROPIC_KEYS):
        return "anthropic"
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") in _ANTHROPIC_BLOCKS for b in content):
            return "anthropic"
    return "openai"


def explain(config: Any, catalog: Any, body: dict[str, Any], door: str, headers: dict[str, str]) -> dict[str, Any]:
    """The routing decision for one body, as data (no I/O beyond the catalog already loaded)."""
    from detour.health.store import MemoryStore
    from detour.protocol.codec import CODECS
    from detour.router import Router
    from detour.routing import routes
    from detour.routing.needs import infer_needs

    codec = CODECS[door]
    try:
        req = codec.decode_request(body, headers)
    except (ValueError, TypeError, KeyError) as exc:
        fail(f"the request is not a valid {door} body: {exc}", "check it against the protocol, or pick --door")
    keep = routes.header_names(config.routes)
    req.headers = {k: v for k, v in headers.items() if k in keep}
    router = Router(config, catalog, MemoryStore(), env=os.environ)
    needs = infer_needs(req)
    rules = [{"rule": rule, "matched": why is not None, "why": why}
             for rule, why in routes.explain(config.routes, req, needs)]
    routable = routes.routable(req, req.model)
    match = router.match_route(req, needs)
    chain_name, plan, _settings = router.plan(req)
    checks = router.checks_for(chain_name)
    return {
        "door": door,
        "model": req.model,
        "input_tokens": routes.input_tokens(req, needs),
        "needs": sorted(needs.caps),
        "routed": routable,
        "rules": rules if routable else [],
        "route": {"rule": match.rule, "chain": match.chain, "why": match.why} if match is not None else None,
        "chain": chain_name,
        "candidates": [c.target.model_id for c in plan.candidates],
        "skipped": [{"model": m, "reason": r} for m, r in plan.skipped],
        "checks": list(checks.names),
        "max_escalations": checks.max_escalations if checks else None,
    }


def _print(report: dict[str, Any]) -> None:
    needs = ", ".join(report["needs"]) or "nothing special"
    typer.echo(f"request ({report['door']}): model {report['model']!r}, about {report['input_tokens']} input tokens, "
               f"needs: {needs}")
    if not report["routed"]:
        typer.echo("routes: not consulted (the request names a chain or an explicit provider/model)")
    elif not report["rules"]:
        typer.echo("routes: none configured")
    else:
        typer.echo("routes, in order (the first match wins):")
        first = True
        for rule in report["rules"]:
            if rule["matched"] and first:
                mark, first = "MATCH", False
            else:
                mark = "match (later)" if rule["matched"] else "no"
            typer.echo(f"  {rule['rule']:<40} {mark}{': ' + rule['why'] if rule['matched'] else ''}")
    route = report["route"]
    if route is not None:
        typer.echo(f"route: {route['rule']} -> chain {route['chain']!r} ({route['why']})")
    else:
        typer.echo(f"route: none; chain {report['chain']!r} serves it")
    typer.echo(f"plan for chain {report['chain']!r}:")
    for i, model in enumerate(report["candidates"], 1):
        typer.echo(f"  {i}. {model}")
    if not report["candidates"]:
        typer.echo("  (no candidate can serve this request)")
    for skip in report["skipped"]:
        typer.echo(f"  skipped {skip['model']}: {skip['reason']}")
    if report["checks"]:
        typer.echo(f"answer checks: {', '.join(report['checks'])} (at most {report['max_escalations']} escalation(s))")
