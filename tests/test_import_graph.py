"""The import graph of src/detour flows one way: front doors -> router -> routing -> codecs / upstream call.

Read with ``ast`` from the source, function-level imports included (only ``if TYPE_CHECKING:`` blocks, which
never run, are left out), so a circle hidden inside a function body still fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "detour"

# lowest first; a module may import its own floor and the floors below, never one above
FLOORS: list[tuple[str, ...]] = [
    ("detour.units", "detour._jsonc", "detour.redact", "detour._http", "detour.protocol", "detour.providers"),
    ("detour.catalog", "detour.config", "detour.health", "detour.selection", "detour.upstream"),
    ("detour.routing",),
    ("detour.router",),
    ("detour.server", "detour.mcp", "detour.opencode", "detour.codex", "detour.demo", "detour.plugins",
     "detour.cli", "detour._cli", "detour.testing", "detour.__main__", "detour"),
]


def _name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in SRC.rglob("*.py")}


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        if node.level:
            base_parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join(base_parts + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
    out = []
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != module:
            out.append(name)
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(block.test) for n in ast.walk(block)}
        graph[module] = {t for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                         and id(n) not in typing_only for t in _targets(module, n)}
    return graph


GRAPH = _graph()


def _floor(module: str) -> int:
    best = max(((i, len(p)) for i, floor in enumerate(FLOORS) for p in floor
                if module == p or module.startswith(p + ".")), key=lambda x: x[1], default=None)
    assert best is not None, f"{module} has no floor in tests/test_import_graph.py FLOORS; add it"
    return best[0]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read_whole() -> None:
    assert len(GRAPH) > 100
    assert "detour.protocol.codec" in GRAPH["detour.upstream"]  # a module-level import
    assert "detour.routing.engine" in GRAPH["detour.router"]
    assert "detour._cli.app" in GRAPH["detour.cli"]  # a function-level import counts too


def test_no_import_cycles_even_through_function_level_imports() -> None:
    assert _cycles(GRAPH) == []


def test_the_cycle_finder_finds_a_hidden_circle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_runs_back_up_a_floor() -> None:
    upward = [f"{m} -> {t}" for m, targets in sorted(GRAPH.items()) for t in sorted(targets) if _floor(t) > _floor(m)]
    assert upward == []


@pytest.mark.parametrize("module", ["detour.protocol.anthropic", "detour.protocol.openai_chat", "detour.protocol.gemini",
                                    "detour.protocol.openai_responses"])
def test_codec_modules_never_import_the_registry(module: str) -> None:
    assert "detour.protocol.codec" not in GRAPH[module]
    assert not any(t.startswith(("detour.routing", "detour.router", "detour.server")) for t in GRAPH[module])
