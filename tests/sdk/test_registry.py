"""Every registered kind is complete: a schema, an importable entry, and shipped recipes for recipe kinds."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import get_args

from schemas import AnyStage, Recipe
from sdk.registry import RECIPE_EXPANDERS, STAGE_KINDS

ROOT = Path(__file__).resolve().parents[2]


def test_every_stage_schema_has_a_registered_runnable_module():
    kinds = {cls.model_fields["kind"].annotation.__args__[0] for cls in get_args(AnyStage)}
    assert kinds == set(STAGE_KINDS)
    for kind, entry in STAGE_KINDS.items():
        module, _, function = entry.entry.partition(":")
        assert importlib.util.find_spec(module) is not None, kind
        assert f"def {function}(" in Path(importlib.util.find_spec(module).origin).read_text(), kind
        assert isinstance(entry.version, int) and entry.version >= 1


def test_every_recipe_kind_has_an_expander_and_shipped_recipes():
    kinds = {cls.model_fields["recipe"].annotation.__args__[0] for cls in get_args(get_args(Recipe)[0])}
    assert kinds == set(RECIPE_EXPANDERS)
    shipped = {p.name for p in (ROOT / "recipes").glob("*.yaml")}
    for kind in kinds:
        module = RECIPE_EXPANDERS[kind].partition(":")[0]
        assert importlib.util.find_spec(module) is not None, kind
        assert f"{kind}-tiny.yaml" in shipped, f"recipes/{kind}-tiny.yaml is missing"


def test_every_shipped_recipe_opens_with_its_purpose_and_apply_line():
    for path in (ROOT / "recipes").glob("*.yaml"):
        head = path.read_text().split("\nrecipe:", 1)[0]
        assert head.startswith("# "), path.name
        assert "recipe apply recipes/" in head or "recipe plan recipes/" in head, path.name
