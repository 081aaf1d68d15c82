"""`recipe plan --expand` prints a pipeline recipe that validates and compiles to the same stages, for
every shipped recipe (so for every recipe kind: the registry test makes each kind ship a tiny twin)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from sdk import api

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_expanded_recipe_validates_and_compiles_to_the_same_fingerprints(path: Path, tmp_path: Path) -> None:
    if (path.parent / "data").is_dir():  # relative data paths resolve beside the file
        shutil.copytree(path.parent / "data", tmp_path / "data")
    plan = api.compile(api.load(path))
    expanded = tmp_path / path.name
    expanded.write_text(yaml.safe_dump(api.expand(path), sort_keys=False))
    again = api.compile(api.load(expanded))
    assert again.recipe.recipe == "pipeline"
    assert {s.id: s.fingerprint for s in again.stages} == {s.id: s.fingerprint for s in plan.stages}
    assert (again.name, again.store, again.tracking) == (plan.name, plan.store, plan.tracking)
