"""The shipped JSON Schema: in step with the models, and it accepts what the loader accepts (and no more)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sdk.recipe.json_schema import REGENERATE, SCHEMA_FILE, schema_text
from sdk.recipe.loader import read

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "recipes").glob("*.yaml"))
SCHEMA_LINE = "# yaml-language-server: $schema=../schemas/recipe.schema.json"


def _validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _errors(data: Any) -> list[tuple[list[Any], str]]:
    return [(list(e.absolute_path), e.message) for e in _validator().iter_errors(data)]


def test_shipped_schema_is_what_the_models_generate_today() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), (
        f"{SCHEMA_FILE.relative_to(ROOT)} is out of date with schemas/ (a kind or field changed); "
        f"regenerate it from the repository root with:\n    {REGENERATE}")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_recipe_is_valid_under_the_schema_and_names_it(path: Path) -> None:
    assert SCHEMA_LINE in path.read_text().splitlines()
    assert _errors(read(path).data) == []


def _pipeline() -> dict[str, Any]:
    return read(ROOT / "recipes" / "pipeline-tiny.yaml").data


def _redistill() -> dict[str, Any]:
    return read(ROOT / "recipes" / "re-distill.yaml").data


def _set(data: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    node = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return data


@pytest.mark.parametrize(("data", "at", "says"), [
    (_set(_pipeline(), ["stages", 0, "lrr"], 1e-3), ["stages", 0], "'lrr' was unexpected"),
    (_set(_pipeline(), ["stages", 0, "lr"], "fast"), ["stages", 0, "lr"], "'fast'"),
    (_set(_pipeline(), ["stages", 0, "lr"], -1), ["stages", 0, "lr"], "minimum"),
    (_set(_pipeline(), ["stages", 0, "kind"], "sfft"), ["stages", 0, "kind"], "'sfft'"),
    (_set(_pipeline(), ["stages", 1, "steps"], 3), ["stages", 1], "'steps' was unexpected"),  # a grpo key on generate
    (_set(_pipeline(), ["recipe"], "pipe"), ["recipe"], "'pipe'"),
    (_set(_pipeline(), ["models", "base"], {"sorce": "x"}), ["models", "base"], ""),
    (_set(_pipeline(), ["models", "base"], 5), ["models", "base"], ""),
    (_set(_pipeline(), ["data", "train", "size"], 0), ["data", "train", "size"], "minimum of 1"),
    (_set(_pipeline(), ["data", "train", "source"], "csv"), ["data", "train", "source"], "'csv'"),
    (_set(_pipeline(), ["stages", 0, "scheduler"], "cosin"), ["stages", 0, "scheduler"], ""),
    (_set(_redistill(), ["rl", "stepz"], 3), ["rl"], "'stepz' was unexpected"),
    (_set(_redistill(), ["runner", "bucket"], "my-bucket"), ["runner", "bucket"], ""),
    (_set(_redistill(), ["data", "train", "parts", 0, "tsk"], "x"), ["data", "train", "parts", 0], "'tsk'"),
    ({k: v for k, v in _pipeline().items() if k != "name"}, [], "'name' is a required property"),
], ids=["unknown-key", "wrong-type", "below-bound", "unknown-stage-kind", "key-of-another-kind",
        "unknown-recipe-kind", "unknown-model-key", "model-not-a-string", "data-size-bound", "unknown-data-source",
        "enum", "re-distill-unknown-key", "bucket-pattern", "mix-part-key", "missing-name"])
def test_wrong_recipe_is_invalid_at_the_path_of_its_mistake(data: dict[str, Any], at: list[Any], says: str) -> None:
    errors = _errors(data)
    assert errors, "the schema accepted a wrong recipe"
    best = jsonschema.exceptions.best_match(_validator().iter_errors(data))
    assert list(best.absolute_path) == at, errors
    assert says in best.message


@pytest.mark.parametrize(("path", "value"), [
    (["models", "base"], "Qwen/Qwen2.5-1.5B"),
    (["models", "base"], "./checkpoints/step-100"),
    (["models", "base"], {"source": "tiny:llama", "seed": 3}),
    (["stages", 0, "lr"], "${vars.lr}"),
    (["stages", 0, "resources"], "${vars.gpus}"),
    (["stages", 0, "scheduler"], "${oc.env:SCHEDULER,cosine}"),
    (["stages", 3, "models"], "${vars.models}"),
    (["stages", 3, "models", 0], "${vars.first}"),
    (["runner"], "${vars.runner}"),
    (["stages", 0, "kind"], "${vars.kind}"),
])
def test_shorthands_and_interpolations_are_valid_where_the_loader_takes_them(path: list[Any], value: Any) -> None:
    assert _errors(_set(_pipeline(), path, value)) == []


def test_every_block_has_hover_text() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert all(body.get("description") for body in schema["$defs"].values())


def test_every_field_a_user_writes_has_hover_text() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    missing = [f"{name}.{field}" for name, body in schema["$defs"].items()
               for block in [body, *body.get("anyOf", [])]
               for field, prop in block.get("properties", {}).items() if not prop.get("description")]
    assert missing == [], f"give these fields a docstring (the editor shows it on hover), then: {REGENERATE}"
