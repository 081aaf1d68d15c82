"""validate: a loaded Document -> a Recipe model, with every pydantic error located and explained."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from schemas import RECIPE_KINDS, Schema, recipe_class
from schemas.models import MODEL_TAGS
from sdk.errors import SYNONYMS, Problem, RecipeError, closest
from sdk.recipe.blocks import block_at
from sdk.recipe.loader import Document, Path_, dotted

TAG_KEYS = ("recipe", "kind", "source")


@cache
def _known_tags(key: str) -> tuple[str, ...]:
    """The values a discriminator may take, read from the unions themselves."""
    from typing import get_args

    from schemas import DataSpec
    from schemas.kinds import Recipe
    from schemas.stage_kinds import PipelineStage

    union = {"recipe": Recipe, "kind": PipelineStage, "source": DataSpec}.get(key)
    if union is None:
        return ()
    return tuple(tag for member in get_args(get_args(union)[0])
                 for tag in get_args(member.model_fields[key].annotation))
"""Discriminator keys: pydantic puts their value into an error's `loc`; the file does not have it."""


@cache
def recipe_adapter(kind: str | None = None) -> TypeAdapter[Any]:
    """The validator of one recipe kind (only its schema is built), or of the union of all of them."""
    if kind is None:
        from schemas.kinds import Recipe

        return TypeAdapter(Recipe)
    return TypeAdapter(recipe_class(kind))


@cache
def _vocabulary() -> tuple[str, ...]:
    """Every field name any recipe block has (the fallback candidates where the block is not known)."""
    names: set[str] = set()
    todo = [Schema]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        names.update(cls.model_fields)
    return tuple(sorted(names))


def _unknown_field_hint(word: str, loc: tuple[Any, ...], siblings: list[str]) -> str | None:
    """Did-you-mean from the fields of the block the key is in (and the names other tools use for them);
    where the word is a field of another kind of that block (`steps` on an sft stage), say so."""
    block, others = block_at(loc[:-1])
    own = list(block.model_fields) if block is not None else [w for w in _vocabulary() if w != word]
    guess = closest(word, siblings) or closest(word, own)
    mean = f"did you mean {guess!r}?" if guess else None
    ours = word if any(word in cls.model_fields for cls in others.values()) else SYNONYMS.get(word, word)
    elsewhere = [tag for tag, cls in others.items() if ours in cls.model_fields]
    if block is None or not elsewhere or ours in block.model_fields:
        return mean
    this = next((tag for tag, cls in others.items() if cls is block), block.__name__)
    named = f"`{word}`" if ours == word else f"`{word}` (here `{ours}`)"
    note = f"{named} is a field of {' and '.join(elsewhere)}, not of {this}"
    return f"{note}; {mean}" if mean else note


def validate(doc: Document) -> Any:
    """Validate a Document into its Recipe model, or raise a RecipeError listing every problem."""
    kind = doc.data.get("recipe") if isinstance(doc.data, dict) else None
    kind = kind if isinstance(kind, str) and kind in RECIPE_KINDS else None  # else the union says what is wrong
    try:
        recipe = recipe_adapter(kind).validate_python(doc.data)
    except ValidationError as err:
        errors = err.errors(include_url=False)
        if kind is not None:  # as the union reports them: the kind's tag first
            errors = [{**e, "loc": (kind, *e["loc"])} for e in errors]
        raise RecipeError(located_problems(doc, errors)) from None
    recipe._source = doc
    return recipe


def located_problems(doc: Document, errors: list[Any], prefix: Path_ = ()) -> list[Problem]:
    fitting = [e for e in errors if not _other_branch(doc.data, (*prefix, *e["loc"]))]
    errors = fitting or errors  # `alpha: ["0.2", 0.6]` is wrong as a list, not "not a float"
    paths = [(_file_path(doc.data, (*prefix, *e["loc"])), e) for e in errors]
    missing = {(p[:-1], p[-1]) for p, e in paths if e["type"] == "missing"}
    problems = []
    for path, e in paths:
        kind = e["type"]
        if kind == "extra_forbidden" and (tag := _overridden_tag(doc, path[:-1])):
            key, value = tag
            problems.append(doc.problem((*path[:-1], key), f"{key} {value!r} has no field {path[-1]!r}",
                                        hint=f"this override changed the {key}; change or delete that field too"))
        elif kind == "extra_forbidden":
            siblings = [str(name) for parent, name in missing if parent == path[:-1]]
            hint = _unknown_field_hint(str(path[-1]), (*prefix, *e["loc"]), siblings)
            if len(path) == 1 and (hint is None or "did you mean" not in hint):
                hint = ((hint + "; ") if hint else "") + ("values shared between blocks, and the YAML anchors "
                                                         "(&name) that hold them, go under `vars:`")
            problems.append(doc.problem(path, f"unknown field {path[-1]!r}", key=True, hint=hint))
        elif kind == "missing":
            if any(parent == path[:-1] for parent, _ in (_extra(paths))):
                continue  # reported as the misspelled key beside it
            problems.append(doc.problem(path[:-1], f"missing required field {path[-1]!r}"))
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            problems.append(_tag_problem(doc, path, e))
        elif path and path[-1] == "[key]":  # a mapping key itself is wrong (a name): point at the key
            if isinstance(e.get("input"), bool) or e.get("input") is None:
                where = doc.locate(path[:-1], key=True)
                read_as = str(e.get("input")).lower().replace("none", "null")
                problems.append(Problem(f"this key is read as {read_as}, and a name must be text", where.file,
                                        where.line, where.col, dotted(path[:-2]),
                                        "YAML reads unquoted no/yes/on/off/true/false/null so; quote the name: \"no\""))
            else:
                problems.append(doc.problem(path[:-1], e["msg"].removeprefix("Value error, "), key=True))
        elif kind in NUMBER_ERRORS and isinstance(e.get("input"), (str, bool)):
            given = e["input"]
            text = f"the string {given!r}" if isinstance(given, str) else str(given).lower()
            hint = "numbers are never read from text; remove the quotes" if _numeric_text(given) else None
            problems.append(doc.problem(path, f"{NUMBER_ERRORS[kind]}, not {text}", hint=hint))
        else:
            message = e["msg"].removeprefix("Value error, ")
            problems.append(doc.problem(path, message))
    return sorted(problems, key=lambda p: (p.file, p.line or 0, p.col or 0))


def _numeric_text(given: object) -> bool:
    try:
        float(given)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return isinstance(given, str)


NUMBER_ERRORS = {"int_type": "give a whole number", "float_type": "give a number"}
"""Strict numbers (schemas/_base.py): a quoted number or a boolean where a number goes is refused, not read."""


def _overridden_tag(doc: Document, parent: Path_) -> tuple[str, Any] | None:
    """The discriminator (`kind`, `source`, `recipe`) of a block when a command-line override set it."""
    node: Any = doc.data
    for step in parent:
        node = node[step] if isinstance(node, (dict, list)) else None
    for key in TAG_KEYS:
        where = doc.values.get((*parent, key))
        if isinstance(node, dict) and key in node and where and where.file.startswith("override "):
            return key, node[key]
    return None


def _extra(paths: list[tuple[Path_, Any]]) -> list[tuple[Path_, Any]]:
    return [(p[:-1], p[-1]) for p, e in paths if e["type"] == "extra_forbidden"]


def _tag_problem(doc: Document, path: Path_, e: Any) -> Problem:
    key = str(e["ctx"]["discriminator"]).strip("'")
    tags = e["ctx"].get("expected_tags") or ", ".join(_known_tags(key))
    expected = [t.strip().strip("'") for t in str(tags).split(",")]
    if e["type"] == "union_tag_not_found":
        return doc.problem(path, f"missing {key!r}", hint=f"one of: {', '.join(expected)}")
    tag = str(e["ctx"]["tag"])
    guess = closest(tag, expected)
    hint = f"did you mean {guess!r}?" if guess else f"one of: {', '.join(expected)}"
    return doc.problem((*path, key), f"unknown {key} {tag!r}", hint=hint)


SCALAR_BRANCHES = ("float", "int", "bool", "str", "none")


def _other_branch(data: Any, loc: tuple[Any, ...]) -> bool:
    """Whether a union's error is about a member the value's shape rules out (a list checked as a float)."""
    node = data
    for step in loc:
        if isinstance(node, dict):
            node = node.get(step, node)
            continue
        if isinstance(step, str):
            if step.startswith(("list[", "tuple[")) and not isinstance(node, list):
                return True
            if step in SCALAR_BRANCHES and isinstance(node, (list, dict)):
                return True
            continue
        node = node[step] if isinstance(node, list) and isinstance(step, int) and step < len(node) else None
    return False


def _file_path(data: Any, loc: tuple[Any, ...]) -> Path_:
    """Turn a pydantic `loc` into the path in the file: drop the tags of discriminated unions."""
    path: list[str | int] = []
    node = data
    for step in loc:
        if isinstance(node, dict) and step not in node and any(node.get(k) == step for k in TAG_KEYS):
            continue  # the discriminator value pydantic inserted
        if step in ("function-after", "function-before", "function-wrap", "str", "list", *MODEL_TAGS):
            continue
        if isinstance(step, str) and not isinstance(node, dict) and (
                step in SCALAR_BRANCHES or step.startswith(("list[", "tuple["))):
            continue  # the member of a union pydantic names
        path.append(step)
        if isinstance(node, dict):
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        else:
            node = None
    return tuple(path)
