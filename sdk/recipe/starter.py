"""recipe init: a new recipe file of a kind, started from that kind's tiny twin and commented from the schema.

The tiny twin (`recipes/<kind>-tiny.yaml`) is a recipe that runs on a CPU in minutes, so the new file
validates, plans and applies as written. Each block gets the docstring of its field as a comment, and
the `# yaml-language-server: $schema=...` line makes an editor complete and check the rest.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any, get_args

import yaml

from sdk.errors import Problem, RecipeError, did_you_mean
from sdk.recipe.json_schema import SCHEMA_FILE, recipe_schema
from sdk.recipe.loader import read

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
WIDTH = 100
FLOW_WIDTH = 110
"""A mapping or list of scalars is written on one line when it fits in this many characters."""


def recipe_kinds() -> dict[str, str]:
    """Every recipe kind with the first line of its docstring."""
    from schemas.kinds import Recipe

    members = get_args(get_args(Recipe)[0])
    return {get_args(m.model_fields["recipe"].annotation)[0]: (m.__doc__ or "").strip().splitlines()[0]
            for m in members}


def tiny_twin(kind: str) -> Path:
    """The shipped tiny recipe of a kind, or a RecipeError naming the kinds there are."""
    kinds = recipe_kinds()
    if kind not in kinds:
        hint = did_you_mean(kind, kinds, f"one of: {', '.join(kinds)}")
        raise RecipeError(Problem(f"unknown recipe kind {kind!r}", hint=hint))
    path = RECIPES / f"{kind}-tiny.yaml"
    if not path.exists():
        raise RecipeError(Problem(f"no tiny twin for {kind!r} at {path}",
                                  hint="`recipe init` needs the recipes/ folder of a checkout"))
    return path


def starter_text(kind: str, name: str, dest: Path) -> str:
    """The text of a new `kind` recipe called `name`, to be written at `dest`."""
    twin = tiny_twin(kind)
    data = read(twin).data
    data["name"] = name
    _rebase_paths(data.get("data") or {}, twin.parent, dest.resolve().parent)
    for model in (data.get("models") or {}).values():  # a chained recipe's path is relative to the file
        if isinstance(model, dict) and isinstance(model.get("recipe"), str):
            model["recipe"] = os.path.relpath((twin.parent / model["recipe"]).resolve(), dest.resolve().parent)
    schema = recipe_schema()
    about = (f"{name}: a `{kind}` recipe. {recipe_kinds()[kind]} Started from {twin.parent.name}/{twin.name}: "
             "a tiny random model on procedural data, so it runs on a CPU in minutes; point `models:` and "
             "`data:` at real ones to scale it up.")
    header = [f"# yaml-language-server: $schema={_schema_ref(dest)}",
              *(f"# {line}" for line in textwrap.wrap(about, WIDTH - 2)),
              f"#   recipe validate {dest.name} && recipe plan {dest.name} && recipe apply {dest.name}"]
    body = _Writer(schema).mapping(data, schema, 0, top=True)
    return "\n".join([*header, *body]) + "\n"


def write_starter(kind: str, name: str | None = None, out: str | Path | None = None, *,
                  force: bool = False) -> Path:
    """Write a new recipe of `kind` (default name: the kind) to `out` (default: ./NAME.yaml)."""
    name = name or kind
    dest = Path(out) if out else Path(f"{name}.yaml")
    if dest.exists() and not force:
        raise RecipeError(Problem("file exists; not overwriting it", str(dest), hint="choose another NAME or --force"))
    text = starter_text(kind, name, dest)
    dest.write_text(text)
    return dest


def _rebase_paths(data: dict[str, Any], twin_dir: Path, dest_dir: Path) -> None:
    """Point the twin's local data files (`path:`, relative to the twin) at the same files from `dest_dir`."""
    specs = [*data.values(), *(part for spec in data.values() if isinstance(spec, dict)
                               for part in spec.get("parts") or [])]
    for spec in specs:
        if isinstance(spec, dict) and isinstance(spec.get("path"), str) and not Path(spec["path"]).is_absolute():
            target = (twin_dir / spec["path"]).resolve()
            inside = dest_dir.is_relative_to(RECIPES.parent)
            spec["path"] = os.path.relpath(target, dest_dir) if inside else str(target)


def _schema_ref(dest: Path) -> str:
    """The schema's path as the new file should name it: relative inside this checkout, else absolute."""
    here = dest.resolve().parent
    return os.path.relpath(SCHEMA_FILE, here) if here.is_relative_to(RECIPES.parent) else str(SCHEMA_FILE)


class _Writer:
    """YAML lines with a comment from the schema above each block (key order and values kept)."""

    def __init__(self, schema: dict[str, Any]):
        self.defs = schema["$defs"]

    def mapping(self, data: dict[str, Any], schema: Any, indent: int, top: bool = False) -> list[str]:
        lines: list[str] = []
        pad = " " * indent
        said: set[str] = set()
        for key, value in data.items():
            field = self.field(schema, data, key)
            note = _first_sentence(self.description(field, value))
            if note and note not in said:
                said.add(note)
                lines += [f"{pad}# {line}" for line in textwrap.wrap(note, WIDTH - indent - 2)]
            lines += self.entry(f"{pad}{_scalar(key)}:", value, field, indent)
            if top:
                lines.append("")
        return lines[:-1] if top and lines else lines

    def entry(self, head: str, value: Any, schema: Any, indent: int) -> list[str]:
        flow = _flow(value)
        if flow is not None and len(head) + 1 + len(flow) <= FLOW_WIDTH:
            return [f"{head} {flow}"]
        if isinstance(value, dict):
            return [head, *self.mapping(value, schema, indent + 2)]
        return [head, *self.sequence(value, schema, indent + 2)]

    def sequence(self, items: list[Any], schema: Any, indent: int) -> list[str]:
        pad = " " * indent
        item_schema = next((b["items"] for b in self.branches(schema, items) if "items" in b), None)
        lines: list[str] = []
        for item in items:
            note = _first_sentence(self.description(item_schema, item))
            if note and isinstance(item, dict):
                lines += [f"{pad}# {line}" for line in textwrap.wrap(note, WIDTH - indent - 2)]
            flow = _flow(item)
            if flow is not None and indent + 2 + len(flow) <= FLOW_WIDTH:
                lines.append(f"{pad}- {flow}")
            elif isinstance(item, dict):
                inner = self.mapping(item, item_schema, indent + 2)
                while inner[0].lstrip().startswith("#"):  # the item's own note stands above the dash
                    inner.pop(0)
                lines += [f"{pad}- {inner[0].lstrip()}", *inner[1:]]
            else:
                lines += [f"{pad}-", *self.sequence(item, item_schema, indent + 2)]
        return lines

    def deref(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            node = self.defs[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def branches(self, node: Any, value: Any) -> list[dict[str, Any]]:
        """The schema nodes that describe `value`: through refs, alternatives and matching if/then."""
        node = self.deref(node)
        if not isinstance(node, dict) or node is self.defs["Interpolation"]:
            return []
        found = [node]
        for alt in node.get("anyOf", []):
            found += self.branches(alt, value)
        for part in node.get("allOf", []):
            cond = part.get("if", {}).get("properties", {})
            if isinstance(value, dict) and all(value.get(k) == c.get("const") for k, c in cond.items()):
                found += self.branches(part["then"], value)
        return found

    def field(self, schema: Any, data: dict[str, Any], key: str) -> Any:
        for node in self.branches(schema, data):
            if key in node.get("properties", {}):
                return node["properties"][key]
        for node in self.branches(schema, data):
            if isinstance(node.get("additionalProperties"), dict):
                return node["additionalProperties"]
        return None

    def description(self, schema: Any, value: Any) -> str:
        found = [n["description"] for n in ([schema] if isinstance(schema, dict) else []) + self.branches(schema, value)
                 if isinstance(n, dict) and n.get("description") and not n["description"].startswith("Which kind")]
        return found[0] if found else ""


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    cut = text.find(". ")
    return text if cut < 0 else text[: cut + 1]


def _scalar(value: Any) -> str:
    """One YAML value on one line, quoted where YAML needs it (flow indicators, `${...}` in a flow)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, allow_unicode=True, sort_keys=False)
    return text.strip().removesuffix("...").strip()


def _flow(value: Any) -> str | None:
    """One-line YAML for a scalar or a mapping/list of scalars; None for nested blocks."""
    if isinstance(value, dict) and any(isinstance(v, (dict, list)) and not _is_scalar_list(v) for v in value.values()):
        return None
    if isinstance(value, list) and not _is_scalar_list(value):
        return None
    return _scalar(value)


def _is_scalar_list(value: Any) -> bool:
    return isinstance(value, list) and not any(isinstance(v, (dict, list)) for v in value)
