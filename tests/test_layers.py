"""The package's import layering, read from the source with ``ast``.

data -> models -> train / search / estimators / explain / report -> stages -> cli: a module
imports kanbio modules of its own layer or lower ones only, the import graph has no circles, and
kanbio modules are imported at module level only (no function-local imports of kanbio).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "kanbio"

#: Layer of a module, by the longest matching prefix.
LAYERS = {
    "kanbio": 0,
    "kanbio.errors": 0,
    "kanbio.output": 0,
    "kanbio.config": 0,
    "kanbio.data": 1,
    "kanbio.metrics": 1,
    "kanbio.models": 2,
    "kanbio.train": 3,
    "kanbio.search": 3,
    "kanbio.estimators": 3,
    "kanbio.explain": 3,
    "kanbio.report": 3,
    "kanbio.stages": 4,
    "kanbio.cli": 5,
    "kanbio.__main__": 5,
}
MAX_LINES = 450
LONG_OK = {"kanbio.models.kernels"}  # numba kernels: one file, reason in its docstring


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer(name: str) -> int:
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len)
    return LAYERS[best]


def resolve(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    """Absolute module of a ``from ... import`` (relative ones resolved against ``name``)."""
    if not node.level:
        return node.module or ""
    base = name.split(".") if is_package else name.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def kanbio_imports(path: Path) -> tuple[set[str], list[tuple[int, str]]]:
    """(kanbio modules imported at module level, [(line, module)] imported inside functions)."""
    name = module_name(path)
    tree = ast.parse(path.read_text())
    top: set[str] = set()
    local: list[tuple[int, str]] = []
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}

    def targets(node: ast.AST) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        if isinstance(node, ast.ImportFrom):
            mod = resolve(node, name, path.name == "__init__.py")
            subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in modules]
            return subs or [mod]
        return []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            for target in targets(child):
                if target == "kanbio" or target.startswith("kanbio."):
                    (local.append((child.lineno, target)) if in_function else top.add(target))
            visit(child, inner)

    visit(tree, False)
    return top, local


GRAPH = {module_name(p): kanbio_imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_respect_the_layers(module: str) -> None:
    top, _ = GRAPH[module]
    higher = sorted(t for t in top if layer(t) > layer(module))
    assert not higher, f"{module} (layer {layer(module)}) imports higher layers: {higher}"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_function_local_kanbio_imports(module: str) -> None:
    _, local = GRAPH[module]
    assert not local, f"{module} imports inside functions: {local}"


def test_no_import_circles() -> None:
    graph = {m: sorted(t for t in top if t in GRAPH and t != m) for m, (top, _) in GRAPH.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in graph[m]:
            if state.get(t) == 1:
                raise AssertionError("import circle: " + " -> ".join([*stack[stack.index(t):], t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: module_name(p))
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES or module_name(path) in LONG_OK, f"{path.name}: {lines} lines"
