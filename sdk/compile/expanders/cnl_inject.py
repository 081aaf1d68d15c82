"""The `cnl-inject` kind: one split of the base's answers, then each arm trained on it, then the counts.

Every arm is an sft stage on `split.injection` with `split.mastered` (g_M, in-set forgetting) and
`split.heldout` (out-of-set forgetting) as inputs, so all arms share the one cached split.
"""

from __future__ import annotations

from typing import Any

from schemas import ForgettingStage, SftStage, SplitStage
from schemas.cnl_inject import CnlInjectRecipe
from sdk.compile.blocks import knobs
from sdk.compile.expanded import Expanded
from sdk.errors import RecipeError
from sdk.recipe.loader import Document

OWN_WIRING = ("mastered", "heldout", "injection", "cnl", "migu")
"""Fields this kind sets itself in each block, besides the usual ones."""


def _knobs(block: Any) -> dict[str, Any]:
    return knobs(block, OWN_WIRING, written_only=False)  # the blocks carry the paper's settings as defaults


def expand(r: CnlInjectRecipe, where: Document) -> list[Expanded]:
    doc = where
    twice = sorted({a for a in r.arms if r.arms.count(a) > 1})
    if twice:
        raise RecipeError(doc.problem(("arms",), f"arm {twice[0]!r} is listed twice"))
    split = SplitStage.model_validate({**_knobs(r.split), "id": "split", "kind": "split", "model": r.base,
                                       "data": r.questions, "heldout": r.split.heldout})
    heldout = "split.heldout" if r.split.heldout else None
    sets = {"mastered": "split.mastered", "heldout": heldout}
    out = [Expanded(split, ("split",))]
    for arm in r.arms:
        mask = {"cnl": {"cnl": r.cnl.model_dump()}, "migu": {"migu": r.migu.model_dump()}}.get(arm, {})
        try:
            spec = SftStage.model_validate({**_knobs(r.train), **mask, **sets, "id": arm, "kind": "sft",
                                            "model": r.base, "data": "split.injection"})
        except ValueError as err:
            raise RecipeError(doc.problem(("train",), f"arm {arm}: {str(err).splitlines()[-1].strip()}")) from None
        out.append(Expanded(spec, ("arms", r.arms.index(arm))))
    count = ForgettingStage.model_validate({**_knobs(r.evaluate), "id": "forgetting", "kind": "forgetting",
                                            "models": [r.base, *r.arms], "injection": "split.injection", **sets})
    out.append(Expanded(count, ("evaluate",)))
    return out
