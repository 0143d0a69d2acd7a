"""What a request needs from a model: capabilities inferred from its content, plus explicit ones."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from detour.catalog.model import capability_names
from detour.protocol.messages import (
    DocumentPart,
    ImagePart,
    Request,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)

CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 1000  # a fixed guess per image; exact counts depend on resolution and provider
DOCUMENT_TOKENS = 2000


@dataclass(frozen=True, slots=True)
class Needs:
    caps: frozenset[str] = frozenset()
    min_context: int = 0
    image_urls: bool = False  # the request has an image given by (non-data) URL
    image_types: frozenset[str] = frozenset()  # media types of the inline images
    hosted_tool: str | None = None  # a forced tool only a provider's own servers run (OpenAI web_search...)


def parse_require(value: str | Iterable[str] | None) -> list[str]:
    """``"thinking, image"`` (the x-detour-require header) or a list -> capability names, by the one vocabulary
    (``detour.catalog.model.REQUIREMENTS``); an unknown word raises UnknownCapability naming the accepted ones."""
    return capability_names(value)


def infer_needs(req: Request, require: Iterable[str] | None = None) -> Needs:
    caps: set[str] = set(parse_require(require)) | set(parse_require(req.detour.get("require")))
    if req.tools:
        caps.add("tools")
    if req.reasoning_effort and req.reasoning_effort != "none":
        caps.add("reasoning")
    if req.thinking_budget or req.thinking in ("enabled", "adaptive"):
        caps.add("thinking")
    if req.response_format is not None and req.response_format.type == "json_schema":
        caps.add("structured_output")
    chars, images, docs, urls, types = _scan(req)
    if images:
        caps.add("image")
    if docs:
        caps.add("pdf")
    tokens = chars // CHARS_PER_TOKEN + images * IMAGE_TOKENS + docs * DOCUMENT_TOKENS + (req.max_tokens or 0)
    return Needs(frozenset(caps), tokens, urls, frozenset(types), req.hosted_tool)


def input_tokens(req: Request) -> int:
    """The fast estimate of a request's input size (characters / 4, fixed guesses per image and document)."""
    chars, images, docs, _urls, _types = _scan(req)
    return chars // CHARS_PER_TOKEN + images * IMAGE_TOKENS + docs * DOCUMENT_TOKENS


def _scan(req: Request) -> tuple[int, int, int, bool, set[str]]:
    """One pass over the messages: text characters, image count, document count, any image URL, inline types."""
    chars = images = docs = 0
    urls = False
    types: set[str] = set()
    for message in req.messages:
        for part in message.content:
            if isinstance(part, TextPart):
                chars += len(part.text)
            elif isinstance(part, ImagePart):
                images += 1
                urls = urls or _is_remote(part.url)
                if part.data is not None and part.media_type:
                    types.add(part.media_type.lower())
            elif isinstance(part, DocumentPart):
                docs += 1
            elif isinstance(part, ToolCallPart):
                chars += len(part.arguments) + len(part.name)
            elif isinstance(part, ToolResultPart):
                for sub in part.content:
                    if isinstance(sub, TextPart):
                        chars += len(sub.text)
                    else:
                        images += 1
                        urls = urls or _is_remote(sub.url)
                        if sub.data is not None and sub.media_type:
                            types.add(sub.media_type.lower())
    for tool in req.tools:
        chars += len(tool.name) + len(tool.description or "") + 200  # rough size of the schema
    return chars, images, docs, urls, types


def _is_remote(url: str | None) -> bool:
    return url is not None and bool(url) and not url.startswith("data:")
