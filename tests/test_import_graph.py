"""The package's import graph: no cycles, arrows point down, one import name.

The graph is read from the source with :mod:`ast`, not by importing anything: every
``import`` and ``from ... import`` statement of every module counts, including those under
``if TYPE_CHECKING:`` and inside functions (an import a type checker or a lazy call needs
is still a dependency). ``models/``, ``optim/`` and ``data/`` are read under the names they
install as (``minigrad.models`` ...). Relative imports are resolved. ``from pkg import
name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``. Importing
``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``, but those implicit edges are not
added: a package's ``__init__`` that re-exports its children would otherwise make every
child look like it depends on all its siblings.

Imports by string (``importlib.import_module``) are not seen; the CLI loads its subcommand
modules that way, inside ``minigrad.cli``, which may import anything.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Where each import package's source lives in the repository (pyproject's package-dir).
SOURCE_ROOTS = {
    "minigrad": ROOT / "minigrad",
    "minigrad.data": ROOT / "data",
    "minigrad.models": ROOT / "models",
    "minigrad.optim": ROOT / "optim",
}
BARE_NAMES = ("data", "models", "optim")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    path: Path
    line: int

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _module_name(package: str, root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def package_modules() -> dict[str, Path]:
    """Every module of the installed package, by its import name."""
    modules: dict[str, Path] = {}
    for package, root in SOURCE_ROOTS.items():
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            if package == "minigrad" and path.relative_to(root).parts[0] in BARE_NAMES:
                continue  # a stray copy inside minigrad/ would shadow the mapped folder
            modules[_module_name(package, root, path)] = path
    return modules


def _imported_names(
    tree: ast.AST, module: str, is_package: bool
) -> Iterator[tuple[str, str | None, int]]:
    """(module, name or None, line) for each import; relative ones resolved."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{node.module}" if node.module else package
            else:
                base = node.module or ""
            for alias in node.names:
                yield base, alias.name, node.lineno


def import_edges(modules: dict[str, Path]) -> list[Edge]:
    """Edges from each package module to the package modules it imports."""
    edges: list[Edge] = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for base, name, line in _imported_names(tree, module, is_package):
            if base != "minigrad" and not base.startswith("minigrad."):
                continue
            if name is not None and f"{base}.{name}" in modules:
                target = f"{base}.{name}"
            else:
                target = base
            edges.append(Edge(module, target, path, line))
    return edges


@pytest.fixture(scope="module")
def modules() -> dict[str, Path]:
    found = package_modules()
    assert "minigrad.models" in found and "minigrad.optim.sgd" in found, sorted(found)
    return found


@pytest.fixture(scope="module")
def edges(modules: dict[str, Path]) -> list[Edge]:
    return import_edges(modules)


def test_every_internal_import_names_a_module(modules: dict[str, Path], edges: list[Edge]) -> None:
    unknown = [
        f"{e.where()}: {e.source} imports {e.target}" for e in edges if e.target not in modules
    ]
    assert not unknown, "imports of minigrad modules that do not exist:\n" + "\n".join(unknown)


def _cycles(nodes: list[str], edges: list[Edge]) -> list[list[Edge]]:
    """One cycle through each strongly connected component that has one (Tarjan)."""
    out: dict[str, list[Edge]] = {n: [] for n in nodes}
    for e in edges:
        if e.target in out:
            out[e.source].append(e)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:  # the package has a few dozen modules: recursion is fine
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for e in out[node]:
            if e.target not in index:
                visit(e.target)
                low[node] = min(low[node], low[e.target])
            elif e.target in on_stack:
                low[node] = min(low[node], index[e.target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for n in nodes:
        if n not in index:
            visit(n)

    cycles = []
    for component in components:
        start = min(component)
        if len(component) == 1 and not any(e.target == start for e in out[start]):
            continue
        # Shortest path back to start inside the component (breadth first).
        previous: dict[str, Edge] = {}
        frontier = [start]
        found: Edge | None = None
        while frontier and found is None:
            following = []
            for node in frontier:
                for e in out[node]:
                    if e.target not in component:
                        continue
                    if e.target == start:
                        found = e
                        break
                    if e.target not in previous:
                        previous[e.target] = e
                        following.append(e.target)
                if found:
                    break
            frontier = following
        assert found is not None
        path = [found]
        while path[0].source != start:
            path.insert(0, previous[path[0].source])
        cycles.append(path)
    return cycles


def test_no_import_cycles(modules: dict[str, Path], edges: list[Edge]) -> None:
    cycles = _cycles(sorted(modules), edges)
    report = []
    for cycle in cycles:
        chain = " -> ".join([cycle[0].source, *(e.target for e in cycle)])
        steps = "\n".join(f"    {e.source} -> {e.target}  ({e.where()})" for e in cycle)
        report.append(f"  {chain}\n{steps}")
    assert not cycles, "import cycles:\n" + "\n".join(report)


def test_the_cycle_finder_finds_a_type_checking_cycle(tmp_path: Path) -> None:
    """A cycle closed only by an ``if TYPE_CHECKING:`` import still counts."""
    root = tmp_path / "minigrad"
    (root / "training").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "training" / "__init__.py").write_text("")
    (root / "training" / "trainer.py").write_text("from .callbacks import Callback\n")
    (root / "training" / "callbacks.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from minigrad.training.trainer import Trainer\n"
    )
    fake = {_module_name("minigrad", root, p): p for p in root.rglob("*.py")}
    edges = import_edges(fake)
    cycles = _cycles(sorted(fake), edges)
    assert [[e.source for e in c] for c in cycles] == [
        ["minigrad.training.callbacks", "minigrad.training.trainer"]
    ]


# --- Layers ---------------------------------------------------------------------------------
# Each module belongs to one layer; a layer may import only itself and the layers listed
# for it. This is the table of docs/architecture.md ("What may import what"): keep the two
# in step. "core" is the teaching code at the top of minigrad/ (layers, Sequential, the
# loss, L2, initialisers, gradient checks, evaluation, testing); "helpers" are the leaf
# modules (argument checks, the version) that anything may use. The package face
# (minigrad/__init__.py) re-exports the core and training; no module inside imports it.
# Arrows point down: cli -> experiment/tune -> training -> core, models -> core.

LAYER_OF_PREFIX = {
    "minigrad.__main__": "cli",  # `python -m minigrad` is the CLI's entry point
    "minigrad.cli": "cli",
    "minigrad.tune": "tune",
    "minigrad.experiment": "experiment",
    "minigrad.training": "training",
    "minigrad.models": "models",
    "minigrad.optim": "optim",
    "minigrad.data": "data",
    "minigrad.files": "files",
    "minigrad.validation": "helpers",
    "minigrad.version": "helpers",
}
APPLICATION = {"cli", "experiment", "tune"}
LAYERS = ("face", "cli", "tune", "experiment", "models", "training", "core", "optim", "data",
          "files", "helpers")
MAY_IMPORT: dict[str, set[str]] = {
    "face": {"core", "training", "helpers"},
    "cli": {"tune", "experiment", "models", "training", "core", "optim", "data", "files",
            "helpers"},
    "tune": {"experiment", "models", "training", "core", "optim", "data", "files", "helpers"},
    "experiment": {"models", "training", "core", "optim", "data", "files", "helpers"},
    # Below this line nothing imports the application layers.
    "models": {"training", "core", "optim", "helpers"},  # TwoLayerNet.train runs a Trainer
    "training": {"core", "data", "files", "helpers"},
    "core": {"helpers"},
    "optim": {"helpers"},  # update rules see arrays, never layers, models or training
    "data": {"helpers"},  # data stands alone
    "files": set(),  # the standard library and NumPy
    "helpers": set(),
}


def layer_of(module: str) -> str:
    if module == "minigrad":
        return "face"
    for prefix, layer in LAYER_OF_PREFIX.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return "core"


def test_the_layer_table_is_complete() -> None:
    assert set(MAY_IMPORT) == set(LAYERS)
    for layer, allowed in MAY_IMPORT.items():
        assert allowed <= set(LAYERS), layer
        if layer not in APPLICATION:
            assert not allowed & APPLICATION, layer
        assert "face" not in allowed, layer  # the face imports them: that would be a cycle


def test_imports_point_down_the_layers(edges: list[Edge]) -> None:
    wrong = [
        f"{e.where()}: {e.source} ({layer_of(e.source)}) imports {e.target} ({layer_of(e.target)})"
        for e in edges
        if layer_of(e.target) != layer_of(e.source)
        and layer_of(e.target) not in MAY_IMPORT[layer_of(e.source)]
    ]
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_no_core_module_imports_the_application(edges: list[Edge]) -> None:
    """Acceptance 4: core = every module outside minigrad.cli, .experiment and .tune."""
    wrong = [
        f"{e.where()}: {e.source} imports {e.target}"
        for e in edges
        if layer_of(e.source) not in APPLICATION and layer_of(e.target) in APPLICATION
    ]
    assert not wrong, "core modules importing the application:\n" + "\n".join(wrong)


# --- One import name -----------------------------------------------------------------------

SCANNED = ("minigrad", "models", "optim", "data", "tests", "benchmarks", "examples")


def _repository_python_files() -> list[Path]:
    files = sorted(ROOT.glob("*.py"))
    for folder in SCANNED:
        files += sorted(p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)
    return files


def test_nothing_imports_the_bare_top_level_names() -> None:
    """``models``, ``optim`` and ``data`` install as ``minigrad.*``; no file may import the
    bare names (they would find a user's own ``models.py``, or nothing)."""
    wrong = []
    for path in _repository_python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] in BARE_NAMES:
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}: import {name}")
    assert not wrong, "bare top-level imports (use minigrad.*):\n" + "\n".join(wrong)


BARE_IMPORT_IN_TEXT = re.compile(
    r"(?:^|`|#|>>>|\.\.\.)[ \t]*(?:from\s+(?:data|models|optim)(?:\.\w+)*\s+import\b"
    r"|import\s+(?:data|models|optim)\b)",
    re.M,
)


def _bare_imports_in_text(text: str, where: str, first_line: int = 1) -> list[str]:
    found = []
    for match in BARE_IMPORT_IN_TEXT.finditer(text):
        line = first_line + text.count("\n", 0, match.start())
        found.append(f"{where}:{line}: {match.group(0).strip()}")
    return found


def _comments_and_docstrings(path: Path) -> Iterator[tuple[str, int]]:
    source = path.read_text(encoding="utf-8")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.string, token.start[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    yield body[0].value.value, body[0].lineno


def test_the_docs_and_comments_show_the_minigrad_names() -> None:
    """README, docs, comments and docstrings: the same rule, checked on the text."""
    wrong = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            wrong += _bare_imports_in_text(text, str(path.relative_to(ROOT)))
    for path in _repository_python_files():
        for text, line in _comments_and_docstrings(path):
            wrong += _bare_imports_in_text(text, str(path.relative_to(ROOT)), line)
    assert not wrong, "bare top-level imports in the docs:\n" + "\n".join(wrong)
