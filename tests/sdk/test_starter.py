"""`recipe init`: a new recipe of every kind that validates, plans, and names the schema, as written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdk.cli import main
from sdk.recipe.json_schema import SCHEMA_FILE
from sdk.recipe.starter import recipe_kinds

KINDS = list(recipe_kinds())


@pytest.mark.parametrize("kind", KINDS)
def test_init_writes_a_recipe_of_the_kind_that_validates_and_plans_as_written(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", kind, "my-exp"]) == 0
    path = tmp_path / "my-exp.yaml"
    text = path.read_text()
    assert text.splitlines()[0] == f"# yaml-language-server: $schema={SCHEMA_FILE}"
    assert f"recipe: {kind}\n" in text and "name: my-exp\n" in text
    assert "# Named models:" in text  # blocks carry their docstrings
    assert main(["validate", "my-exp.yaml"]) == 0
    assert main(["plan", "my-exp.yaml", "--json", "--store", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    plan = json.loads(out[out.index("{"):])
    assert plan["name"] == "my-exp" and {s["state"] for s in plan["stages"]} == {"new"}


def test_init_inside_the_checkout_names_the_schema_by_a_relative_path(tmp_path: Path) -> None:
    from sdk.recipe.starter import _schema_ref

    assert _schema_ref(SCHEMA_FILE.parents[1] / "recipes" / "new.yaml") == "../schemas/recipe.schema.json"
    assert _schema_ref(tmp_path / "new.yaml") == str(SCHEMA_FILE)


def test_init_list_names_every_kind_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == KINDS
    assert all(len(line.split()) > 3 for line in lines)


def test_init_refuses_an_unknown_kind_and_an_existing_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init", "redistill"]) == 2
    assert "unknown recipe kind 'redistill' (did you mean 're-distill'?)" in capsys.readouterr().err
    (tmp_path / "taken.yaml").write_text("keep me\n")
    assert main(["init", "pipeline", "taken"]) == 2
    assert "file exists" in capsys.readouterr().err
    assert (tmp_path / "taken.yaml").read_text() == "keep me\n"
    assert main(["init", "pipeline", "taken", "--force"]) == 0
    assert "recipe: pipeline" in (tmp_path / "taken.yaml").read_text()
