"""``FakeProvider``: one local server speaking OpenAI, Anthropic and Gemini, scripted per model."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, unquote

import orjson

from detour.testing import discovery, strict
from detour.testing.behaviors import B, Behavior, Recorded, script_from_spec
from detour.testing.dialects import LocalServer, dialect
from detour.testing.discovery import LocalModel
from detour.testing.http import HttpServer, Request, Step, response
from detour.testing.render import error_response, plan
from detour.testing.wire import Ctx, ErrorSpec
from detour.testing.wires import WIRES

# the GET paths a local server of each kind answers (model listings); any other GET is its 404
_LISTINGS: dict[str, tuple[str, ...]] = {
    "llama.cpp": ("/v1/models", "/models"), "llama-cpp-python": ("/v1/models",), "vllm": ("/v1/models",),
    "ollama": ("/api/tags", "/api/version", "/v1/models"),
    "lmstudio": ("/api/v0/", "/v1/models"),
}
_JSON = [("content-type", "application/json")]


def _json(data: Any, status: int = 200) -> list[Step]:
    return [response(status, _JSON, orjson.dumps(data))]


class _Script:
    """A behaviour sequence whose last entry repeats forever."""

    __slots__ = ("items", "pos")

    def __init__(self, items: list[Behavior]) -> None:
        self.items, self.pos = items, 0

    def next(self) -> Behavior:
        i = self.pos
        self.pos = i + 1
        return self.items[i if i < len(self.items) else -1]


class FakeProvider:
    """A fault-injecting fake LLM provider on 127.0.0.1.

    ``async with FakeProvider() as fake`` runs it in the current event loop; ``FakeProvider.start_in_thread()``
    runs it on its own loop in a daemon thread (for sync code and other processes' clients).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        default: Behavior | None = None,
        local_models: Iterable[LocalModel | str | dict[str, Any]] = (),
        local_server: LocalServer | None = None,
        record: bool = True,
        strict: bool = True,
    ) -> None:
        """``local_server`` makes the model-listing endpoints answer as that server does: "llama.cpp" and "vllm"
        serve only ``/v1/models`` (in their shapes), "ollama" only its ``/api`` listing, "lmstudio" its
        ``/api/v0`` one; with ``None`` every listing answers."""
        self.host, self.latency, self.record = host, latency, record
        self.strict = strict  # refuse invalid histories the way the real APIs do (detour.testing.strict)
        self.default: Behavior = default or B.text()
        self.requests: list[Recorded] = []
        self._port = port
        self._counts: Counter[str | None] = Counter()
        self._scripts: dict[str, _Script] = {}
        self._local: list[LocalModel] = [LocalModel.of(m) for m in local_models]
        dialect(local_server)
        self.local_server = local_server
        self._http = HttpServer(self._handle)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # addresses
    @property
    def port(self) -> int:
        return self._http.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_base(self) -> str:
        return f"{self.url}/v1"

    @property
    def gemini_base(self) -> str:
        return f"{self.url}/v1beta"

    # scripting and inspection
    def script(self, model: str, *behaviors: Behavior) -> None:
        """Answer ``model`` with these behaviours in order; the last repeats. ``"*"`` scripts unscripted models."""
        if not behaviors:
            raise ValueError("script() needs at least one behaviour")
        self._scripts[model] = _Script(list(behaviors))

    def load_script(self, spec: Mapping[str, Any]) -> None:
        """Replace all scripts from their JSON form: ``{"gpt-5": [{"rate_limit": {}}, "text"], "*": ["text"]}``."""
        parsed = script_from_spec(spec)
        self._scripts = {model: _Script(items) for model, items in parsed.items()}

    @property
    def local_models(self) -> list[LocalModel]:
        return self._local

    @local_models.setter
    def local_models(self, models: Iterable[LocalModel | str | dict[str, Any]]) -> None:
        self._local = [LocalModel.of(m) for m in models]

    def count(self, model: str | None = None) -> int:
        """Requests received for ``model`` (all chat/generate requests when ``None``)."""
        return self._counts[model] if model is not None else sum(self._counts.values())

    def reset(self) -> None:
        """Clear scripts and recordings (``default`` and ``local_models`` stay)."""
        self._scripts = {}
        self.requests.clear()
        self._counts.clear()

    # lifecycle
    async def start(self) -> Self:
        await self._http.start(self.host, self._port)
        self._loop = asyncio.get_running_loop()
        return self

    async def aclose(self) -> None:
        await self._http.close()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @classmethod
    def start_in_thread(cls, **kwargs: Any) -> FakeProvider:
        """Start on a new event loop in a daemon thread; call ``stop()`` (or use it as a ``with`` block)."""
        fake = cls(**kwargs)
        ready, failed = threading.Event(), []

        def run() -> None:
            loop = _new_loop()
            try:
                loop.run_until_complete(fake.start())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failed.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(fake.aclose())
            loop.close()

        fake._thread = threading.Thread(target=run, name="detour-fake-provider", daemon=True)
        fake._thread.start()
        ready.wait(30)
        if failed:
            raise failed[0]
        return fake

    def stop(self) -> None:
        """Stop a fake started with ``start_in_thread``."""
        if self._thread is None or self._loop is None:
            raise RuntimeError("stop() is for start_in_thread(); use `await fake.aclose()`")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._thread = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # request handling
    def _handle(self, req: Request) -> list[Step]:
        path = req.path
        if path.startswith("/__fake/"):
            return self._control(req)
        if req.method == "POST":
            if path.endswith("/chat/completions"):
                return self._llm(req, "openai", None)
            if path.endswith("/responses"):
                return self._llm(req, "openai-responses", None)
            if path.endswith("/messages"):
                return self._llm(req, "anthropic", None)
            if ":generateContent" in path or ":streamGenerateContent" in path:
                return self._llm(req, "gemini", unquote(path.rsplit("/", 1)[-1].split(":", 1)[0]))
            if path.endswith("/messages/count_tokens"):
                return self._discover(req, "anthropic", {"input_tokens": max(1, len(req.body) // 4)})
            if path == "/api/show":
                return self._ollama_show(req)
        elif req.method == "GET":
            return self._get(req)
        return _json({"error": {"message": f"no route for {req.method} {path}", "type": "invalid_request_error",
                                "param": None, "code": "unknown_url"}}, 404)

    def _get(self, req: Request) -> list[Step]:
        path, ids = req.path.rstrip("/"), self._model_ids()
        served = _LISTINGS.get(self.local_server or "")
        if served is not None and not path.startswith(served):
            return _json({"error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}}, 404)
        if self.local_server == "llama.cpp" and path.endswith("/models"):
            return self._discover(req, "llama.cpp", discovery.llamacpp_models(self._local_or(ids)))
        if self.local_server == "vllm" and path.endswith("/models"):
            return self._discover(req, "vllm", discovery.vllm_models(self._local_or(ids)))
        if path.endswith("/api/v0/models"):
            return self._discover(req, "lmstudio", discovery.lmstudio_models(self._local))
        if path.startswith("/api/v0/models/"):
            found = [m for m in self._local if m.id == unquote(path.rsplit("/", 1)[-1])]
            if found:
                return self._discover(req, "lmstudio", discovery.lmstudio_model(found[0]))
            return self._discover(req, "lmstudio", {"error": "Model not found"}, 404)
        if path == "/api/tags":
            return self._discover(req, "ollama", discovery.ollama_tags(self._local))
        if path.endswith("/v1beta/models"):
            return self._discover(req, "gemini", discovery.gemini_models(ids))
        if path.endswith("/models"):
            if "anthropic-version" in req.headers:
                return self._discover(req, "anthropic", discovery.anthropic_models(ids))
            return self._discover(req, "openai", discovery.openai_models(ids))
        return _json({"error": {"message": f"no route for GET {req.path}", "type": "invalid_request_error",
                                "param": None, "code": "unknown_url"}}, 404)

    def _local_or(self, ids: list[str]) -> list[LocalModel]:
        return self._local or [LocalModel(i) for i in ids]

    def _model_ids(self) -> list[str]:
        ids = [m.id for m in self._local]
        return ids + [m for m in self._scripts if m != "*" and m not in ids]

    def _ollama_show(self, req: Request) -> list[Step]:
        body = _loads(req.body) or {}
        name = str(body.get("model") or body.get("name") or "")
        found = [m for m in self._local if m.id == name or m.id == f"{name}:latest"]
        if not found:
            return self._discover(req, "ollama", {"error": f"model '{name}' not found"}, 404, name, body)
        return self._discover(req, "ollama", discovery.ollama_show(found[0]), 200, name, body)

    def _discover(self, req: Request, protocol: str, data: Any, status: int = 200,
                  model: str | None = None, body: dict[str, Any] | None = None) -> list[Step]:
        self._record(Recorded(protocol, req.path, model, req.headers, body or {}, False, time.time()), count=False)
        return _json(data, status)

    def _llm(self, req: Request, protocol: str, path_model: str | None) -> list[Step]:
        body = _loads(req.body)
        wire = WIRES[protocol]
        model = path_model or str((body or {}).get("model") or "")
        stream, include_usage = wire.streaming(req.path, body or {})
        rec = Recorded(protocol, req.path, model, req.headers, body or {}, stream, time.time())
        self._record(rec)
        ctx = Ctx.new(model, stream, include_usage, max(1, len(req.body) // 4))
        if body is None:
            return [error_response(ErrorSpec("status", 400), wire, ctx)]
        refusal = wire.refuse(body) if hasattr(wire, "refuse") else None
        if refusal is not None:  # what the real API rejects, with its own message
            error = refusal[1].get("error") if isinstance(refusal[1], dict) else None
            rec.refused = str(error.get("message") if isinstance(error, dict) else refusal[1])
            return _json(refusal[1], refusal[0])
        if self.strict and (problem := strict.check(protocol, body, model)) is not None:
            rec.refused = problem[0]
            return [error_response(ErrorSpec("invalid", 400, message=problem[0], param=problem[1]), wire, ctx)]
        return plan(self._behavior(model).resolve(rec), wire, ctx, self.latency)

    def _behavior(self, model: str) -> Behavior:
        script = self._scripts.get(model) or self._scripts.get("*")
        return script.next() if script is not None else self.default

    def _record(self, rec: Recorded, count: bool = True) -> None:
        if count:
            self._counts[rec.model] += 1
        if self.record:
            self.requests.append(rec)

    # control API for other processes
    def _control(self, req: Request) -> list[Step]:
        action = (req.method, req.path.rstrip("/"))
        try:
            if action == ("GET", "/__fake/requests"):
                model = parse_qs(req.query).get("model", [None])[0]
                return _json([r.to_json() for r in self.requests if model is None or r.model == model])
            if action == ("POST", "/__fake/script"):
                self.load_script(_loads(req.body) or {})
                return _json({"ok": True, "models": sorted(self._scripts)})
            if action == ("POST", "/__fake/reset"):
                self.reset()
                return _json({"ok": True})
            if action == ("POST", "/__fake/local_models"):
                self.local_models = _loads(req.body, list) or []
                return _json({"ok": True})
            if action == ("GET", "/__fake/health"):
                return _json({"ok": True, "url": self.url, "requests": len(self.requests)})
        except (ValueError, TypeError, KeyError) as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"error": f"no control route {req.method} {req.path}"}, 404)


def _loads(raw: bytes, kind: type = dict) -> Any:
    """Parsed JSON of the expected kind, else None."""
    if not raw:
        return kind()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, kind) else None


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # optional speed-up
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
