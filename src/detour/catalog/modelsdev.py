"""Parse the models.dev `api.json` format (and OpenRouter's model list) into compact rows.

A row is a plain tuple in ModelInfo's field order (see ROW_FIELDS) plus one trailing tuple of extras,
so a parsed catalog can be cached with marshal and turned into ModelInfo objects cheaply.
"""

from __future__ import annotations

from typing import Any

from detour.catalog.errors import CatalogError

ROW_FIELDS = (
    "id", "provider", "model", "name", "tools", "image", "pdf", "reasoning", "thinking",
    "structured_output", "uncensored", "prefill", "image_url", "context", "max_output",
    "cost_input", "cost_output", "cost_cache_read", "cost_cache_write", "speed_tps", "ttft_ms",
    "moderated", "known",
)
EXTRA_FIELDS = ("release_date", "knowledge", "open_weights", "status", "family")

# Local runtimes: no provider-side content filter in the path.
LOCAL_PROVIDERS = frozenset({"lmstudio", "ollama", "llama.cpp", "llamacpp", "llama-cpp", "vllm"})
# First-party APIs apply their own usage-policy filtering.
FILTERED_PROVIDERS = frozenset({"openai", "anthropic", "google"})
THINKING_CONTROLS = frozenset({"budget_tokens", "effort", "toggle"})

Row = tuple[Any, ...]
# provider id -> (name, api base URL or None, env var names, npm package or None)
ProviderRow = tuple[str, "str | None", tuple[str, ...], "str | None"]


def uncensored_default(provider: str, local: frozenset[str] = LOCAL_PROVIDERS) -> bool | None:
    if provider in local:
        return True
    if provider in FILTERED_PROVIDERS:
        return False
    return None


def thinking_from(reasoning: bool | None, options: Any) -> bool | None:
    """Extended thinking = reasoning plus a control (budget, effort or on/off toggle)."""
    if reasoning is False:
        return False
    if options is None:
        return None
    if not isinstance(options, list):
        return None
    has_control = any(isinstance(o, dict) and o.get("type") in THINKING_CONTROLS for o in options)
    if reasoning is None:
        return True if has_control else None
    return has_control


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return int(value)


def model_row(provider: str, model_id: str, m: dict[str, Any], local: frozenset[str] = LOCAL_PROVIDERS) -> Row:
    modalities = m.get("modalities")
    inputs = modalities.get("input") if isinstance(modalities, dict) else None
    image = pdf = None
    if isinstance(inputs, list):
        image, pdf = "image" in inputs, "pdf" in inputs
    limit: dict[str, Any] = m["limit"] if isinstance(m.get("limit"), dict) else {}
    cost: dict[str, Any] = m["cost"] if isinstance(m.get("cost"), dict) else {}
    reasoning = _bool(m.get("reasoning"))
    extras = tuple(m.get(k) if isinstance(m.get(k), (str, bool)) else None for k in EXTRA_FIELDS)
    return (
        f"{provider}/{model_id}", provider, model_id, str(m.get("name") or ""),
        _bool(m.get("tool_call")), image, pdf, reasoning, thinking_from(reasoning, m.get("reasoning_options")),
        _bool(m.get("structured_output")), uncensored_default(provider, local), None, None,
        _int(limit.get("context")), _int(limit.get("output")),
        _num(cost.get("input")), _num(cost.get("output")), _num(cost.get("cache_read")), _num(cost.get("cache_write")),
        None, None, None, True, extras,
    )


def parse_modelsdev(data: Any, *, source: str = "catalog", local: frozenset[str] = LOCAL_PROVIDERS) -> tuple[list[Row], dict[str, ProviderRow]]:
    """Rows and provider rows from a decoded models.dev document; raises CatalogError on a wrong shape."""
    validate_modelsdev(data, source=source)
    rows: list[Row] = []
    providers: dict[str, ProviderRow] = {}
    for pid, p in data.items():
        env = p.get("env")
        providers[pid] = (
            str(p.get("name") or pid),
            p.get("api") if isinstance(p.get("api"), str) else None,
            tuple(e for e in env if isinstance(e, str)) if isinstance(env, list) else (),
            p.get("npm") if isinstance(p.get("npm"), str) else None,
        )
        for mid, m in p["models"].items():
            if isinstance(m, dict):
                rows.append(model_row(pid, str(m.get("id") or mid), m, local))
    return rows, providers


def validate_modelsdev(data: Any, *, source: str = "catalog") -> None:
    hint = "expected the models.dev api.json format: {provider_id: {id, name, models: {model_id: {...}}}}"
    if not isinstance(data, dict) or not data:
        raise CatalogError("not a models.dev catalog (top level must be a non-empty object)", where=source, hint=hint)
    for pid, p in data.items():
        if not isinstance(p, dict) or not isinstance(p.get("models"), dict):
            raise CatalogError(f"provider {pid!r} has no 'models' object", where=source, hint=hint)


def is_openrouter_list(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("data"), list) and "models" not in data


def parse_openrouter_moderation(data: dict[str, Any]) -> dict[str, bool]:
    """`openrouter/<id>` -> is_moderated, from OpenRouter's /api/v1/models list."""
    out: dict[str, bool] = {}
    for entry in data["data"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        top = entry.get("top_provider")
        flag = top.get("is_moderated") if isinstance(top, dict) else None
        if isinstance(flag, bool):
            out[f"openrouter/{entry['id']}"] = flag
    return out
