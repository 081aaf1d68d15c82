"""The `cnl-inject` recipe (Collaborative Neural Learning, Yang et al. 2026): teach a model the questions it
gets wrong without forgetting the ones it gets right.

    split(base, questions) -> mastered / injection / heldout
        -> cnl:  sft(base, injection) masked against g_M of mastered
        -> sft:  the same SFT, unmasked (comparison arm)
        -> migu: the same SFT with MIGU's magnitude mask (comparison arm)
    -> forgetting: learned / forgotten (in-set and held-out) per arm, per epoch, with a plot
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.recipe import RecipeBase
from schemas.stages import CnlSpec, ForgettingStage, MiguSpec, SftStage, SplitStage


class SplitBlock(SplitStage):
    """How the base model's answers split the questions; the recipe wires model and data."""

    id: str = "split"
    kind: Literal["split"] = "split"
    model: str = ""
    data: str = ""
    heldout: float = Field(default=0.5, ge=0, lt=1)
    """Share of the mastered questions kept out of g_M to measure out-of-set forgetting (the paper's M2)."""


class TrainBlock(SftStage):
    """The SFT every arm shares (the paper: SGD, lr 1e-7, 25 epochs, batch 1, fp32, loss on the answer letter)."""

    id: str = "train"
    kind: Literal["sft"] = "sft"
    model: str = ""
    data: str = ""
    target: Literal["response", "answer"] = "answer"
    answer_format: str = "{answer}"
    """The response is the answer itself (the option letter for multiple choice)."""
    lr: float = Field(default=1e-7, gt=0)
    epochs: float = Field(default=25.0, gt=0)
    batch_size: int = Field(default=1, ge=1)
    optimizer: Literal["adamw", "adam", "sgd", "momentum"] = "sgd"
    scheduler: Literal["cosine", "linear", "constant"] = "constant"
    max_length: int = Field(default=1024, ge=8)


class CountBlock(ForgettingStage):
    """How the final learned / forgotten counts are taken; the recipe wires models and sets."""

    id: str = "forgetting"
    kind: Literal["forgetting"] = "forgetting"
    models: list[str] = []
    injection: str = ""
    mastered: str = ""


Arm = Literal["cnl", "sft", "migu"]


class CnlInjectRecipe(RecipeBase):
    """CNL: step only where the update agrees in sign with the mastered set's gradient; compared with plain
    SFT and MIGU on the same (cached) split."""

    recipe: Literal["cnl-inject"]
    base: str
    """The model to inject knowledge into (a name under `models:`)."""
    questions: str
    """The question set the base is scored on (a name under `data:`; multiple choice: `source: mcq`)."""
    split: SplitBlock = SplitBlock()
    train: TrainBlock = TrainBlock()
    """SFT settings every arm shares."""
    cnl: CnlSpec = CnlSpec()
    migu: MiguSpec = MiguSpec()
    arms: list[Arm] = Field(default=["cnl", "sft", "migu"], min_length=1)
    """Which trainings to run on the split: `cnl`, and the comparison arms `sft` (unmasked) and `migu`."""
    evaluate: CountBlock = CountBlock()
    """The final counts (scorer, batch size); every arm and the base are counted."""
