"""Imports flow one way: schemas <- stages <- sdk <- runners and the CLI (an ast scan of every module).

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
