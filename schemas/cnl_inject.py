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
    """Set by the recipe (leave it out)."""
    kind: Literal["split"] = "split"
    model: str = ""
    """Set by the recipe: the base model."""
    data: str = ""
    """Set by the recipe: the questions."""
    heldout: float = Field(default=0.5, ge=0, lt=1)
    """Share of the mastered questions kept out of g_M to measure out-of-set forgetting (the paper's M2)."""


class TrainBlock(SftStage):
    """The SFT every arm shares (the paper: SGD, lr 1e-7, 25 epochs, batch 1, fp32, loss on the answer letter)."""

    id: str = "train"
    """Set by the recipe: each arm is named for its mask (`cnl`, `sft`, `migu`)."""
    kind: Literal["sft"] = "sft"
    model: str = ""
    """Set by the recipe: the base model."""
    data: str = ""
    """Set by the recipe: the split's injection rows."""
    target: Literal["response", "answer"] = "answer"
    """Train on each row's gold answer (the option letter), written with `answer_format`."""
    answer_format: str = "{answer}"
    """The response is the answer itself (the option letter for multiple choice)."""
    lr: float = Field(default=1e-7, gt=0)
    """Learning rate (the paper: 1e-7 for every optimizer)."""
    epochs: float = Field(default=25.0, gt=0)
    """Passes over the injection rows (the paper: 25)."""
    batch_size: int = Field(default=1, ge=1)
    """Examples per optimizer step (the paper: 1, in dataset order)."""
    optimizer: Literal["adamw", "adam", "sgd", "momentum"] = "sgd"
    """The paper's main runs use SGD; its code also has momentum, Adam and AdamW variants."""
    scheduler: Literal["cosine", "linear", "constant"] = "constant"
    """Learning-rate schedule (the paper: constant)."""
    max_length: int = Field(default=1024, ge=8)
    """Longest training sequence in tokens (question, options and answer)."""


class CountBlock(ForgettingStage):
    """How the final learned / forgotten counts are taken; the recipe wires models and sets."""

    id: str = "forgetting"
    """Set by the recipe (leave it out)."""
    kind: Literal["forgetting"] = "forgetting"
    models: list[str] = []
    """Set by the recipe: the base and every arm."""
    injection: str = ""
    """Set by the recipe: the split's injection rows."""
    mastered: str = ""
    """Set by the recipe: the split's mastered rows."""


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
    """How the base model's answers divide the questions (held-out share, scorer)."""
    train: TrainBlock = TrainBlock()
    """SFT settings every arm shares."""
    cnl: CnlSpec = CnlSpec()
    """The `cnl` arm's mask: how often g_M of the mastered rows is recomputed."""
    migu: MiguSpec = MiguSpec()
    """The `migu` arm's mask: the share of each linear layer's rows frozen every step."""
    arms: list[Arm] = Field(default=["cnl", "sft", "migu"], min_length=1)
    """Which trainings to run on the split: `cnl`, and the comparison arms `sft` (unmasked) and `migu`."""
    evaluate: CountBlock = CountBlock()
    """The final counts (scorer, batch size); every arm and the base are counted."""
