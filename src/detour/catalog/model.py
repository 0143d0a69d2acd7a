"""ModelInfo: one model's capabilities. ``None`` means unknown, a third value that is never silently true."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, TypeAlias

Tier: TypeAlias = Literal["free", "low", "medium", "high"]

# Tier thresholds on the blended price (3 * input + output) / 4, in USD per million tokens.
TIER_LIMITS: tuple[tuple[float, Tier], ...] = ((0.0, "free"), (1.0, "low"), (5.0, "medium"))
TIER_ORDER: dict[str, int] = {"free": 0, "low": 1, "medium": 2, "high": 3}

CAPABILITIES = ("tools", "image", "pdf", "reasoning", "thinking", "structured_output", "uncensored")

# The one vocabulary of what a request can require: the capabilities above plus "local" (served on this machine).
# x-detour-require, the body's detour.require, chain `require`, `detour models/select --needs`, MCP and config
# overrides all read it; an unknown word is an error that lists these.
REQUIREMENTS = (*CAPABILITIES, "local")
CAPABILITY_ALIASES: dict[str, str] = {
    "tool": "tools", "tool_call": "tools", "tool_calls": "tools", "tool_use": "tools", "function_calling": "tools",
    "functions": "tools", "vision": "image", "images": "image", "pdfs": "pdf", "documents": "pdf",
    "think": "thinking", "extended_thinking": "thinking", "json": "structured_output",
    "json_schema": "structured_output", "structured": "structured_output", "structured_outputs": "structured_output",
    "unfiltered": "uncensored", "local_only": "local",
}  # fmt: skip


class UnknownCapability(ValueError):
    """A requirement word outside the vocabulary; the message lists the accepted words."""


def accepted_requirements() -> str:
    aliases = ", ".join(f"{a}={n}" for a, n in CAPABILITY_ALIASES.items())
    return f"{', '.join(REQUIREMENTS)} (aliases: {aliases})"


def capability_name(word: str) -> str:
    """``"Vision"`` -> ``"image"``; raises UnknownCapability for a word the vocabulary lacks."""
    name = word.strip().lower().replace("-", "_").replace(" ", "_")
    name = CAPABILITY_ALIASES.get(name, name)
    if name not in REQUIREMENTS:
        raise UnknownCapability(f"unknown capability {word.strip()!r}; accepted: {accepted_requirements()}")
    return name


def capability_names(value: str | Iterable[str] | None) -> list[str]:
    """A comma-separated string or a list of words -> canonical names, in order, without repeats or blanks."""
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise UnknownCapability(f"expected capability names as strings, got {item!r}")
        if item.strip():
            name = capability_name(item)
            if name not in out:
                out.append(name)
    return out


def tier_for(blended: float | None) -> Tier | None:
    if blended is None:
        return None
    for limit, tier in TIER_LIMITS:
        if blended <= limit:
            return tier
    return "high"


@dataclass(slots=True)
class ModelInfo:
    id: str  # "provider/model", split at the first slash
    provider: str
    model: str
    name: str = ""
    tools: bool | None = None
    image: bool | None = None
    pdf: bool | None = None
    reasoning: bool | None = None
    thinking: bool | None = None
    structured_output: bool | None = None
    uncensored: bool | None = None
    prefill: bool | None = None  # accepts a trailing assistant message to continue from
    image_url: bool | None = None  # accepts images by URL (False: base64 only)
    context: int | None = None
    max_output: int | None = None
    cost_input: float | None = None  # USD per million tokens
    cost_output: float | None = None
    cost_cache_read: float | None = None
    cost_cache_write: float | None = None
    speed_tps: float | None = None
    ttft_ms: float | None = None
    moderated: bool | None = None  # OpenRouter's own filter on its route (openrouter/* only)
    known: bool = True  # False: not in any catalog layer (a custom or newly released model)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def blended_price(self) -> float | None:
        if self.cost_input is None or self.cost_output is None:
            return None
        return (3 * self.cost_input + self.cost_output) / 4

    @property
    def tier(self) -> Tier | None:
        return tier_for(self.blended_price)

    def has(self, capability: str) -> bool | None:
        """What this model can do, as every decision reads it (planning, selection, listings): the catalog's
        value with config declarations on top (``Catalog.info``); None is unknown, never silently true."""
        value: bool | None = getattr(self, capability)
        return value

    def with_overrides(self, overrides: dict[str, Any]) -> ModelInfo:
        names = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in overrides.items() if k in names})

    def record(self, health: Any = None) -> dict[str, Any]:
        """The public record shared by `detour models --json`, /v1/models, MCP and the Python API."""
        return {
            "id": self.id,
            "provider": self.provider,
            "name": self.name or self.model,
            "tools": self.tools,
            "image": self.image,
            "pdf": self.pdf,
            "reasoning": self.reasoning,
            "thinking": self.thinking,
            "structured_output": self.structured_output,
            "uncensored": self.uncensored,
            "context": self.context,
            "max_output": self.max_output,
            "cost_input": self.cost_input,
            "cost_output": self.cost_output,
            "tier": self.tier,
            "speed_tps": self.speed_tps,
            "ttft_ms": self.ttft_ms,
            "health": health,
        }


def split_model_id(model_id: str) -> tuple[str, str]:
    """`lmstudio/qwen/qwen3-coder-30b` -> ("lmstudio", "qwen/qwen3-coder-30b")."""
    provider, sep, model = model_id.partition("/")
    if not sep or not provider or not model:
        raise ValueError(f"model id {model_id!r} must look like 'provider/model'")
    return provider, model
