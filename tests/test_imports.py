"""The package's modules import in one direction: no module imports one that imports it back
(imports inside functions count too: a deferred import is still a dependency)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "qbench"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t in modules and t != name}
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Pairs importing each other, a package's ``__init__`` importing its own modules aside."""
    return sorted((a, b) for a, deps in graph.items() for b in deps
                  if a < b and a in graph.get(b, ()) and not (b.startswith(a + ".") or a.startswith(b + ".")))


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    assert {"qbench.runner", "qbench.scenarios", "qbench.executors.base"} <= set(graph)
    assert cycles(graph) == []
    # the two the issue names: the runner drives the executors, suites register into scenarios
    assert "qbench.runner" not in {d for m, ds in graph.items() if m.startswith("qbench.executors") for d in ds}
    assert not graph["qbench.scenarios"] & {m for m in graph if m.startswith("qbench.suites")}


def test_the_cycle_check_can_fail():
    assert cycles({"qbench.a": {"qbench.b"}, "qbench.b": {"qbench.a"}}) == [("qbench.a", "qbench.b")]


#: the design card's direction of flow; a module may import its own layer and those before it
FLOW = ("tasks", "corruption", "models", "training", "methods", "metrics", "records", "report")


def upstream_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(module, import) pairs where a module of one layer of :data:`FLOW` imports a later layer."""
    def layer(module: str) -> int | None:
        parts = module.split(".")
        return FLOW.index(parts[1]) if len(parts) > 1 and parts[1] in FLOW else None

    return sorted((a, b) for a, deps in graph.items() for b in deps
                  if layer(a) is not None and layer(b) is not None and layer(b) > layer(a))


def test_modules_import_only_down_the_flow():
    graph = import_graph()
    assert {"qbench.training.unlearn", "qbench.metrics.evaluate", "qbench.report.console"} <= set(graph)
    assert upstream_imports(graph) == []
    assert upstream_imports({"qbench.training.x": {"qbench.metrics.y"}}) == [("qbench.training.x", "qbench.metrics.y")]
