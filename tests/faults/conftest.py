"""Fault-suite plumbing: a real gateway (in-thread uvicorn, or the `detour serve` subprocess) in front of
detour.testing fakes, driven through the official SDKs with ``max_retries=0``.

The upstream protocol under test is a parameter: the *primary* of the chain speaks it and misbehaves; the
fallback is a healthy model of another protocol on the same fake, so ``fake.count(model)`` tells them apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from detour.testing import FakeProvider
from tests.server.conftest import Gateway, free_port

REPO = Path(__file__).resolve().parents[2]
PY = sys.executable
CAPS = {"tools": True, "image": True, "context": 200000, "max_output": 8192, "cost_input": 1.0, "cost_output": 4.0}
# the fallback has a larger context, so a context-length failure of the primary may still fall back to it
FALLBACK_CAPS = {**CAPS, "context": 1000000}

# upstream protocol -> (provider, model) of the misbehaving primary
PRIMARY = {"openai": ("oai", "gpt-x"), "anthropic": ("ant", "claude-x"), "gemini": ("gem", "gem-x")}
# the healthy fallback always speaks another protocol than the primary
FALLBACK = {"openai": ("fba", "fb-ant"), "anthropic": ("fbo", "fb-oai"), "gemini": ("fbo", "fb-oai")}
# which front door (client SDK) drives each upstream, so both doors meet every kind of upstream
DOOR = {"openai": "anthropic", "anthropic": "openai", "gemini": "openai"}
PROTOCOLS = ["openai", "anthropic", "gemini"]

# short deadlines: silent/stalled upstreams must be given up quickly (bounded by these, not by the test)
FAST_TIMEOUTS = {"connect": "2s", "firstToken": "1s", "firstTokenReasoning": "1s", "idle": "1s", "total": "2s"}


def providers(fake_url: str, keys: dict[str, Any] | None = None) -> dict[str, Any]:
    keys = keys or {}
    base = {"openai": f"{fake_url}/v1", "anthropic": f"{fake_url}/v1", "gemini": f"{fake_url}/v1beta"}
    out = {
        "oai": {"protocol": "openai", "model": "gpt-x"},
        "ant": {"protocol": "anthropic", "model": "claude-x"},
        "gem": {"protocol": "gemini", "model": "gem-x"},
        "fbo": {"protocol": "openai", "model": "fb-oai", "fallback": True},
        "fba": {"protocol": "anthropic", "model": "fb-ant", "fallback": True},
    }
    return {
        pid: {"baseURL": base[p["protocol"]], "protocol": p["protocol"], "apiKey": keys.get(pid, f"sk-{pid}-fake"),
              "models": {p["model"]: dict(FALLBACK_CAPS if p.get("fallback") else CAPS)}}
        for pid, p in out.items()
    }


@dataclass(frozen=True)
class Chain:
    """The chain of one test: the misbehaving primary and the healthy fallback, as fake model names and ids."""

    protocol: str

    @property
    def primary(self) -> str:
        return PRIMARY[self.protocol][1]

    @property
    def primary_id(self) -> str:
        return "/".join(PRIMARY[self.protocol])

    @property
    def fallback(self) -> str:
        return FALLBACK[self.protocol][1]

    @property
    def fallback_id(self) -> str:
        return "/".join(FALLBACK[self.protocol])

    @property
    def door(self) -> str:
        return DOOR[self.protocol]


def chain_config(fake_url: str, chain: Chain, *, keys: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    model = {"primary": chain.primary_id, "fallback": [chain.fallback_id], **overrides.pop("model", {})}
    config: dict[str, Any] = {"provider": providers(fake_url, keys), "model": model, "state": "memory",
                              "discovery": False}
    config.update(overrides)
    return config


class ServeProcess:
    """`detour serve --config P --port N` as a real subprocess; its stderr (the log) goes to a file."""

    def __init__(self, config_path: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "wb")
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "DETOUR_CONFIG"):
            full_env.pop(name, None)
        self.proc = subprocess.Popen(
            [PY, "-m", "detour", "serve", "--config", str(config_path), "--port", str(self.port), "--host", "127.0.0.1"],
            stdout=self._log, stderr=subprocess.STDOUT, env=full_env, cwd=str(config_path.parent),
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float = 30.0) -> ServeProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"detour serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"detour serve did not answer /healthz in {timeout}s:\n{self.log()}")

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kw)

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


class FakeProcess:
    """`python -m detour.testing --port 0 --script s.json`: a fake provider in its own process."""

    def __init__(self, script: dict[str, Any], workdir: Path, *, record: bool = True) -> None:
        path = workdir / f"fake-script-{id(self)}.json"
        path.write_text(json.dumps(script))
        args = [PY, "-m", "detour.testing", "--port", "0", "--script", str(path)]
        if not record:
            args.append("--no-record")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            self.proc.kill()
            raise RuntimeError("fake provider did not start")
        self.url = json.loads(line)["url"]

    def requests(self, model: str | None = None) -> list[dict[str, Any]]:
        params = {"model": model} if model else None
        return httpx.get(self.url + "/__fake/requests", params=params, timeout=30).json()

    def script(self, spec: dict[str, Any]) -> None:
        httpx.post(self.url + "/__fake/script", json=spec, timeout=10).raise_for_status()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ---------------------------------------------------------------- the two SDK front doors


@dataclass
class Answer:
    """What a client saw, whichever SDK and mode: text, the served model, finish reason and usage."""

    text: str
    model: str
    finish: str | None
    input_tokens: int | None = None
    output_tokens: int | None = None
    headers: dict[str, str] | None = None


def openai_client(url: str, api_key: str = "unused", timeout: float = 30.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key=api_key, max_retries=0, timeout=timeout)


def anthropic_client(url: str, api_key: str = "unused", timeout: float = 30.0) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key=api_key, max_retries=0, timeout=timeout)


def ask(url: str, door: str, prompt: str = "hi", *, stream: bool = False, model: str = "detour",
        api_key: str = "unused", timeout: float = 30.0, **extra: Any) -> Answer:
    """One request through a front door with its official SDK; SDK errors propagate to the caller."""
    if door == "openai":
        client = openai_client(url, api_key, timeout)
        messages = [{"role": "user", "content": prompt}]
        if not stream:
            raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, **extra)
            r = raw.parse()
            u = r.usage
            return Answer(r.choices[0].message.content or "", r.model, r.choices[0].finish_reason,
                          u.prompt_tokens if u else None, u.completion_tokens if u else None, dict(raw.headers))
        text, served, finish, usage = [], "", None, None
        with client.chat.completions.create(model=model, messages=messages, stream=True,
                                            stream_options={"include_usage": True}, **extra) as chunks:
            for c in chunks:
                served = c.model or served
                if c.usage:
                    usage = c.usage
                for choice in c.choices:
                    text.append(choice.delta.content or "")
                    finish = choice.finish_reason or finish
            headers = dict(chunks.response.headers)
        return Answer("".join(text), served, finish, usage.prompt_tokens if usage else None,
                      usage.completion_tokens if usage else None, headers)
    client = anthropic_client(url, api_key, timeout)
    messages = [{"role": "user", "content": prompt}]
    if not stream:
        raw = client.messages.with_raw_response.create(model=model, max_tokens=256, messages=messages, **extra)
        m = raw.parse()
        text = "".join(b.text for b in m.content if b.type == "text")
        return Answer(text, m.model, m.stop_reason, m.usage.input_tokens, m.usage.output_tokens, dict(raw.headers))
    with client.messages.stream(model=model, max_tokens=256, messages=messages, **extra) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
        headers = dict(s.response.headers)
    return Answer(text, final.model, final.stop_reason, final.usage.input_tokens, final.usage.output_tokens, headers)


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    fake = FakeProvider.start_in_thread()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(params=PROTOCOLS)
def chain(request: pytest.FixtureRequest) -> Chain:
    """The upstream protocol of the misbehaving primary."""
    return Chain(request.param)


@pytest.fixture
def make_gateway(tmp_path: Path, fake: FakeProvider, chain: Chain) -> Iterator[Any]:
    started: list[Gateway] = []

    def make(**overrides: Any) -> Gateway:
        path = tmp_path / f"detour-{len(started)}.json"
        path.write_text(json.dumps(chain_config(fake.url, chain, **overrides)))
        gw = Gateway(path).start()
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


def wait_until(predicate: Any, timeout: float, what: str, every: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)
