"""blocks: which schema block a place in a recipe is, read from the types (for did-you-mean hints).

A pydantic error's `loc` walks the recipe as validated: field names, list indexes, mapping keys, and
the tag of each discriminated union it went through (`kind: sft` gives the step `sft`). Following the
same steps through the annotations finds the model class the place belongs to, and the other members
of the last tagged union on the way (the other stage kinds, data sources, recipe kinds).
"""

from __future__ import annotations

import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from schemas.stages.base import StageSpec


def block_at(loc: tuple[Any, ...]) -> tuple[type[BaseModel] | None, dict[str, type[BaseModel]]]:
    """(the model class at `loc`, tag -> class of its alternatives); (None, {}) where the walk gets lost."""
    from schemas.kinds import Recipe

    tp: Any = Recipe
    kinds: dict[str, type[BaseModel]] = {}
    for step in loc:
        tp, tagged = _step(tp, step)
        if tagged:
            kinds = tagged
        if tp is None:
            return None, {}
    block = _model(tp)
    if block is not None and not kinds and issubclass(block, StageSpec):
        from schemas.stage_kinds import STAGE_SPECS

        kinds = dict(STAGE_SPECS)
    return block, kinds


def _step(tp: Any, step: Any) -> tuple[Any, dict[str, type[BaseModel]]]:
    tp = _unwrap(tp)
    members = _members(tp)
    if members:
        tagged = _tagged(members)
        if isinstance(step, str) and step in tagged:
            return tagged[step], tagged
        models = [m for m in members if _model(m) is not None or get_origin(m) in (list, dict)]
        return (_step(models[0], step)[0] if len(models) == 1 else None), {}
    model = _model(tp)
    if model is not None:
        field = model.model_fields.get(step) if isinstance(step, str) else None
        return (field.annotation if field is not None else None), {}
    origin, args = get_origin(tp), get_args(tp)
    if origin is list and isinstance(step, int):
        return args[0], {}
    if origin is dict and args:
        return args[1], {}
    return None, {}


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _members(tp: Any) -> list[Any]:
    if get_origin(tp) in (Union, types.UnionType):
        return [_unwrap(a) for a in get_args(tp) if a is not type(None)]
    return []


def _tagged(members: list[Any]) -> dict[str, type[BaseModel]]:
    """tag -> member for the members whose discriminator field (`kind`, `source`, `recipe`) is a Literal."""
    out: dict[str, type[BaseModel]] = {}
    for member in members:
        model = _model(member)
        if model is None:
            continue
        for key in ("kind", "source", "recipe"):
            field = model.model_fields.get(key)
            if field is not None and get_origin(field.annotation) is Literal:
                out.update({tag: model for tag in get_args(field.annotation)})
                break
    return out


def _model(tp: Any) -> type[BaseModel] | None:
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    members = [m for m in _members(tp) if isinstance(m, type) and issubclass(m, BaseModel)]
    return members[0] if len(members) == 1 and len(_members(tp)) == 1 else None
