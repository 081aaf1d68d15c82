"""fan-out: `matrix:` unrolled into branches, each validated here and given an id safe anywhere.

A branch id is `stage[field=value,...]`. Values may be anything a field takes (numbers, strings
with spaces, null, a `lora:` mapping), so each is written in a short readable form, with a hash of
the value when that form alone could not tell it apart: the id is always a valid stage id and a
valid file name.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from sdk.errors import Problem, RecipeError, did_you_mean
from sdk.plan import canonical
from sdk.recipe.loader import Document

if TYPE_CHECKING:
    from sdk.compile.expanded import Expanded

_PLAIN = re.compile(r"[A-Za-z0-9_.+\-]{1,24}")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+\-]+")
NOT_MATRIX = ("id", "kind", "matrix")
"""Fields a matrix may not vary: they are what makes the stage itself."""


def value_label(value: Any) -> str:
    """`1e-05`, `true`, `null`, `cosine`; anything else: a readable part plus a hash of the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str) and _PLAIN.fullmatch(value):
        return value
    readable = _UNSAFE.sub("-", value if isinstance(value, str) else canonical(value)).strip("-")[:16]
    digest = hashlib.sha256(canonical(value).encode()).hexdigest()[:6]
    return f"{readable}-{digest}" if readable else digest


def fan_out(expanded: list[Expanded], doc: Document) -> list[Expanded]:
    """Unroll `matrix:` into branches and carry branches down to the stages that use them."""
    branches: dict[str, list[str]] = {}
    out: list[Expanded] = []
    for item in expanded:
        spec = item.spec
        _check_keys(item, doc)
        single = [(f, getattr(spec, f)) for f in spec.INPUTS if isinstance(getattr(spec, f), str)]
        upstream = [(f, ref) for f, ref in single if _branched(ref, branches)]
        lists = {f: [b for ref in getattr(spec, f) for b in _branched(ref, branches) or [ref]]
                 for f in spec.INPUTS if isinstance(getattr(spec, f), list)}
        base = spec.model_copy(update={**lists, "matrix": {}})
        if not spec.matrix and not upstream:
            out.append(item._replace(spec=base))
            continue
        combos = [dict(zip(spec.matrix, values, strict=True)) for values in itertools.product(*spec.matrix.values())]
        made = [_branch(item, base, combo, dict(p for group in picks for p in group), doc)
                for combo, picks in itertools.product(combos, itertools.product(*_upstream_picks(upstream, branches)))]
        _check_distinct(item, made, doc)
        branches[spec.id] = [m.spec.id for m in made]
        out.extend(made)
    return out


def _branched(ref: str, branches: dict[str, list[str]]) -> list[str]:
    """The branch references a reference fans out into: `stage` -> its branch ids, `stage.output` ->
    each branch's `.output`; [] when its stage did not fan out."""
    if ref in branches:
        return branches[ref]
    head, _, name = ref.rpartition(".")
    return [f"{b}.{name}" for b in branches.get(head, [])]


def _upstream_picks(upstream: list[tuple[str, str]], branches: dict[str, list[str]]) -> list[list[tuple]]:
    """Per fanned-out upstream stage, its choices: one branch for every field that refers to it (so
    `data: split.injection` and `mastered: split.mastered` always come from the same split branch)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for field, ref in upstream:
        groups.setdefault(ref if ref in branches else ref.rpartition(".")[0], []).append((field, ref))
    return [[tuple((f, _branched(ref, branches)[i]) for f, ref in members) for i in range(len(branches[stage]))]
            for stage, members in groups.items()]


def _check_keys(item: Expanded, doc: Document) -> None:
    spec, origin = item
    fields = type(spec).model_fields
    problems = [doc.problem((*origin, "matrix", key), f"{spec.kind} has no field {key!r}", key=True,
                            hint=did_you_mean(key, fields)) for key in spec.matrix if key not in fields]
    problems += [doc.problem((*origin, "matrix", key), f"a matrix cannot vary {key!r}", key=True)
                 for key in spec.matrix if key in NOT_MATRIX]
    problems += [doc.problem((*origin, key), f"{key!r} is swept by this stage's matrix (matrix.{key}), so this "
                             "value would never take effect", hint=f"change the values of matrix.{key}, or take "
                             f"{key!r} out of the matrix") for key in spec.matrix
                 if key in fields and key not in NOT_MATRIX and key in spec.model_fields_set]
    if problems:
        raise RecipeError(problems)


def _branch(item: Expanded, base: Any, combo: dict[str, Any], picks: dict[str, str], doc: Document) -> Expanded:
    """One branch: the spec with the combo's values, validated now (not when the stage starts)."""
    spec, origin = item
    suffix = [f"{k}={value_label(v)}" for k, v in combo.items()]
    suffix += dict.fromkeys(ref.split("[", 1)[1].rsplit("]", 1)[0] for ref in picks.values() if "[" in ref)
    branch_id = f"{spec.id}[{','.join(suffix)}]"
    try:
        branch = type(spec).model_validate({**base.model_dump(exclude_unset=True), **combo, **picks, "id": branch_id})
    except ValidationError as err:
        raise RecipeError([_value_problem(item, combo, e, doc) for e in err.errors(include_url=False)]) from None
    return item._replace(spec=branch)


def _value_problem(item: Expanded, combo: dict[str, Any], error: Any, doc: Document) -> Problem:
    """Locate a branch's validation error at the matrix value that caused it, naming value and rule."""
    spec, origin = item
    loc = error["loc"]
    message = error["msg"].removeprefix("Value error, ")
    if loc and loc[0] in combo:
        key, value = loc[0], combo[loc[0]]
        index = next(i for i, v in enumerate(spec.matrix[key]) if v == value)
        inner = ".".join(str(p) for p in loc[1:])
        return doc.problem((*origin, "matrix", key, index),
                           f"{key} = {value!r}: {inner + ': ' if inner else ''}{message}")
    where = ", ".join(f"{k}={v!r}" for k, v in combo.items())
    return doc.problem((*origin, "matrix"), f"the branch {where}: {message}")


def _check_distinct(item: Expanded, made: list[Expanded], doc: Document) -> None:
    ids = [m.spec.id for m in made]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise RecipeError(doc.problem((*item.origin, "matrix"), f"the matrix gives branch {twice[0]!r} twice",
                                      hint="list each value once"))
