"""The shape of the code: no import circles, the evidence layer alone, the stages in order.

Every module's imports are read with :mod:`ast` (function-level imports included: a lazy import
still makes a circle, it only hides it until the function runs). Importing ``a.b.c`` also runs the
``__init__`` of ``a.b`` and of ``a``, so those count as edges too, except a package the importer is
itself inside (its ``__init__`` is already running or done).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("audit_store", "reporting")
STAGES = ("fetch", "checks", "render", "notify", "schedule", "web", "cli")
"""The pipeline's packages inside ``reporting``, in order: a stage imports only earlier ones."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "_bundled" not in path.parts:
                found[_module_name(path)] = path
    return found


def _imported(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The project modules ``name`` imports, as written (resolved against ``known``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            submodules = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
            yield from submodules
            if len(submodules) < len(node.names):  # a name defined in the package's __init__
                yield target


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target in _imported(name, path, known):
            if target.split(".")[0] not in PACKAGES:
                continue
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                dep = ".".join(parts[:i])
                inside = name == dep or name.startswith(dep + ".")
                if dep in known and dep != name and (i == len(parts) or not inside):
                    graph[name].add(dep)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_is_read() -> None:
    graph = _graph()
    assert "reporting.fetch.ingest" in graph["reporting.fetch.backfill"]
    assert "reporting.cli.common" in graph["reporting.cli.fetch"]
    # `from reporting.checks.limits import X` in config runs reporting/checks/__init__.py too
    assert "reporting.checks" in graph["reporting.config"]


def test_no_import_circles() -> None:
    found = _cycle(_graph())
    assert found is None, "import circle: " + " -> ".join(found or ())


def test_the_cycle_finder_finds_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_audit_store_imports_nothing_of_reporting() -> None:
    offenders = {
        name: sorted(d for d in deps if d.split(".")[0] == "reporting")
        for name, deps in _graph().items()
        if name.split(".")[0] == "audit_store"
    }
    assert {n: d for n, d in offenders.items() if d} == {}


def _stage(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] == "reporting" and len(parts) > 1 and parts[1] in STAGES:
        return STAGES.index(parts[1])
    return None


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_imports_no_later_stage(stage: str) -> None:
    rank = STAGES.index(stage)
    later = {
        (name, dep)
        for name, deps in _graph().items()
        if _stage(name) == rank
        for dep in deps
        if (dep_rank := _stage(dep)) is not None and dep_rank > rank
    }
    assert later == set()


def test_packages_say_what_their_stage_takes_and_gives() -> None:
    for stage in STAGES:
        init = ROOT / "reporting" / stage / "__init__.py"
        if not init.exists():
            continue
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc.splitlines()) >= 3, f"reporting/{stage}/__init__.py: no docstring"


def test_modules_stay_small() -> None:
    """No module over ~500 lines without a reason (the reason is named here)."""
    reasons = {
        "audit_store.standalone_verify": "stdlib-only verifier shipped whole inside every export",
        "audit_store.export": "the package writer: one deterministic walk over every table",
        "audit_store.verify": "recomputes every hash, leaf, root, signature and row in one pass",
        "reporting.fetch.sources.demo.generate": "the demo model, calibrated in one place",
        "reporting.render.context": "the report's whole view model",
        "reporting.render.charts": "every chart of the report",
        "reporting.config": "the typed config: every table, its defaults and its validation",
    }
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 600 and name not in reasons
    }
    assert long == {}
