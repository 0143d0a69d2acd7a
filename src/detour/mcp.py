"""detour as an MCP server over stdio: `smart_model_select`, `list_models` and `fallback_status` tools.

Built on the official `mcp` SDK's MCPServer. Config and catalog load once at start-up; gateway health is
read live from the gateway's `GET /status` on every call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from detour.catalog.model import REQUIREMENTS

if TYPE_CHECKING:  # pragma: no cover
    from mcp.server.mcpserver import MCPServer

    from detour.catalog.store import Catalog
    from detour.selection import Selection

DEFAULT_URL = "http://127.0.0.1:4141"
STATUS_TIMEOUT = 2.0
INSTRUCTIONS = ("detour routes LLM requests through a fallback chain. Use smart_model_select to pick models that meet "
                "capability requirements, list_models for capabilities and live health, and fallback_status to see "
                "which model the gateway is serving and why.")


class GatewayUnreachable(Exception):
    """The gateway did not answer; the message says where and how to start it."""


def gateway_url(url: str | None = None) -> str:
    return (url or os.environ.get("DETOUR_URL") or DEFAULT_URL).rstrip("/")


def gateway_headers() -> dict[str, str]:
    key = os.environ.get("DETOUR_API_KEY")
    return {"authorization": f"Bearer {key}"} if key else {}


async def fetch_status(url: str, timeout: float = STATUS_TIMEOUT) -> dict[str, Any]:
    """The gateway's /status JSON; GatewayUnreachable when it does not answer with one."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            resp = await client.get(f"{url}/status", headers=gateway_headers())
    except httpx.HTTPError as exc:
        raise GatewayUnreachable(f"the detour gateway at {url} is not reachable ({str(exc) or type(exc).__name__}); "
                                 f"start it with `detour serve`, or point `detour mcp --url` at it") from None
    if resp.status_code == 401:
        raise GatewayUnreachable(f"the detour gateway at {url} refused the API key; "
                                 "set DETOUR_API_KEY to one of its server.apiKeys")
    if resp.status_code != 200:
        raise GatewayUnreachable(f"the detour gateway at {url} answered /status with HTTP {resp.status_code}")
    data = resp.json()
    if not isinstance(data, dict):
        raise GatewayUnreachable(f"{url}/status did not answer with a status object; is this a detour gateway?")
    return data


def selection_record(sel: Selection) -> dict[str, Any]:
    """One `smart_model_select` result as JSON: the Selection's fields, with the ModelInfo as its record."""
    return {"model_id": sel.model_id, "record": sel.info.record(), "score": sel.score, "reasons": list(sel.reasons),
            "excluded": sel.excluded, "failed": list(sel.failed)}


@dataclass
class DetourTools:
    """The tools' shared state: the gateway URL, the loaded config and the catalog."""

    url: str
    loaded: Any
    catalog: Catalog

    def chain(self) -> list[str]:
        from detour.selection import configured_chain

        return configured_chain(self.loaded)

    def configured_models(self) -> list[str]:
        """Every chain's models, then models declared under `provider`: the gateway's /v1/models list."""
        cfg = self.loaded.config
        chains = [*cfg.model.models, *(m for c in cfg.chains.values() for m in c.models)]
        declared = [f"{pid}/{mid}" for pid, prov in cfg.provider.items() for mid in prov.models]
        return list(dict.fromkeys([*chains, *declared]))

    async def smart_model_select(
        self,
        needs: Annotated[list[str], Field(description=f"Required capabilities: {', '.join(REQUIREMENTS)}.")] = [],  # noqa: B006
        min_context: Annotated[int | None, Field(description="Minimum context window, in tokens.")] = None,
        min_output: Annotated[int | None, Field(description="Minimum max output, in tokens.")] = None,
        prefer: Annotated[Literal["priority", "cost", "speed", "context"],
                          Field(description="Order: chain priority, cheapest, fastest or largest context.")] = "priority",
        limit: Annotated[int | None, Field(ge=1, description="At most this many models.")] = None,
        candidates: Annotated[Literal["chain", "all"],
                              Field(description="Choose from the configured chain or the whole catalog.")] = "chain",
        explain: Annotated[bool, Field(description="Also list excluded models with the requirements they "
                                                   "failed.")] = False,
    ) -> dict[str, Any]:
        """Rank models that meet capability requirements, best first, with the reasons for each rank."""
        from mcp.server.mcpserver.exceptions import ToolError

        from detour.selection import Requirements, smart_model_select

        try:
            req = Requirements.from_names(needs, min_context=min_context, min_output=min_output)
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        pool: Any = "all" if candidates == "all" else self.chain()
        if not pool:
            raise ToolError("no model chain is configured (model.primary/fallback); call again with candidates='all'")
        picks = smart_model_select(req, candidates=pool, prefer=prefer, limit=limit, explain=explain,
                                   catalog=self.catalog)
        return {"models": [selection_record(s) for s in picks]}

    async def list_models(self) -> dict[str, Any]:
        """The configured models' capabilities, each with live health from the gateway (null when it is down)."""
        gateway: dict[str, Any] = {"url": self.url, "reachable": True, "error": None}
        try:
            health = (await fetch_status(self.url)).get("models", {})
        except GatewayUnreachable as exc:
            health, gateway["reachable"], gateway["error"] = {}, False, str(exc)
        models = [self.catalog.info(m).record(health.get(m)) for m in self.configured_models()]
        return {"models": models, "gateway": gateway}

    async def fallback_status(self) -> dict[str, Any]:
        """The gateway's live status: each chain's current model and why, model health, recent switches."""
        from mcp.server.mcpserver.exceptions import ToolError

        try:
            return await fetch_status(self.url)
        except GatewayUnreachable as exc:
            raise ToolError(str(exc)) from None


def build_server(tools: DetourTools) -> MCPServer:
    from mcp.server.mcpserver import MCPServer

    server: MCPServer = MCPServer("detour", instructions=INSTRUCTIONS, log_level="WARNING")
    for tool in (tools.smart_model_select, tools.list_models, tools.fallback_status):
        server.add_tool(tool, name=tool.__name__)
    return server


def load_tools(url: str | None, config: str | None, catalog: str | None) -> DetourTools:
    """Raises ConfigError / CatalogError for the caller to report."""
    from detour.catalog.discovery import discover_into
    from detour.catalog.store import load_catalog
    from detour.config import load_config

    loaded = load_config(config)
    cat = load_catalog(loaded, catalog=catalog, env=os.environ)
    discover_into(cat, loaded.config)  # the models local servers serve, under the config's declarations
    return DetourTools(gateway_url(url), loaded, cat)


def run(url: str | None = None, config: str | None = None, catalog: str | None = None) -> None:
    """Serve MCP over stdin/stdout until the client closes the stream."""
    build_server(load_tools(url, config, catalog)).run("stdio")
