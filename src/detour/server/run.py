"""`detour serve`: build the gateway from the config (or from the environment) and run it on uvicorn."""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from detour.server.app import Gateway
from detour.server.state import DEFAULT_MAX_BODY, GatewayState

log = logging.getLogger("detour.server")

# The model picked per provider when `detour serve` runs with no config and finds the provider's key.
DEFAULT_MODELS = {
    "anthropic": "anthropic/claude-sonnet-4-5",
    "openai": "openai/gpt-5",
    "google": "google/gemini-2.5-flash",
    "deepseek": "deepseek/deepseek-chat",
    "openrouter": "openrouter/anthropic/claude-sonnet-4.5",
    "groq": "groq/llama-3.3-70b-versatile",
    "mistral": "mistral/mistral-large-latest",
    "xai": "xai/grok-4",
}
HOW_TO_ADD = ("No provider found: set an API key (e.g. ANTHROPIC_API_KEY or OPENAI_API_KEY), start LM Studio or "
              "Ollama, or write a detour.json with a \"model\" block (see the README), then restart detour serve.")


class ServeError(Exception):
    """A problem that stops `detour serve` from starting; the message says how to fix it."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_state(config_path: str | None = None, *, env: dict[str, str] | None = None,
                catalog_source: str | None = None, discover: bool = True) -> GatewayState:
    from detour.catalog import load_catalog
    from detour.config import load_config, parse_config
    from detour.router import Router

    env = dict(os.environ if env is None else env)
    loaded = load_config(config_path, env=env)
    config = loaded.config
    notes: list[str] = [f"config: {loaded.path}" if loaded.path else "config: none found"]
    notes += [f"warning: {w}" for w in loaded.warnings]  # e.g. a key-holding file others can read
    catalog_source = catalog_source or env.get("DETOUR_CATALOG")
    catalog = load_catalog(loaded, catalog=catalog_source)
    local = _discover(catalog, config, env, notes) if discover else {}
    if not config.model.models:
        found = _auto_chain(catalog, env, local)
        if found:
            chain = parse_config({"model": {"primary": found[0], "fallback": found[1:]}}).config.model
            config = config.model_copy(update={"model": chain})
            notes.append("default chain from the environment: " + ", ".join(found))
        else:
            notes.append(HOW_TO_ADD)
    notes += [f"warning: {issue}" for issue in _key_warnings(loaded, catalog, env)]
    router = Router(config, catalog=catalog)
    state = GatewayState(router=router, config=config, catalog=catalog, providers=catalog.providers,
                         api_keys=tuple(config.server.api_keys),
                         max_body=getattr(config.server, "max_body_size", None) or DEFAULT_MAX_BODY, notes=notes)
    if loaded.path is not None:
        from detour.server.reload import Reloader

        state.reloader = Reloader(state, loaded.path, catalog_source, discover=discover)
    return state


def _key_warnings(loaded: Any, catalog: Any, env: dict[str, str]) -> list[Any]:
    """The missing-key warnings `detour check` prints: a provider in a chain with no key sends requests unsigned."""
    from detour.config import check_config

    try:
        issues = check_config(loaded, catalog, env=env)
    except Exception as exc:  # noqa: BLE001 - a check that cannot run must not stop the gateway
        log.debug("config check failed: %s", exc)
        return []
    return [i for i in issues if i.severity == "warning" and str(i.path).endswith("apiKey")]


def _discover(catalog: Any, config: Any, env: dict[str, str], notes: list[str]) -> dict[str, list[Any]]:
    """What the local servers serve, added to the catalog (declared capabilities stay on top)."""
    from detour.catalog.discovery import discover_into

    found = discover_into(catalog, config, env)
    for pid, models in found.items():
        notes.append(f"discovered {len(models)} model(s) on {pid}: " + ", ".join(m.id for m in models[:5])
                     + (", ..." if len(models) > 5 else ""))
    return found


def _auto_chain(catalog: Any, env: dict[str, str], local: dict[str, list[Any]]) -> list[str]:
    found = []
    for provider, model in DEFAULT_MODELS.items():
        spec = catalog.providers.get(provider)
        if spec is not None and any(env.get(name) for name in spec.env):
            found.append(model)
    return found + [models[0].id for models in local.values() if models]


def create_app(config_path: str | None = None, **kwargs: Any) -> Gateway:
    return Gateway(build_state(config_path, **kwargs))


def app_factory() -> Gateway:
    """For uvicorn's --factory / multi-worker mode: the config path travels in $DETOUR_CONFIG."""
    return create_app(os.environ.get("DETOUR_CONFIG"))


def serve(config_path: str | None, host: str | None, port: int | None, workers: int = 1,
          catalog_source: str | None = None) -> None:
    import uvicorn

    state = build_state(config_path, catalog_source=catalog_source)
    host = host or state.config.server.host
    port = port or state.config.server.port
    if not is_loopback(host) and not state.api_keys:
        raise ServeError(f"refusing to listen on {host} without server.apiKeys: anyone who can reach it could spend "
                         "your provider keys. Add \"server\": {\"apiKeys\": [\"...\"]} to the config, or bind 127.0.0.1.")
    sock = listen(host, port)  # before any "serving on": a port in use is one clear error, not uvicorn's Errno
    for note in state.notes:
        print(f"detour: {note}", flush=True)
    print(f"detour: serving on http://{host}:{port} (OpenAI: /v1/chat/completions, Anthropic: /v1/messages, "
          f"status: /status, dashboard: /)", flush=True)
    level = getattr(logging, state.config.logging.level.upper(), logging.INFO)
    _configure_logging(level)
    from detour.redact import config_secrets, install

    install(config_secrets(state.config))
    options: dict[str, Any] = dict(host=host, port=port, log_level="warning", access_log=False, http="httptools",
                                   timeout_graceful_shutdown=30, lifespan="on",
                                   proxy_headers=False)  # no trusted proxy: skip uvicorn's per-request rewrite
    if _has_uvloop():
        options["loop"] = "uvloop"
    if workers > 1:
        sock.close()  # uvicorn's supervisor binds it again for its workers
        if config_path:
            os.environ["DETOUR_CONFIG"] = str(Path(config_path).resolve())
        uvicorn.run("detour.server.run:app_factory", factory=True, workers=workers, **options)
    else:
        server = _server_class()(uvicorn.Config(Gateway(state), **options))
        server.run(sockets=[sock])
        if not server.started:
            raise SystemExit(3)  # what uvicorn.run does when it could not start (e.g. the port is taken)


def _server_class() -> Any:
    """uvicorn's Server, but open /events streams end first on shutdown (or they hold it for 30 s)."""
    import uvicorn

    from detour.server.events import close_all

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            close_all()
            await super().shutdown(sockets)

    return Server


def listen(host: str, port: int) -> socket.socket:
    """The gateway's listening socket, bound the way uvicorn binds it; ServeError when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} on {host} is already in use: stop what is listening there (another "
                             "detour serve?) or pick another --port") from None
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


class LineFormatter(logging.Formatter):
    """The standard asctime, but its strftime runs once per second instead of once per line."""

    _stamp: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second, text = self._stamp
        if second != int(record.created):
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._stamp = (second, text)  # one tuple: a reader on another thread never sees half of it
        return (self.default_msec_format or "%s,%03d") % (text, record.msecs)


def _configure_logging(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    # the line format uses none of these: skip the stack walk, getpid and thread lookups per record
    logging._srcfile = None  # documented in the logging HOWTO ("Optimization")
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True
