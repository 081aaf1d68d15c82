"""The `re-distill` recipe (Chen, Gao, Wu 2025): RL a model, keep its correct samples, SFT a fresh base on them.

    [cold_start: sft(base)] -> rl: grpo -> samples: replay buffer | greedy generation
        -> correct: filter -> student: sft(fresh base) -> [followup: grpo]
        [-> control_data: take as many rows of the cold-start data -> control: sft(fresh base)] -> eval: evaluate all
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas._base import Schema
from schemas.recipe import RecipeBase
from schemas.stages import EvaluateStage, GrpoStage, SftStage


class SftBlock(SftStage):
    """An SFT stage's knobs; the recipe wires its id and model."""

    id: str = "sft"
    """Set by the recipe (the stage's id in the plan); leave it out."""
    kind: Literal["sft"] = "sft"
    model: str = ""
    """Leave empty: the recipe chooses (the base, or the fresh student base)."""
    data: str = ""
    """Rows to train on, by dataset name (give it for `cold_start`; the recipe wires the student's)."""


class RlBlock(GrpoStage):
    """A GRPO stage's knobs; the recipe wires its id and model."""

    id: str = "rl"
    """Set by the recipe (the stage's id in the plan); leave it out."""
    kind: Literal["grpo"] = "grpo"
    model: str = ""
    """Leave empty: the recipe chooses (the cold-started model, or the student for a follow-up)."""
    data: str = ""
    """Prompts with answers, by dataset name (`followup_rl` defaults to the RL data)."""


class EvalBlock(EvaluateStage):
    """Evaluation settings; the recipe evaluates every model it made, plus the base."""

    id: str = "eval"
    """Set by the recipe (the stage's id in the plan); leave it out."""
    kind: Literal["evaluate"] = "evaluate"
    models: list[str] = []
    """Extra models to compare besides those the recipe makes."""


class RedistillBlock(Schema):
    """Where re-distillation samples come from and how the fresh base learns them."""

    source: Literal["replay", "policy"] = "replay"
    """`replay`: correct rollouts of the RL run's last steps (re-distill-B); `policy`: greedy samples
    from the RL policy on `prompts` (re-distill-A)."""
    prompts: str | None = None
    """Dataset for `source: policy` (default: the RL data)."""
    last_steps: int = Field(default=10, ge=1)
    """For `source: replay`: how many final RL steps to draw from."""
    samples: int | None = Field(default=1000, ge=1)
    """At most this many SFT examples (one per problem)."""
    select: Literal["random", "sample_effect"] = "random"
    """Which `samples` to keep of the correct ones: a seeded `random` draw, or the top by `sample_effect`
    (each sample's loss gradient on the student's initial weights against the RL update
    theta_RL - theta_0)."""
    effect_params: list[str] = []
    """For `select: sample_effect`: only parameters whose name contains one of these (empty: all)."""
    max_new_tokens: int = Field(default=4096, ge=1)
    """For `source: policy`: generation length."""
    require_correct: bool = True
    """Keep only responses the verifier accepts (switch off only to exercise the flow on random models)."""
    require_finished: bool = True
    """Drop responses cut off by the token limit."""
    seed: int = 0
    """Seed of the sampling and of which samples are kept."""
    sft: SftBlock = SftBlock()
    """SFT of the fresh student on the kept samples."""


class ControlBlock(Schema):
    """The control arm: a fresh base SFT'd on as many examples of `data` as the student got re-distilled
    ones, with the student's SFT settings, so the comparison is at the same N."""

    data: str = ""
    """Examples for the control (default: the cold start's data, the paper's teacher data)."""
    target: Literal["response", "answer"] | None = None
    """What the control learns to write (default: the cold start's `target`)."""


class ReDistillRecipe(RecipeBase):
    """Re-distillation: an RL policy's own correct samples teach a fresh copy of the base model."""

    recipe: Literal["re-distill"]
    base: str
    """The base model (a name under `models:`)."""
    student: str | None = None
    """The model re-distillation trains (default: a fresh copy of `base`)."""
    cold_start: SftBlock | None = None
    """Optional SFT of the base before RL; give its `data`."""
    rl: RlBlock
    """The GRPO run; give its `data` (prompts with answers)."""
    redistill: RedistillBlock = RedistillBlock()
    """Where the re-distillation samples come from and how the fresh base learns them."""
    control: ControlBlock | None = None
    """Add the control arm (`control: {}` takes the cold-start data); evaluated beside the student."""
    followup_rl: RlBlock | None = None
    """Optional GRPO continued from the student (`data` defaults to the RL data)."""
    evaluate: EvalBlock
    """Evaluation of base, RL policy and student (and the others made); give its `data`."""
