"""detour's configuration: where it is read from, its typed shape, and friendly errors.

    load_config(path) ── find a file ── read JSON/JSONC/YAML/TOML ── interpolate {env:X} ${X} {file:p}
                      └─ validate into Config (pydantic) ── ConfigError(issues) or LoadedConfig(config, warnings)
    check_config(loaded, catalog) ── unknown model ids, unknown providers, missing API keys

Wire names are camelCase (``onRateLimit``); Python attributes are snake_case (``on_rate_limit``).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias, Union, get_args, get_origin
from typing import Protocol as TypingProtocol
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from detour.catalog.model import REQUIREMENTS, ModelInfo, UnknownCapability, capability_name, split_model_id
from detour.protocol.codec import CODECS
from detour.providers import BUILTIN_PROVIDERS, DEFAULT_PROTOCOL, ProviderSpec, protocol_for_npm
from detour.units import parse_duration, parse_size

__all__ = [
    "CHECKS",
    "ChainConfig",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "Endpoint",
    "LoadedConfig",
    "ProviderConfig",
    "RouteRule",
    "check_config",
    "load_config",
    "parse_config",
]

CONFIG_NAMES = ("detour.json", "detour.jsonc", "detour.yaml", "detour.yml", "detour.toml")
OPENCODE_NAMES = ("opencode.json", "opencode.jsonc")
USER_CONFIG_NAMES = ("config.json", "config.jsonc", "config.yaml", "config.yml", "config.toml")
REFERENCE = "see the configuration reference, docs/configuration.md"


# ---------------------------------------------------------------- issues and errors


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem found in a config: an error stops loading, a warning does not."""

    severity: Literal["error", "warning"]
    path: str  # key path, e.g. "model.fallback[2]"; "" for the whole file
    message: str
    hint: str | None = None
    source: str | None = None  # the file, or "<config>" for in-memory data
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.source or ""
        if where and self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        text = ": ".join(p for p in (where, self.path, self.message) if p)
        return f"{text} (hint: {self.hint})" if self.hint else text


class ConfigError(Exception):
    """The config could not be loaded; ``issues`` holds every error found (not just the first)."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__(str(self))

    def __str__(self) -> str:
        errors = [i for i in self.issues if i.severity == "error"] or self.issues
        if len(errors) == 1:
            return str(errors[0])
        return f"{len(errors)} problems in the configuration:\n" + "\n".join(f"  {i}" for i in errors)


def _issue(path: str, message: str, hint: str | None, source: str | None, **kw: Any) -> ConfigIssue:
    return ConfigIssue("error", path, message, hint, source, **kw)


def _custom(kind: str, message: str, hint: str) -> PydanticCustomError:
    # braces in message would be read as a format template by pydantic
    return PydanticCustomError(kind, message.replace("{", "(").replace("}", ")"), {"hint": hint})


# ---------------------------------------------------------------- field types


def _known_protocol(name: str) -> str:
    if name not in CODECS:
        known = list(CODECS)
        hint = _did_you_mean(name, known) or f"use one of: {', '.join(known)}"
        raise _custom("protocol", "expected one of " + ", ".join(map(repr, known)), hint)
    return name


ProtocolName: TypeAlias = Annotated[str, AfterValidator(_known_protocol), Field(json_schema_extra={"enum": list(CODECS)})]


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise _custom("number_type", "expected a number, not true/false", "write a number without quotes, e.g. 3")
    return value


def _seconds(value: Any) -> float:
    try:
        return parse_duration(value)
    except (ValueError, TypeError):
        raise _custom(
            "duration", "expected a duration such as '10s', '500ms', '2m' or '1h', or a number of seconds", 'e.g. "10s"'
        ) from None


def _bytes(value: Any) -> int:
    try:
        return parse_size(value)
    except (ValueError, TypeError):
        raise _custom("size", "expected a size such as '32MiB', '200k' or '1m', or a plain number", 'e.g. "32MiB"') from None


def _model_id(value: str) -> str:
    value = value.strip()
    try:
        split_model_id(value)
    except ValueError:
        raise _custom(
            "model_id", "expected a model id of the form 'provider/model'", 'e.g. "anthropic/claude-sonnet-4-20250514"'
        ) from None
    return value


def _http_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _custom("url", "expected an http:// or https:// URL", 'e.g. "http://127.0.0.1:1234/v1"')
    return value.rstrip("/")


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _keys(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return value
    raise _custom("keys", "expected a key string or a list of key strings", 'e.g. "{env:MY_API_KEY}" or ["key-1", "key-2"]')


def _drop_empty(values: list[str]) -> list[str]:
    return [v for v in values if v]  # an unset {env:X} leaves "" behind; that is no key


Int = Annotated[int, BeforeValidator(_not_bool)]
Float = Annotated[float, BeforeValidator(_not_bool)]
Duration = Annotated[float, BeforeValidator(_seconds)]
Size = Annotated[int, BeforeValidator(_bytes)]
ModelId = Annotated[str, AfterValidator(_model_id)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Keys = Annotated[list[str], BeforeValidator(_keys), AfterValidator(_drop_empty)]

Capability: TypeAlias = Literal["tools", "image", "pdf", "reasoning", "thinking", "structured_output", "uncensored",
                                "local"]
assert get_args(Capability) == REQUIREMENTS


def _ex(example: Any) -> list[Any]:
    return [example]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)


# ---------------------------------------------------------------- the config shape


# answer checks a chain can escalate on (detour.routing.checks implements each one)
CheckName: TypeAlias = Literal["empty", "refusal", "json", "toolArgs", "truncated"]
CHECKS: tuple[str, ...] = get_args(CheckName)
# the kinds of work a route rule can match (detour.routing.routes infers each one from a request)
RouteKind: TypeAlias = Literal["background", "subagent", "think", "longContext", "image", "tools", "webSearch", "default"]
Effort: TypeAlias = Literal["minimal", "low", "medium", "high", "xhigh", "max"]


class ChainConfig(_Model):
    """A fallback chain: ``primary`` then each of ``fallback``, with its policies."""

    primary: ModelId | None = Field(None, examples=_ex("anthropic/claude-sonnet-4-20250514"))
    fallback: list[ModelId] = Field(default_factory=list, examples=_ex(["openai/gpt-5", "google/gemini-2.0-flash"]))
    on_rate_limit: Literal["auto-switch", "retry", "wait", "fail"] = "auto-switch"
    retry_attempts: Int = Field(3, ge=0, examples=_ex(3))
    strategy: Literal["priority", "cost", "speed"] = "priority"
    max_retry_wait: Duration = Field(10.0, examples=_ex("10s"))
    require: list[Capability] = Field(default_factory=list, examples=_ex(["tools", "image"]))
    max_cost_tier: Literal["free", "low", "medium", "high"] | None = None
    max_price_ratio: Float | None = Field(None, gt=0, examples=_ex(2.0))
    allow_downgrade: bool = Field(True, examples=_ex(False))
    on_content_block: Literal["fail", "switch"] = "fail"
    unknown_capability: Literal["last", "skip", "try"] = "last"
    escalate: list[CheckName] = Field(default_factory=list, examples=_ex(["empty", "json", "toolArgs"]))
    max_escalations: Int = Field(2, ge=0, examples=_ex(2))
    hold_back_size: Size = Field(256 * 1024, ge=0, examples=_ex("256KiB"))
    hold_back_time: Duration = Field(30.0, examples=_ex("30s"))
    # long sessions (detour.routing.sessions): a session that moved to a fallback stays there while it is healthy
    affinity: Literal["session", "none"] = "session"
    affinity_ttl: Duration = Field(1800.0, gt=0, alias="affinityTTL", examples=_ex("30m"))
    affinity_idle: Duration = Field(300.0, gt=0, examples=_ex("5m"))
    # new sessions leave a candidate whose subscription window is this full (0..1), until the window resets
    switch_at: Float | None = Field(0.95, gt=0, le=1, examples=_ex(0.9))

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"primary": data} if isinstance(data, str) else data

    @field_validator("escalate", mode="before")
    @classmethod
    def _escalate_list(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("require", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        value = _as_list(value)
        if not isinstance(value, list):
            return value
        out = []
        for v in value:  # the one vocabulary's aliases; an unknown word is left for the Literal to name by index
            try:
                out.append(capability_name(v) if isinstance(v, str) else v)
            except UnknownCapability:
                out.append(v)
        return out

    @property
    def models(self) -> list[str]:
        """The chain in order: primary first, then the fallbacks."""
        return ([self.primary] if self.primary else []) + list(self.fallback)


class RouteRule(_Model):
    """One rule of ``routes``: every condition it sets must hold; the first rule that matches names the chain.

    ``when`` is a kind of work detour infers from the request; ``model`` a glob on the model name the client
    sent; ``header`` header globs (``"*"``: present); ``tags`` names the client sends in ``detour.tags`` or the
    ``x-detour-tags`` header. The thresholds refine ``think`` and ``longContext``.
    """

    chain: str = Field(examples=_ex("cheap"))
    name: str | None = Field(None, examples=_ex("titles"))
    when: RouteKind | None = Field(None, examples=_ex("background"))
    model: str | None = Field(None, examples=_ex("*haiku*"))
    header: dict[str, str] = Field(default_factory=dict, examples=_ex({"x-task": "json"}))
    tags: list[str] = Field(default_factory=list, examples=_ex(["json"]))
    min_tokens: Int = Field(60_000, ge=0, examples=_ex(60000))
    min_effort: Effort = "high"
    min_thinking_budget: Int = Field(10_000, ge=0, examples=_ex(10000))

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_list(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("header")
    @classmethod
    def _lower_headers(cls, value: dict[str, str]) -> dict[str, str]:
        return {k.strip().lower(): v for k, v in value.items()}

    @property
    def label(self) -> str:
        """The rule's name in headers, /status and usage: its ``name``, else its kind, else its chain."""
        return self.name or self.when or self.chain


# models.dev field names, accepted beside ModelInfo's own
_MODELS_DEV_NESTED = {
    "limit": {"context": "context", "output": "max_output"},
    "cost": {"input": "cost_input", "output": "cost_output", "cache_read": "cost_cache_read", "cache_write": "cost_cache_write"},
}


class ModelOverride(_Model):
    """Capability overrides for one model; keys are ModelInfo field names (models.dev names also work)."""

    model_config = ConfigDict(extra="forbid", alias_generator=None)

    name: str | None = Field(None, examples=_ex("Qwen3 Coder 30B"))
    tools: bool | None = Field(None, examples=_ex(True))
    image: bool | None = Field(None, examples=_ex(True))
    pdf: bool | None = Field(None, examples=_ex(False))
    reasoning: bool | None = Field(None, examples=_ex(True))
    thinking: bool | None = Field(None, examples=_ex(False))
    structured_output: bool | None = Field(None, examples=_ex(True))
    uncensored: bool | None = Field(None, examples=_ex(False))
    prefill: bool | None = Field(None, examples=_ex(True))
    image_url: bool | None = Field(None, examples=_ex(False))
    context: Size | None = Field(None, examples=_ex("128k"))
    max_output: Size | None = Field(None, examples=_ex("16k"))
    cost_input: Float | None = Field(None, ge=0, examples=_ex(0.5))
    cost_output: Float | None = Field(None, ge=0, examples=_ex(1.5))
    cost_cache_read: Float | None = Field(None, ge=0, examples=_ex(0.05))
    cost_cache_write: Float | None = Field(None, ge=0, examples=_ex(0.6))
    speed_tps: Float | None = Field(None, ge=0, examples=_ex(80.0))
    ttft_ms: Float | None = Field(None, ge=0, examples=_ex(400.0))
    # the wire protocol for this model when it differs from its provider's (a Responses-only OpenAI model)
    protocol: ProtocolName | None = Field(None, examples=_ex("openai-responses"))

    @model_validator(mode="before")
    @classmethod
    def _models_dev(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "tool_call" in data:
            data.setdefault("tools", data.pop("tool_call"))
        for key, names in _MODELS_DEV_NESTED.items():
            if isinstance(data.get(key), dict):
                for sub, value in data.pop(key).items():
                    data.setdefault(names.get(sub, f"{key}.{sub}"), value)
        modalities = data.get("modalities")
        if isinstance(modalities, dict) and isinstance(modalities.get("input"), list):
            data.pop("modalities")
            data.setdefault("image", "image" in modalities["input"])
            data.setdefault("pdf", "pdf" in modalities["input"])
        return data

    def overrides(self) -> dict[str, Any]:
        """The keys the user set, by ModelInfo field name (for ``ModelInfo.with_overrides``)."""
        return self.model_dump(exclude_unset=True)


class ProviderOptions(BaseModel):
    """OpenCode's ``provider.X.options``: baseURL/apiKey/headers are read; other keys are OpenCode's own."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    base_url: HttpUrl | None = Field(None, alias="baseURL", examples=_ex("http://127.0.0.1:1234/v1"))
    api_keys: Keys = Field(default_factory=list, alias="apiKey", examples=_ex("{env:MY_API_KEY}"))
    headers: dict[str, str] = Field(default_factory=dict, examples=_ex({"X-Title": "detour"}))


class ProviderConfig(_Model):
    """One provider: where it is, how to authenticate, and per-model capability overrides."""

    base_url: HttpUrl | None = Field(None, alias="baseURL", examples=_ex("http://127.0.0.1:1234/v1"))
    api_keys: Keys = Field(default_factory=list, alias="apiKey", examples=_ex(["{env:KEY_1}", "{env:KEY_2}"]))
    protocol: ProtocolName | None = Field(None, examples=_ex("anthropic"))
    headers: dict[str, str] = Field(default_factory=dict, examples=_ex({"X-Title": "detour"}))
    models: dict[str, ModelOverride] = Field(default_factory=dict, examples=_ex({"qwen3-coder": {"tools": True}}))
    options: ProviderOptions = Field(default_factory=ProviderOptions, examples=_ex({"baseURL": "https://example.com/v1"}))
    npm: str | None = Field(None, examples=_ex("@ai-sdk/openai-compatible"))
    name: str | None = Field(None, examples=_ex("My provider"))

    @model_validator(mode="after")
    def _from_options(self) -> ProviderConfig:
        # detour's own keys win over OpenCode's options block inside the same entry
        self.base_url = self.base_url or self.options.base_url
        self.api_keys = self.api_keys or list(self.options.api_keys)
        self.headers = {**self.options.headers, **self.headers}
        self.protocol = self.protocol or protocol_for_npm(self.npm)
        return self


class ServerConfig(_Model):
    host: str = Field("127.0.0.1", examples=_ex("127.0.0.1"))
    port: Int = Field(4141, ge=0, le=65535, examples=_ex(4141))
    api_keys: Keys = Field(default_factory=list, examples=_ex(["{env:DETOUR_API_KEY}"]))
    max_body_size: Size = Field(32 * 1024 * 1024, examples=_ex("32MiB"))
    cors: bool = Field(False, examples=_ex(True))


STATE_HINT = 'use "memory", "sqlite", "sqlite:///path/to/state.db" or "redis://host:6379/0"'


class StateConfig(_Model):
    url: str = Field("sqlite", examples=_ex("sqlite:///path/to/state.db"))
    prefix: str = Field("detour:", examples=_ex("detour:"))

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        value = value.strip()
        if value in ("memory", "sqlite"):
            return value
        scheme, sep, rest = value.partition("://")
        if sep and scheme == "sqlite" and rest.startswith("/") and len(rest) > 1:
            return value
        if sep and scheme in ("redis", "rediss") and rest:
            return value
        raise _custom("state_url", "expected a state URL: memory, sqlite, sqlite:///path, redis:// or rediss://", STATE_HINT)


class BudgetConfig(_Model):
    daily: dict[str, Annotated[Float, Field(ge=0)]] = Field(default_factory=dict, examples=_ex({"total": 5.0}))
    monthly: dict[str, Annotated[Float, Field(ge=0)]] = Field(default_factory=dict, examples=_ex({"openai": 50.0}))


class TimeoutsConfig(_Model):
    connect: Duration = Field(5.0, examples=_ex("5s"))
    # None: scaled per request, 10 s + 1 s per 10k estimated input tokens (reasoning: twice that)
    first_token: Duration | None = Field(None, examples=_ex("60s"))
    first_token_reasoning: Duration | None = Field(None, examples=_ex("2m"))
    idle: Duration = Field(30.0, examples=_ex("30s"))
    total: Duration = Field(600.0, examples=_ex("10m"))


class LoggingConfig(_Model):
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        data = {"level": data} if isinstance(data, str) else data
        if isinstance(data, dict) and isinstance(data.get("level"), str):
            data = {**data, "level": data["level"].strip().lower()}
        return data


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where and how to call one provider, resolved from config, OpenCode's block and built-in defaults."""

    provider: str
    base_url: str
    protocol: str  # a key of CODECS
    api_keys: tuple[str, ...]
    headers: dict[str, str]
    key_env: tuple[str, ...]
    local: bool

    def __repr__(self) -> str:  # keys stay out of logs and tracebacks
        keys = len(self.api_keys)
        return f"Endpoint(provider={self.provider!r}, base_url={self.base_url!r}, protocol={self.protocol!r}, keys={keys})"


_LOOPBACK = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


class Config(_Model):
    """The whole detour configuration. Every key is optional; ``Config()`` is a valid empty config."""

    model: ChainConfig = Field(default_factory=ChainConfig, examples=_ex({"primary": "openai/gpt-5", "fallback": []}))
    chains: dict[str, ChainConfig] = Field(
        default_factory=dict, examples=_ex({"fast": {"primary": "groq/llama-3.3-70b-versatile"}})
    )
    provider: dict[str, ProviderConfig] = Field(
        default_factory=dict, examples=_ex({"lmstudio": {"baseURL": "http://127.0.0.1:1234/v1"}})
    )
    server: ServerConfig = Field(default_factory=ServerConfig, examples=_ex({"port": 4141}))
    state: StateConfig = Field(default_factory=StateConfig, examples=_ex("sqlite"))
    budget: BudgetConfig = Field(default_factory=BudgetConfig, examples=_ex({"daily": {"total": 5.0}}))
    catalog: str | None = Field(None, examples=_ex("~/.cache/detour/models.json"))
    routes: list[RouteRule] = Field(
        default_factory=list, examples=_ex([{"when": "background", "chain": "cheap"}, {"when": "think", "chain": "deep"}])
    )
    equivalents: dict[ModelId, list[ModelId]] = Field(
        default_factory=dict, examples=_ex({"openai/gpt-5": ["openrouter/openai/gpt-5"]})
    )
    timeouts: TimeoutsConfig = Field(default_factory=TimeoutsConfig, examples=_ex({"connect": "5s"}))
    logging: LoggingConfig = Field(default_factory=LoggingConfig, examples=_ex({"level": "info"}))
    discovery: bool = Field(True, examples=_ex(False))
    unknown_model: Literal["chain", "reject"] = "chain"
    _opencode: dict[str, ProviderConfig] = PrivateAttr(default_factory=dict)
    _equivalents_key: str = PrivateAttr("equivalents")  # "routes" when the file used the older object form

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = {k: v for k, v in data.items() if k != "$schema"}
        if isinstance(data.get("state"), str):
            data["state"] = {"url": data["state"]}
        if isinstance(data.get("routes"), dict) and "equivalents" not in data:
            # the object form ("provider/model" -> other routes to the same model) predates route rules
            data["equivalents"] = data.pop("routes")
        return data

    def route_issues(self, source: str | None = None, prefix: str = "") -> list[ConfigIssue]:
        """Route rules naming a chain that is not defined (``default`` is the ``model`` block)."""
        known = ["default", *self.chains]
        issues = []
        for i, rule in enumerate(self.routes):
            if rule.chain not in known:
                hint = _did_you_mean(rule.chain, known) or f"define it under \"chains\"; known chains: {', '.join(known)}"
                issues.append(_issue(format_path(("routes", i, "chain"), prefix), f"no chain named {rule.chain!r}", hint, source))
        return issues

    @property
    def opencode_provider(self) -> dict[str, ProviderConfig]:
        """Providers read from OpenCode's own ``provider`` block (consulted after detour's)."""
        return self._opencode

    def chain(self, name: str | None = None) -> ChainConfig:
        """The named chain; None (or "default" when no chain has that name) is the ``model`` block."""
        if name is None or (name == "default" and name not in self.chains):
            return self.model
        if name in self.chains:
            return self.chains[name]
        example = f'define it, e.g. "chains": {{"{name}": {{"primary": "provider/model"}}}}'
        known = f"known chains: {', '.join(sorted(self.chains))}" if self.chains else example
        hint = _did_you_mean(name, list(self.chains)) or known
        raise ConfigError([_issue(f"chains.{name}", f"no chain named {name!r}", hint, None)])

    def overrides(self, model_id: str) -> dict[str, Any]:
        """Capability overrides the config sets for ``provider/model`` (empty when none)."""
        provider, model = split_model_id(model_id)
        for block in (self.provider, self._opencode):
            entry = block.get(provider)
            if entry and model in entry.models:
                return entry.models[model].overrides()
        return {}

    def endpoint(
        self,
        provider_id: str,
        providers: Mapping[str, ProviderSpec] = BUILTIN_PROVIDERS,
        env: Mapping[str, str] = os.environ,
    ) -> Endpoint | None:
        """Resolve a provider: config values win, then OpenCode's provider block, then the spec's defaults."""
        layers = [p for p in (self.provider.get(provider_id), self._opencode.get(provider_id)) if p is not None]
        spec = providers.get(provider_id)
        base_url = next((p.base_url for p in layers if p.base_url), spec.base_url if spec else None)
        if not base_url:
            return None
        protocol = next((p.protocol for p in layers if p.protocol), spec.protocol if spec else DEFAULT_PROTOCOL)
        key_env = spec.env if spec else ()
        keys = next((p.api_keys for p in layers if p.api_keys), None)
        if keys is None:
            keys = next(([env[name]] for name in key_env if env.get(name)), [])
        headers: dict[str, str] = {}
        for layer in reversed(layers):
            headers.update(layer.headers)
        host = urlsplit(base_url).hostname or ""
        local = (spec.local if spec else False) or host in _LOOPBACK
        return Endpoint(provider_id, base_url.rstrip("/"), protocol, tuple(dict.fromkeys(keys)), headers, key_env, local)


@dataclass(slots=True)
class LoadedConfig:
    """A validated config with where it came from and the warnings met on the way."""

    config: Config
    path: Path | None = None
    warnings: list[ConfigIssue] = field(default_factory=list)
    key_prefix: str = ""  # "detour." when the settings sit under an opencode.json's "detour" key


# ---------------------------------------------------------------- validation errors → issues


_SECRET_PARTS = ("apikey", "api_key", "secret", "password", "authorization", "headers")
_TYPE_WORDS = {
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected an object (key: value pairs)",
    "model_type": "expected an object (key: value pairs)",
    "model_attributes_type": "expected an object (key: value pairs)",
}
_BOUNDS = {"greater_than_equal": "≥ {ge}", "greater_than": "> {gt}", "less_than_equal": "≤ {le}", "less_than": "< {lt}"}


def _is_secret(loc: tuple[Any, ...]) -> bool:
    return any(isinstance(p, str) and any(s in p.lower() for s in _SECRET_PARTS) for p in loc)


def _show(value: Any, loc: tuple[Any, ...]) -> str:
    if _is_secret(loc):
        return "<redacted>"
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


_PLAIN_KEY = re.compile(r"[A-Za-z_][\w\-]*")


def format_path(loc: tuple[Any, ...], prefix: str = "") -> str:
    """``("model", "fallback", 2)`` -> ``model.fallback[2]``; odd keys are quoted: ``routes["a/b"]``."""
    out = prefix.rstrip(".")
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _field_of(model: type[BaseModel], key: Any) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _walk(loc: tuple[Any, ...]) -> tuple[Any, FieldInfo | None, str | None]:
    """The type at ``loc`` in Config, the last model field passed through, and its wire name."""
    tp: Any = Config
    info: FieldInfo | None = None
    name: str | None = None
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            found = _field_of(tp, part)
            if found is None:
                return None, info, name
            info, name, tp = found, found.alias or str(part), found.annotation
        elif get_origin(tp) in (dict, list):
            tp = get_args(tp)[-1]
        else:
            return None, info, name
    return _unwrap(tp), info, name


def _did_you_mean(word: str, choices: list[str]) -> str | None:
    lower = {c.lower(): c for c in choices}
    match = [lower[word.lower()]] if word.lower() in lower else difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}?" if match else None


def _raw_at(data: Any, loc: tuple[Any, ...]) -> tuple[tuple[Any, ...], Any]:
    """The deepest prefix of ``loc`` present in the raw data (shorthands like ``"state": "x"`` stop early)."""
    for i, part in enumerate(loc):
        in_dict = isinstance(data, dict) and part in data
        if in_dict or (isinstance(data, list) and isinstance(part, int) and part < len(data)):
            data = data[part]
        else:
            return loc[:i], data
    return loc, data


def _example_hint(name: str | None, info: FieldInfo | None) -> str:
    if info is not None and info.examples:
        return f"e.g. {json.dumps(name)}: {json.dumps(info.examples[0])}"
    return REFERENCE


def _error_issue(err: Any, raw: Any, source: str, prefix: str) -> ConfigIssue:
    loc = tuple(p for p in err["loc"] if p != "[key]")
    kind, ctx = err["type"], err.get("ctx") or {}
    tp, info, name = _walk(loc)
    if kind == "extra_forbidden":
        parent, _, _ = _walk(loc[:-1])
        is_model = isinstance(parent, type) and issubclass(parent, BaseModel)
        keys = [f.alias or n for n, f in parent.model_fields.items()] if is_model else []
        guess = _did_you_mean(str(loc[-1]), keys)
        message = "unknown key" + (f"; {guess}" if guess else "")
        return _issue(format_path(loc, prefix), message, f"valid keys here: {', '.join(keys)}", source)
    shown_loc, _ = _raw_at(raw, loc)
    value = _show(err["input"], loc)
    if kind == "literal_error":
        choices = [str(c) for c in get_args(tp)] if get_origin(tp) is Literal else []
        what = "expected one of " + ", ".join(repr(c) for c in choices) if choices else err["msg"]
        guess = _did_you_mean(str(err["input"]), choices) if isinstance(err["input"], str) else None
        hint = guess or f"use one of: {', '.join(choices)}"
    elif "hint" in ctx:
        what, hint = err["msg"], str(ctx["hint"])
    elif kind in _BOUNDS:
        what, hint = "expected a number " + _BOUNDS[kind].format(**ctx), _example_hint(name, info)
    else:
        what, hint = _TYPE_WORDS.get(kind, err["msg"]), _example_hint(name, info)
    return _issue(format_path(shown_loc, prefix), f"{what}; got {value}", hint, source)


def _validate(data: Any, source: str, prefix: str) -> tuple[Config | None, list[ConfigIssue]]:
    if not isinstance(data, dict):
        got = _show(data, ())
        hint = 'the file must hold an object, e.g. {"model": {"primary": "openai/gpt-5"}}'
        return None, [_issue(prefix.rstrip("."), f"expected an object at the top level; got {got}", hint, source)]
    try:
        return Config.model_validate(data), []
    except ValidationError as exc:
        errors = exc.errors()
        if isinstance(data.get("routes"), dict) and "equivalents" not in data:  # the older object form of routes
            errors = [{**e, "loc": ("routes", *e["loc"][1:])} if e["loc"][:1] == ("equivalents",) else e for e in errors]
        return None, [_error_issue(e, data, source, prefix) for e in errors]


# ---------------------------------------------------------------- interpolation


_INTERPOLATION = re.compile(r"\{env:([^}]*)\}|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\{file:([^}]*)\}")


@dataclass(slots=True)
class _Interpolator:
    env: Mapping[str, str]
    base_dir: Path
    source: str
    prefix: str
    issues: list[ConfigIssue] = field(default_factory=list)

    def walk(self, value: Any, loc: tuple[Any, ...] = ()) -> Any:
        if isinstance(value, dict):
            return {k: self.walk(v, (*loc, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.walk(v, (*loc, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and ("{" in value):
            return _INTERPOLATION.sub(lambda m: self._one(m, loc), value)
        return value

    def _one(self, match: re.Match[str], loc: tuple[Any, ...]) -> str:
        path = format_path(loc, self.prefix)
        if match.group(3) is not None:
            return self._file(match.group(3).strip(), path)
        name = (match.group(1) if match.group(1) is not None else match.group(2)).strip()
        if name not in self.env:
            hint = f"set it (export {name}=...) or remove the reference"
            message = f"environment variable {name} is not set; using an empty string"
            self.issues.append(ConfigIssue("warning", path, message, hint, self.source))
        return self.env.get(name, "")

    def _file(self, name: str, path: str) -> str:
        target = _expand(name, self.env, self.base_dir)
        try:
            return target.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            hint = f"file paths are relative to {self.base_dir}; create the file or fix the path"
            self.issues.append(_issue(path, f"cannot read {{file:{name}}} ({target}): {reason}", hint, self.source))
            return ""


def _expand(name: str, env: Mapping[str, str], base: Path) -> Path:
    if name == "~" or name.startswith("~/"):
        home = env.get("HOME") or str(Path.home())
        name = home + name[1:]
    path = Path(name)
    return path if path.is_absolute() else base / path


# ---------------------------------------------------------------- reading files


def _read_file(path: Path) -> Any:
    """Parse one config file by its suffix; raises ConfigError with file:line:col on bad syntax."""
    from detour._jsonc import SUFFIXES, ParseError, parse_text

    source = str(path)
    if path.suffix.lower() not in SUFFIXES:
        hint = "name the file *.json, *.jsonc, *.yaml, *.yml or *.toml"
        raise ConfigError([_issue("", f"unsupported config file type {path.suffix or '(none)'!r}", hint, source)])
    try:
        return parse_text(path.read_text(encoding="utf-8"), path.suffix)
    except ParseError as exc:
        issue = _issue("", f"invalid {exc.kind}: {exc.message}", exc.hint, source, line=exc.line, column=exc.column)
        raise ConfigError([issue]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        issue = _issue("", f"cannot read the config file: {reason}", "check the path and permissions", source)
        raise ConfigError([issue]) from None


# ---------------------------------------------------------------- finding and loading


_KEY_NAMES = ("apikey", "apikeys", "api_key", "api_keys")
_SECRET_HEADER = re.compile(r"authorization|api[-_]?key|token|secret|password", re.IGNORECASE)
_AUTH_SCHEME = re.compile(r"^\s*(bearer|basic|token)\b", re.IGNORECASE)


def _literal_secrets(value: Any, loc: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Key paths holding a key written into the file itself (``{env:X}``, ``${X}``, ``{file:p}`` do not count)."""
    if not isinstance(value, dict):
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield from _literal_secrets(item, (*loc, i))
        return
    for key, item in value.items():
        name = str(key).lower()
        if name in _KEY_NAMES:
            values = item if isinstance(item, list) else [item]
            if any(_is_literal(v) for v in values):
                yield (*loc, key)
        elif name == "headers" and isinstance(item, dict):
            yield from ((*loc, key, h) for h, v in item.items() if _SECRET_HEADER.search(str(h)) and _is_literal(v))
        else:
            yield from _literal_secrets(item, (*loc, key))


def _is_literal(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    rest = _AUTH_SCHEME.sub("", _INTERPOLATION.sub("", value))
    return bool(rest.strip())


def _exposed_keys(path: Path, doc: Any) -> list[ConfigIssue]:
    """A file holding keys that other users can read: warn, naming the file and the fix."""
    if os.name != "posix":
        return []
    try:
        mode = path.stat().st_mode
    except OSError:
        return []
    readers = [who for who, bit in (("its group", 0o040), ("every user", 0o004)) if mode & bit]
    found = next(_literal_secrets(doc), None)
    if not readers or found is None:
        return []
    message = f"this file holds API keys (e.g. at {format_path(found)}) and is readable by {' and '.join(readers)}"
    hint = f"chmod 600 {path}, or move the keys to the environment: \"apiKey\": \"{{env:MY_API_KEY}}\""
    return [ConfigIssue("warning", format_path(found), message, hint, str(path))]


def _is_opencode(path: Path) -> bool:
    return path.name.lower() in OPENCODE_NAMES


def _search(path: str | Path | None, env: Mapping[str, str], cwd: Path) -> Iterator[tuple[Path, str | None]]:
    """Candidate files in order; the second item names who asked for it when it must exist."""
    if path is not None:
        yield _expand(str(path), env, cwd), "the --config option"
        return
    if env.get("DETOUR_CONFIG"):
        yield _expand(env["DETOUR_CONFIG"], env, cwd), "$DETOUR_CONFIG"
        return
    for name in (*CONFIG_NAMES, *OPENCODE_NAMES):
        yield cwd / name, None
    home = env.get("HOME") or str(Path.home())
    config_home = Path(env.get("XDG_CONFIG_HOME") or Path(home) / ".config")
    for name in USER_CONFIG_NAMES:
        yield config_home / "detour" / name, None


def _shadowed(found: Path) -> list[ConfigIssue]:
    """Other config files beside the one used, which are silently ignored otherwise."""
    names = CONFIG_NAMES if found.name in CONFIG_NAMES else USER_CONFIG_NAMES if found.name in USER_CONFIG_NAMES else ()
    others = [n for n in names if n != found.name and (found.parent / n).is_file()]
    hint = "keep one config file per folder; the first in the order .json, .jsonc, .yaml, .yml, .toml wins"
    return [ConfigIssue("warning", "", f"ignored: {n} (using {found.name})", hint, str(found.parent / n)) for n in others]


def _opencode_providers(doc: dict[str, Any], interpolate: _Interpolator) -> tuple[dict[str, ProviderConfig], list[ConfigIssue]]:
    """OpenCode's ``provider`` block, read leniently: only baseURL, apiKey, headers and npm matter to detour."""
    out: dict[str, ProviderConfig] = {}
    warnings: list[ConfigIssue] = []
    block = doc.get("provider")
    for pid, entry in (block.items() if isinstance(block, dict) else ()):
        if not isinstance(entry, dict):
            continue
        options: dict[str, Any] = entry["options"] if isinstance(entry.get("options"), dict) else {}
        picked: dict[str, Any] = {k: options[k] for k in ("baseURL", "apiKey", "headers") if k in options}
        if isinstance(entry.get("npm"), str):
            picked["npm"] = entry["npm"]
        picked = interpolate.walk(picked, ("provider", pid, "options"))
        try:
            out[pid] = ProviderConfig.model_validate(picked)
        except ValidationError as exc:
            for err in exc.errors():
                issue = _error_issue({**err, "loc": ("provider", pid, "options", *err["loc"])}, doc, interpolate.source, "")
                message = issue.message + "; OpenCode's entry ignored"
                warnings.append(ConfigIssue("warning", issue.path, message, issue.hint, issue.source))
    return out, warnings


def _build(data: Any, source: str, *, env: Mapping[str, str], base_dir: Path, opencode: dict[str, Any] | None) -> LoadedConfig:
    prefix = "detour." if opencode is not None else ""
    interpolate = _Interpolator(env, base_dir, source, prefix)
    data = interpolate.walk(data)
    config, errors = _validate(data, source, prefix)
    oc_interpolate = _Interpolator(env, base_dir, source, "")  # OpenCode's own keys sit at the top level
    providers, provider_warnings = _opencode_providers(opencode, oc_interpolate) if opencode is not None else ({}, [])
    interpolate.issues += oc_interpolate.issues
    errors = [i for i in interpolate.issues if i.severity == "error"] + errors
    if config is not None:
        errors += config.route_issues(source, prefix)
    if errors or config is None:
        raise ConfigError(errors)
    config._opencode = providers
    if isinstance(data, dict) and isinstance(data.get("routes"), dict):
        config._equivalents_key = "routes"
    warnings = [i for i in interpolate.issues if i.severity == "warning"] + provider_warnings
    return LoadedConfig(config, None, warnings, prefix)


def parse_config(
    data: dict[str, Any],
    *,
    source: str = "<config>",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> LoadedConfig:
    """Validate an in-memory config (detour's own keys, after interpolation); raises ConfigError."""
    return _build(data, source, env=os.environ if env is None else env, base_dir=base_dir or Path.cwd(), opencode=None)


def load_config(
    path: str | Path | None = None, *, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> LoadedConfig:
    """Find, read and validate the config; no file anywhere gives an empty Config. Raises ConfigError."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else Path(cwd)
    for candidate, required_by in _search(path, env, cwd):
        if not candidate.is_file():
            if required_by is None:
                continue
            what = "is a folder, not a file" if candidate.is_dir() else "does not exist"
            hint = f"fix the path given by {required_by}, or create the file"
            raise ConfigError([_issue("", f"config file {what}", hint, str(candidate))])
        doc = _read_file(candidate)
        opencode = doc if _is_opencode(candidate) and isinstance(doc, dict) else None
        if opencode is not None:
            if "detour" not in opencode and required_by is None:
                continue  # an OpenCode file without detour settings is not ours
            doc = opencode.get("detour", {})
        loaded = _build(doc, str(candidate), env=env, base_dir=candidate.parent, opencode=opencode)
        loaded.path = candidate
        loaded.warnings += _shadowed(candidate) if required_by is None else []
        loaded.warnings += _exposed_keys(candidate, opencode if opencode is not None else doc)
        return loaded
    return LoadedConfig(Config())


# ---------------------------------------------------------------- checks against the catalog


class CatalogLike(TypingProtocol):
    @property
    def providers(self) -> Mapping[str, ProviderSpec]: ...

    def get(self, model_id: str) -> ModelInfo | None: ...

    def closest(self, model_id: str, n: int = 3) -> list[str]: ...


def _model_refs(config: Config) -> Iterator[tuple[tuple[Any, ...], str]]:
    chains = [(("model",), config.model)] + [(("chains", name), chain) for name, chain in config.chains.items()]
    for loc, chain in chains:
        if chain.primary:
            yield (*loc, "primary"), chain.primary
        for i, model_id in enumerate(chain.fallback):
            yield (*loc, "fallback", i), model_id
    where = config._equivalents_key
    for key, targets in config.equivalents.items():
        yield (where, key), key
        for i, model_id in enumerate(targets):
            yield (where, key, i), model_id


def check_config(loaded: LoadedConfig, catalog: CatalogLike, *, env: Mapping[str, str] = os.environ) -> list[ConfigIssue]:
    """Problems only the catalog can reveal: unknown ids (warning), unknown providers (error), missing keys (warning)."""
    config, prefix = loaded.config, loaded.key_prefix
    source = str(loaded.path) if loaded.path else None
    providers: dict[str, ProviderSpec] = {**BUILTIN_PROVIDERS, **dict(catalog.providers)}
    issues: list[ConfigIssue] = []
    checked: set[str] = set()
    for loc, model_id in _model_refs(config):
        path = format_path(loc, prefix)
        provider, model = split_model_id(model_id)
        endpoint = config.endpoint(provider, providers, env)
        info = catalog.get(model_id)
        if endpoint is None:
            guess = _did_you_mean(provider, list(providers))
            hint: str | None = (guess + " or " if guess else "") + f'configure it: "provider": {{"{provider}": {{"baseURL": "https://..."}}}}'
            issues.append(_issue(path, f"{model_id!r}: unknown provider {provider!r} with no baseURL", hint, source))
            continue
        if info is None or not info.known:
            declared = config.overrides(model_id)
            close = [c for c in catalog.closest(model_id, 4) if c != model_id][:3]  # never the id itself
            if declared:
                message = (f"{model_id!r} is not in the catalog; planned with the capabilities declared under "
                           f'provider.{provider}.models["{model}"] ({", ".join(sorted(declared))}), others unknown')
                hint = f"if that is a typo, did you mean {', '.join(repr(c) for c in close)}?" if close else None
            else:
                message = f"{model_id!r} is not in the catalog; kept in the chain with unknown capabilities"
                hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else (
                    f'check the spelling, or declare its capabilities under provider.{provider}.models["{model}"]'
                )
            issues.append(ConfigIssue("warning", path, message, hint, source))
        if provider not in checked:
            checked.add(provider)
            issues.extend(_key_issue(endpoint, format_path(("provider", provider, "apiKey"), prefix), source))
    return issues


def _key_issue(endpoint: Endpoint, path: str, source: str | None) -> list[ConfigIssue]:
    if endpoint.local or endpoint.api_keys:
        return []
    names = " or ".join(endpoint.key_env)
    hint = (f"set {names}, or " if names else "set ") + f'{path} (e.g. "{{env:MY_API_KEY}}")'
    return [ConfigIssue("warning", path, f"no API key for provider {endpoint.provider!r}", hint, source)]
