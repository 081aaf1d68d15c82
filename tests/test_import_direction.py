"""Imports flow one way: schemas <- stages <- sdk <- runners and the CLI (an ast scan of every module),
and no modules import each other round a circle.

A package may import its own modules and those of the layers below it, never above; outside a
package, only its public names are used (no `stages._context` from a runner). Runners are reached
from the SDK through `sdk.registry.RUNNERS` (import strings), not by import.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"schemas": 0, "stages": 1, "sdk": 2, "runners": 3}
TOP = {"sdk.cli": 3}
"""Modules that sit above their package: the `recipe` command line chooses runners and prints."""


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) of every import in the file, including those inside functions."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def violations(root: Path = ROOT) -> list[str]:
    bad: list[str] = []
    for package, layer in LAYERS.items():
        for path in sorted((root / package).rglob("*.py")):
            module = _module_name(path, root)
            own = TOP.get(module, layer)
            for line, target in _imports(path):
                top = target.split(".")[0]
                if top not in LAYERS:
                    continue
                where = f"{path.relative_to(root)}:{line}"
                if LAYERS[top] > own:
                    bad.append(f"{where}: {module} (layer {own}) imports {target} from above (layer {LAYERS[top]})")
                private = [p for p in target.split(".")[1:] if p.startswith("_") and not p.startswith("__")]
                if top != package and private:
                    bad.append(f"{where}: {module} imports {target}, private to {top}/")
    return bad


def test_imports_flow_one_way():
    assert violations() == []


def test_the_scan_sees_a_wrong_way_import(tmp_path):
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "x.py").write_text("def f():\n    from sdk.registry import RUNNERS\n")
    (tmp_path / "runners").mkdir()
    (tmp_path / "runners" / "y.py").write_text("from stages._context import PROGRESS_PREFIX\n")
    for package in ("schemas", "sdk"):
        (tmp_path / package).mkdir()
    found = sorted(violations(tmp_path))
    assert len(found) == 2
    assert found[0].startswith("runners/y.py:1:") and "private to stages/" in found[0]
    assert found[1].startswith("stages/x.py:2:") and "from above" in found[1]


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Project module -> the project modules it imports (at any depth of the file, functions included)."""
    modules = {_module_name(p, root): p for package in LAYERS for p in (root / package).rglob("*.py")}

    def owner(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = {owner(target) for _, target in _imports(path)}
        graph[name] = {m for m in found if m is not None and m != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other round a loop (strongly connected, more than one)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for other in sorted(graph.get(module, ())):
            if other not in order:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], order[other])
        if low[module] == order[module]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in order:
            visit(module)
    return found


def test_no_module_imports_itself_round_a_circle():
    assert circles(import_graph()) == []


def test_the_circle_scan_sees_one_through_a_function_level_import(tmp_path):
    for package in LAYERS:
        (tmp_path / package).mkdir()
    (tmp_path / "sdk" / "a.py").write_text("from sdk.b import f\n")
    (tmp_path / "sdk" / "b.py").write_text("def f():\n    from sdk.c import g\n")
    (tmp_path / "sdk" / "c.py").write_text("import sdk.a\n")
    (tmp_path / "sdk" / "d.py").write_text("from sdk.a import x\n")
    assert circles(import_graph(tmp_path)) == [["sdk.a", "sdk.b", "sdk.c"]]
