"""The real editor engine: `yaml-language-server` (VS Code's YAML extension, yamlls) run headless over recipes.

Installed by `.ci/editor.sh` (npm); skipped when absent, unless RECIPE_REQUIRE_EDITOR=1 (CI) makes that a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdk.recipe.json_schema import SCHEMA_FILE
from sdk.recipe.starter import recipe_kinds, write_starter
from tests.sdk._lsp import ROOT, YamlLanguageServer, server_command

SHIPPED = sorted((ROOT / "recipes").glob("*.yaml"))


@pytest.fixture(scope="module")
def server() -> Iterator[YamlLanguageServer]:
    command = server_command()
    if command is None:
        if os.environ.get("RECIPE_REQUIRE_EDITOR"):
            pytest.fail("yaml-language-server is not installed; run .ci/editor.sh")
        pytest.skip("yaml-language-server not installed (bash .ci/editor.sh installs it)")
    lsp = YamlLanguageServer(command, ROOT)
    yield lsp
    lsp.close()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the layout shipped recipes rely on: recipes/ beside schemas/recipe.schema.json."""
    (tmp_path / "schemas").mkdir()
    shutil.copy(SCHEMA_FILE, tmp_path / "schemas" / SCHEMA_FILE.name)
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    return tmp_path


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_recipe_has_no_diagnostics_in_the_editor(server: YamlLanguageServer, path: Path) -> None:
    assert server.diagnostics_of(path) == []


def test_unknown_key_is_one_diagnostic_on_its_line(server: YamlLanguageServer, tree: Path) -> None:
    path = tree / "recipes" / "pipeline-tiny.yaml"
    lines = path.read_text().splitlines()
    at = lines.index("    max_steps: 8") + 1
    lines.insert(at, "    lrr: 0.1")
    path.write_text("\n".join(lines) + "\n")
    found = server.diagnostics_of(path)
    assert [(d["range"]["start"]["line"], d["range"]["start"]["character"]) for d in found] == [(at, 4)], found
    assert "lrr" in found[0]["message"]


def test_a_wrong_value_is_flagged_where_it_is(server: YamlLanguageServer, tree: Path) -> None:
    path = tree / "recipes" / "re-distill-tiny.yaml"
    text = path.read_text().replace("  steps: 3\n", "  steps: -3\n")
    path.write_text(text)
    at = text.splitlines().index("  steps: -3")
    found = server.diagnostics_of(path)
    assert [d["range"]["start"]["line"] for d in found] == [at], found


def test_completion_offers_the_keys_of_the_stage_kind_written(server: YamlLanguageServer, tree: Path) -> None:
    path = tree / "recipes" / "pipeline-tiny.yaml"
    lines = path.read_text().splitlines()
    at = lines.index("    max_steps: 8") + 1
    lines.insert(at, "    ")
    path.write_text("\n".join(lines) + "\n")
    labels = server.completion(path, at, 4)
    assert {"epochs", "warmup_ratio", "lora"} <= set(labels), labels  # sft's own keys
    assert "generations" not in labels and "max_steps" not in labels  # grpo's, and one already written


def test_hover_shows_the_field_docstring(server: YamlLanguageServer) -> None:
    path = ROOT / "recipes" / "pipeline-tiny.yaml"
    line = path.read_text().splitlines().index("    max_steps: 8")
    assert "Stop after this many optimizer steps" in server.hover(path, line, 6)


@pytest.mark.parametrize("kind", list(recipe_kinds()))
def test_recipe_init_output_has_no_diagnostics(server: YamlLanguageServer, tmp_path: Path, kind: str) -> None:
    path = write_starter(kind, "fresh", tmp_path / "fresh.yaml")
    assert server.diagnostics_of(path) == []
