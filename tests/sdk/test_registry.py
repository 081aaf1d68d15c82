"""Every registered kind is complete: a spec with its traits, an importable entry, shipped recipes."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path
from typing import get_args

from schemas import STAGE_SPECS, Curve, Recipe, StageSpec
from sdk.registry import RECIPE_EXPANDERS, RUNNERS, load_runner
from stages.registry import STAGE_KINDS

ROOT = Path(__file__).resolve().parents[2]


def test_every_stage_spec_has_a_registered_runnable_module():
    assert set(STAGE_SPECS) == set(STAGE_KINDS)
    for kind, entry in STAGE_KINDS.items():
        module, _, function = entry.partition(":")
        assert module.startswith("stages."), kind
        assert importlib.util.find_spec(module) is not None, kind
        assert f"def {function}(" in Path(importlib.util.find_spec(module).origin).read_text(), kind


def test_every_stage_kind_declares_its_traits_on_its_spec():
    for kind, spec in STAGE_SPECS.items():
        assert issubclass(spec, StageSpec), kind
        assert spec.model_fields["kind"].annotation.__args__ == (kind,), kind
        assert isinstance(spec.VERSION, int) and spec.VERSION >= 1, kind
        assert spec.OUTPUT in ("model", "dataset", "report"), kind
        assert isinstance(spec.LIGHT, bool) and isinstance(spec.SAMPLING, bool), kind
        assert not (spec.LIGHT and (spec.SAMPLING or spec.DISTRIBUTED)), f"{kind}: a light stage uses no accelerator"
        assert all(isinstance(c, Curve) for c in spec.CURVES), kind
        assert not spec.REPLAY_CURVES or spec.CURVES, kind
        assert set(spec.INPUT_KINDS) <= set(spec.INPUTS), kind
        assert all(k in STAGE_SPECS for k in spec.INPUT_KINDS.values()), kind


def test_a_training_kind_carries_its_memory_model_and_batch_field():
    """A new training kind (say `dpo`) without them would pass unseen by the fit check and the batch warning."""
    from sdk.fit.estimate import LOGIT_BYTES

    for kind, spec in STAGE_SPECS.items():
        if spec.DISTRIBUTED:
            assert spec.MEMORY in LOGIT_BYTES, f"{kind}: a training kind needs MEMORY (sft or grpo)"
            assert spec.BATCH is not None and spec.BATCH[0] in spec.model_fields, f"{kind}: BATCH names a field"
        else:
            assert spec.MEMORY is None and spec.BATCH is None, kind


def test_every_recipe_kind_has_an_expander_and_shipped_recipes():
    kinds = {cls.model_fields["recipe"].annotation.__args__[0] for cls in get_args(get_args(Recipe)[0])}
    assert kinds == set(RECIPE_EXPANDERS)
    shipped = {p.name for p in (ROOT / "recipes").glob("*.yaml")}
    for kind in kinds:
        module, _, name = RECIPE_EXPANDERS[kind].partition(":")
        assert importlib.util.find_spec(module) is not None, kind
        expander = getattr(importlib.import_module(module), name)
        assert list(inspect.signature(expander).parameters)[1:2] == ["where"], \
            f"{kind}: expand(recipe, where) takes the document's locations explicitly"
        assert f"{kind}-tiny.yaml" in shipped, f"recipes/{kind}-tiny.yaml is missing"


def test_every_runner_is_registered_by_import_string_and_implements_the_interface():
    for kind, entry in RUNNERS.items():
        module, _, name = entry.partition(":")
        assert module.startswith("runners.") and importlib.util.find_spec(module) is not None, kind
        runner = load_runner(kind)
        assert runner.kind == kind
        for method in ("plan", "apply", "status", "logs", "cancel"):
            assert callable(getattr(runner, method, None)), f"{kind} runner has no {method}"


def test_every_shipped_recipe_opens_with_its_purpose_and_apply_line():
    for path in (ROOT / "recipes").glob("*.yaml"):
        head = path.read_text().split("\nrecipe:", 1)[0]
        assert head.startswith("# "), path.name
        assert "recipe apply recipes/" in head or "recipe plan recipes/" in head, path.name
