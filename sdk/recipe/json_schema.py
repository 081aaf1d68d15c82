"""The JSON Schema of a recipe file as a person writes it: what editors complete, explain and check.

pydantic's schema describes the models; a file may say more than that. Rewrites, in one walk:
  - a tagged union (`recipe:`, `kind:`, `source:`) becomes `tag: enum` plus `if tag is X then X's block`,
    so an editor (and `jsonschema`) narrows to one block and reports a problem at its own key;
  - every value may instead be a `${...}` interpolation (resolved when the recipe loads);
  - property titles (`Lr`) go: the field's docstring is the hover text.
Shorthands (`base: tiny:qwen2`) come from the blocks themselves (`Schema.SHORTHAND`).
The copy editors read ships as `schemas/recipe.schema.json`; a test regenerates it and compares.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import schemas

SCHEMA_FILE = Path(schemas.__file__).resolve().parent / "recipe.schema.json"
REGENERATE = "python -m sdk.cli schema > schemas/recipe.schema.json"
"""The one command that rewrites the shipped schema after a schema change (run from the repository root)."""

INTERPOLATION = {
    "type": "string",
    "pattern": r"\$\{.+\}",
    "description": "An interpolation such as `${vars.lr}` or `${oc.env:VAR,default}`, resolved when the recipe loads.",
}
_ANNOTATIONS = ("title", "description", "default", "examples", "deprecated")
_INTERP_REF = {"$ref": "#/$defs/Interpolation"}


def recipe_schema() -> dict[str, Any]:
    """The JSON Schema (draft 7, with `$defs`) of a recipe file as written, before loading."""
    from schemas import Schema, describe_fields
    from sdk.recipe.validate import recipe_adapter

    raw = recipe_adapter().json_schema()
    describe_fields(raw, Schema)  # the field docstrings, read from the source now (not at every import)
    defs = {name: _tags_described(_rewrite(body)) for name, body in raw.pop("$defs").items()}
    defs["Interpolation"] = INTERPOLATION
    root = _rewrite(raw)
    return {"$schema": "http://json-schema.org/draft-07/schema#", "$id": "recipe.schema.json", "title": "recipe",
            "description": "A post-training recipe: `recipe: KIND`, then that kind's blocks. "
                           "Made by `recipe schema`.", **root, "$defs": defs}


def schema_text() -> str:
    """The schema as the shipped file holds it (stable key order, trailing newline)."""
    return json.dumps(recipe_schema(), indent=2, ensure_ascii=False) + "\n"


def _rewrite(node: Any) -> Any:
    """Rewrite one schema node and everything below it."""
    if isinstance(node, list):
        return [_rewrite(n) for n in node]
    if not isinstance(node, dict):
        return node
    if "discriminator" in node:
        node = _tagged_union(node)
    out = {k: v if k == "if" else _rewrite(v) for k, v in node.items()
           if k not in ("properties", "items", "additionalProperties")}
    if "properties" in node:
        out["properties"] = {k: _or_interpolation(_untitled(_rewrite(v))) for k, v in node["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            out[key] = _or_interpolation(_rewrite(node[key]))
        elif key in node:
            out[key] = node[key]
    return out


def _tags_described(body: dict[str, Any]) -> dict[str, Any]:
    """A block's fixed tag (`kind: sft`) gets the block's own description as its hover text."""
    about = " ".join(str(body.get("description", "")).split(". ")[0].split())
    for name, prop in body.get("properties", {}).items():
        fixed = prop.get("const", next((a["const"] for a in prop.get("anyOf", []) if "const" in a), None))
        if fixed is not None and not prop.get("description") and about:
            prop["description"] = f"`{name}: {fixed}`: {about.rstrip('.')}."
    return body


def _untitled(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k != "title"}


def _tagged_union(node: dict[str, Any]) -> dict[str, Any]:
    """`oneOf` + `discriminator` -> `tag: enum` and `allOf: [if tag == X then X]`, which editors narrow on."""
    tag = node["discriminator"]["propertyName"]
    mapping = node["discriminator"]["mapping"]
    rest = {k: v for k, v in node.items() if k not in ("discriminator", "oneOf")}
    branches = [{"if": {"properties": {tag: {"const": value}}, "required": [tag]}, "then": {"$ref": ref}}
                for value, ref in mapping.items()]
    return {**rest, "type": "object", "required": [tag],
            "properties": {tag: {"description": "Which kind of block this is; its other keys depend on it.",
                                 "enum": list(mapping)}},
            "allOf": branches}


def _or_interpolation(node: Any) -> Any:
    """A value schema that also accepts a `${...}` string (unless any string is fine already)."""
    if not isinstance(node, dict) or not node or _any_string(node):
        return node
    notes = {k: node[k] for k in _ANNOTATIONS if k in node}
    check = {k: v for k, v in node.items() if k not in _ANNOTATIONS}
    alternatives = check["anyOf"] if list(check) == ["anyOf"] else [check]
    return {**notes, "anyOf": [*alternatives, _INTERP_REF]}


def _any_string(node: dict[str, Any]) -> bool:
    checks = set(node) - set(_ANNOTATIONS)
    return node.get("type") == "string" and checks == {"type"}
