"""Model-listing endpoints: OpenAI / Anthropic / Gemini ``models`` lists, LM Studio ``/api/v0``, Ollama ``/api``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class LocalModel:
    """A model a fake local server (LM Studio / Ollama) advertises."""

    id: str
    type: Literal["llm", "vlm", "embeddings"] = "llm"
    tools: bool = True
    vision: bool = False
    thinking: bool = False
    context_length: int = 32768
    loaded: bool = True
    arch: str = "qwen3"
    quantization: str = "Q4_K_M"
    publisher: str = "lmstudio-community"

    @classmethod
    def of(cls, item: LocalModel | str | dict[str, Any]) -> LocalModel:
        if isinstance(item, LocalModel):
            return item
        if isinstance(item, str):
            return cls(item)
        return cls(**item)

    @property
    def is_vision(self) -> bool:
        return self.vision or self.type == "vlm"


def lmstudio_model(m: LocalModel) -> dict[str, Any]:
    return {
        "id": m.id,
        "object": "model",
        "type": "vlm" if m.is_vision and m.type != "embeddings" else m.type,
        "publisher": m.publisher,
        "arch": m.arch,
        "compatibility_type": "gguf",
        "quantization": m.quantization,
        "state": "loaded" if m.loaded else "not-loaded",
        "max_context_length": m.context_length,
        "capabilities": ["tool_use"] if m.tools else [],
    }


def lmstudio_models(models: list[LocalModel]) -> dict[str, Any]:
    return {"object": "list", "data": [lmstudio_model(m) for m in models]}


def llamacpp_models(models: list[LocalModel]) -> dict[str, Any]:
    """llama.cpp's server ``GET /v1/models``: the id is the model path (or ``--alias``), ``meta`` holds the served
    and trained context, and an Ollama-style ``models`` array rides beside ``data`` (tools/server, as served by
    recent builds; shape seen in llama.cpp's own README and in captured responses)."""
    data = [{"id": m.id, "aliases": [m.id], "tags": [], "object": "model", "created": 1700000000, "owned_by": "llamacpp",
             "meta": {"vocab_type": 2, "n_vocab": 262144, "n_ctx_train": max(m.context_length, 131072),
                      "n_ctx": m.context_length, "n_embd": 640, "n_params": 268098176, "size": 291614720}}
            for m in models]
    listing = [{"name": m.id, "model": m.id, "modified_at": "", "size": "", "digest": "", "type": "model",
                "description": "", "tags": [""], "capabilities": ["completion"], "parameters": "",
                "details": {"parent_model": "", "format": "gguf", "family": "", "families": [""],
                            "parameter_size": "", "quantization_level": ""}} for m in models]
    return {"models": listing, "object": "list", "data": data}


def vllm_models(models: list[LocalModel]) -> dict[str, Any]:
    """vLLM's ``GET /v1/models`` (vllm/entrypoints/openai/protocol.py ``ModelCard``): ``owned_by: vllm``, the served
    name, its ``root`` checkpoint and ``max_model_len``."""
    return {"object": "list", "data": [
        {"id": m.id, "object": "model", "created": 1700000000, "owned_by": "vllm", "root": m.id, "parent": None,
         "max_model_len": m.context_length,
         "permission": [{"id": f"modelperm-{hashlib.sha1(m.id.encode()).hexdigest()[:24]}", "object": "model_permission",
                         "created": 1700000000, "allow_create_engine": False, "allow_sampling": True,
                         "allow_logprobs": True, "allow_search_indices": False, "allow_view": True,
                         "allow_fine_tuning": False, "organization": "*", "group": None, "is_blocking": False}]}
        for m in models]}


def openai_models(ids: list[str]) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": i, "object": "model", "created": 1700000000, "owned_by": "fake"} for i in ids]}


def anthropic_models(ids: list[str]) -> dict[str, Any]:
    data = [{"id": i, "type": "model", "display_name": i, "created_at": "2025-01-01T00:00:00Z"} for i in ids]
    return {"data": data, "has_more": False, "first_id": ids[0] if ids else None, "last_id": ids[-1] if ids else None}


def gemini_models(ids: list[str]) -> dict[str, Any]:
    methods = ["generateContent", "streamGenerateContent", "countTokens"]
    return {"models": [{"name": f"models/{i}", "displayName": i, "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
                        "supportedGenerationMethods": methods} for i in ids]}


def _family(m: LocalModel) -> str:
    return m.arch.rstrip("0123456789.") or m.arch


def _details(m: LocalModel) -> dict[str, Any]:
    return {"parent_model": "", "format": "gguf", "family": _family(m), "families": [_family(m)],
            "parameter_size": "8.2B", "quantization_level": m.quantization}


def ollama_tags(models: list[LocalModel]) -> dict[str, Any]:
    return {"models": [{"name": m.id, "model": m.id, "modified_at": "2025-01-01T00:00:00Z", "size": 5_000_000_000,
                        "digest": hashlib.sha256(m.id.encode()).hexdigest(), "details": _details(m)} for m in models]}


def ollama_capabilities(m: LocalModel) -> list[str]:
    if m.type == "embeddings":
        return ["embedding"]
    flags = [("tools", m.tools), ("vision", m.is_vision), ("thinking", m.thinking)]
    return ["completion", *(name for name, on in flags if on)]


def ollama_show(m: LocalModel) -> dict[str, Any]:
    return {
        "modelfile": f"FROM {m.id}\n",
        "parameters": f"num_ctx {m.context_length}",
        "template": "{{ .Prompt }}",
        "details": _details(m),
        "model_info": {"general.architecture": m.arch, "general.parameter_count": 8_190_000_000,
                       f"{m.arch}.context_length": m.context_length},
        "capabilities": ollama_capabilities(m),
        "modified_at": "2025-01-01T00:00:00Z",
    }
