"""Routes by the kind of work: ordered rules, each naming the chain for the requests it matches. Pure, no I/O.

    "routes": [
      {"when": "background", "chain": "cheap"},          # Claude Code's haiku slot, OpenCode's title/summary agent
      {"when": "think", "chain": "deep"},                # reasoning effort or thinking budget at a threshold
      {"tags": ["json"], "chain": "strict"},             # what the client sends in detour.tags / x-detour-tags
      {"when": "default", "chain": "default"}
    ]

Every condition a rule sets must hold (``when``, ``model``, ``header``, ``tags``); the first rule that holds wins.
A request that names a chain, or an explicit ``provider/model``, is not routed: the client chose already.
``match`` says which rule matched and why; the why is what ``detour route --explain`` prints.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from detour.protocol.messages import Request
from detour.routing.needs import Needs

EFFORT_RANK = {"none": 0, "minimal": 1, "low": 2, "medium": 3, "high": 4, "xhigh": 5, "max": 6}

# How agents mark requests from their small-model slot. Claude Code sends them to its haiku-class model
# (ANTHROPIC_SMALL_FAST_MODEL / ANTHROPIC_DEFAULT_HAIKU_MODEL); OpenCode's title and summary agents send
# their own system prompt, without tools.
BACKGROUND_MODEL = re.compile(r"haiku", re.IGNORECASE)
BACKGROUND_PROMPTS = (
    "You are a title generator",  # OpenCode's title agent
    "You are a helpful AI assistant tasked with summarizing conversations",  # OpenCode's compaction agent
    "Summarize what was done in this conversation",  # OpenCode's session summary
)
# Claude Code's Task-tool subagents start their system prompt like this; claude-code-router's own marker too
SUBAGENT_PROMPTS = ("You are an agent for Claude Code", "<CCR-SUBAGENT-MODEL>")


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The rule that matched (its label), the chain it names, and why it matched."""

    rule: str
    chain: str
    why: str
    index: int  # the rule's position in ``routes``

    def header(self) -> str:
        """The ``x-detour-route`` header value: ``rule -> chain``."""
        return f"{self.rule} -> {self.chain}"


def tags_of(req: Request, headers: Mapping[str, str] | None = None) -> frozenset[str]:
    """The tags a client sent: ``detour.tags`` in the body (a list or a comma string) and ``x-detour-tags``."""
    raw: list[str] = []
    body = req.detour.get("tags")
    if isinstance(body, str):
        raw += body.split(",")
    elif isinstance(body, list):
        raw += [t for t in body if isinstance(t, str)]
    header = (headers or {}).get("x-detour-tags") or req.headers.get("x-detour-tags")
    if header:
        raw += header.split(",")
    return frozenset(t.strip().lower() for t in raw if t.strip())


def routable(req: Request, model: str) -> bool:
    """A request is routed unless it names a chain (``detour.chain``) or an explicit ``provider/model``."""
    return not req.detour.get("chain") and "/" not in model


def match(rules: Sequence[Any], req: Request, needs: Needs, *, model: str | None = None,
          headers: Mapping[str, str] | None = None) -> RouteMatch | None:
    """The first rule whose every condition holds; None when no rule does (the usual chain serves)."""
    if not rules:
        return None
    name = req.model if model is None else model
    heads = headers if headers is not None else req.headers
    tags: frozenset[str] | None = None
    for i, rule in enumerate(rules):
        why: list[str] = []
        if rule.when is not None and rule.when != "default":
            reason = KINDS[rule.when](rule, req, needs, name)
            if reason is None:
                continue
            why.append(reason)
        if rule.model is not None:
            if not _glob(rule.model).match(name):
                continue
            why.append(f"model {name!r} matches {rule.model!r}")
        if rule.header:
            found = _headers(rule.header, heads)
            if found is None:
                continue
            why.append(found)
        if rule.tags:
            tags = tags_of(req, heads) if tags is None else tags
            wanted = {t.lower() for t in rule.tags}
            if not wanted <= tags:
                continue
            why.append(f"tags {', '.join(sorted(wanted))} sent")
        return RouteMatch(rule.label, rule.chain, "; ".join(why) or "a rule without conditions matches every request", i)
    return None


def explain(rules: Sequence[Any], req: Request, needs: Needs, *, model: str | None = None,
            headers: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """Each rule in order with why it matched (None: it did not), for ``detour route --explain``."""
    out: list[tuple[str, str | None]] = []
    for i, rule in enumerate(rules):
        found = match([rule], req, needs, model=model, headers=headers)
        out.append((f"routes[{i}] {rule.label} -> {rule.chain}", found.why if found else None))
    return out


# ---------------------------------------------------------------- the kinds of work


def _background(rule: Any, req: Request, needs: Needs, model: str) -> str | None:
    if BACKGROUND_MODEL.search(model):
        return f"model {model!r} is a haiku-class (small, fast) model: an agent's background slot"
    system = req.system_text().lstrip()
    for prompt in BACKGROUND_PROMPTS:
        if system.startswith(prompt) and not req.tools:
            return f"system prompt starts {prompt!r} (an agent's title/summary request)"
    return None


def _subagent(rule: Any, req: Request, needs: Needs, model: str) -> str | None:
    system = req.system_text()
    for prompt in SUBAGENT_PROMPTS:
        if prompt in system[:2000]:
            return f"system prompt holds {prompt!r} (a subagent's request)"
    return None


def _think(rule: Any, req: Request, needs: Needs, model: str) -> str | None:
    budget = req.thinking_budget or 0
    if budget and budget >= rule.min_thinking_budget:
        return f"thinking budget {budget} >= {rule.min_thinking_budget}"
    effort = req.reasoning_effort
    if effort and EFFORT_RANK.get(effort, 0) >= EFFORT_RANK[rule.min_effort]:
        return f"reasoning effort {effort!r} >= {rule.min_effort!r}"
    return None


def _long_context(rule: Any, req: Request, needs: Needs, model: str) -> str | None:
    tokens = input_tokens(req, needs)
    if tokens >= rule.min_tokens:
        return f"about {tokens} input tokens >= {rule.min_tokens}"
    return None


def _image(rule: Any, req: Request, needs: Needs, model: str) -> str | None:
    return "the request holds an image" if "image" in needs.caps else None


def _tools(rule: Any, req: Request, needs: Needs, model: str) -> str | None:
    return f"the request offers {len(req.tools)} tool(s)" if req.tools else None


def _web_search(rule: Any, req: Request, needs: Needs, model: str) -> str | None:
    return "the request asks for web search" if req.web_search else None


KINDS = {
    "background": _background,
    "subagent": _subagent,
    "think": _think,
    "longContext": _long_context,
    "image": _image,
    "tools": _tools,
    "webSearch": _web_search,
}


def input_tokens(req: Request, needs: Needs) -> int:
    """The estimated input tokens: what the plan needs from a context window, less the output it reserves."""
    return max(needs.min_context - (req.max_tokens or 0), 0)


# ---------------------------------------------------------------- helpers


@lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern), re.IGNORECASE)


def _headers(wanted: Mapping[str, str], have: Mapping[str, str]) -> str | None:
    said: list[str] = []
    for name, pattern in wanted.items():
        value = have.get(name)
        if value is None or not _glob(pattern).match(value):
            return None
        said.append(f"header {name} matches {pattern!r}")
    return "; ".join(said)


def header_names(rules: Iterable[Any]) -> frozenset[str]:
    """The request headers route rules look at: the only ones a front door keeps on the Request."""
    names = {"x-detour-tags"}
    for rule in rules:
        names.update(rule.header)
    return frozenset(names)
