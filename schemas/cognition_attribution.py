"""The `cognition-attribution` recipe (Yang, Gao, Wu, AAAI-26): how much of each model's answers is knowledge
(answering fast) and how much is reasoning (answering slow), per domain, and where in the layers the two
modes part.

    for each model in `compare`, each dataset in `questions`:
        attribute[model=m,data=d]: fast and slow answers -> A_fast, A_slow, delta = delta_c - delta_o, r_c, r_o,
                                   per domain with paired standard errors; CKA per layer
    the report: a table per model and domain, delta_c / delta_o bars per domain, CKA by layer, accuracy by size

One stage per model and dataset, none depending on another: `--jobs` (or SkyPilot jobs) runs them side by
side, and adding a model runs only its stages.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas._base import Schema
from schemas.names import Name
from schemas.recipe import RecipeBase
from schemas.resources import Resources
from schemas.stages.attribute import JUDGE_PROMPT, DomainMap, FastMode, SlowMode


class AttributeBlock(Schema):
    """How every model is attributed (the paper's prompts and greedy decoding by default)."""

    fast: FastMode = FastMode()
    """Fast thinking: the paper's letter-only prefix and a short budget."""
    slow: SlowMode = SlowMode()
    """Slow thinking: the paper's Thought / Solution prefix and its 4096-token budget."""
    judge_prompt: str = Field(default=JUDGE_PROMPT, min_length=1)
    """The judge's instructions (with `judge:` set)."""
    domains: DomainMap = None
    """Each question's domain field (the data's `domain_field`) -> the domain it is reported under: `mmlu`
    (57 subjects in 13 domains), a mapping of your own, or unset (the values as they are)."""
    cka: bool = True
    """Per-layer CKA between the two modes' hidden states at the last prompt token."""
    cka_batch_size: int = Field(default=16, ge=4)
    """Questions per CKA minibatch."""
    batch_size: int = Field(default=16, ge=1)
    """Prompts per generation batch (transformers)."""
    seed: int = 0
    """Generation seed."""
    backend: Literal["auto", "transformers", "vllm"] = "auto"
    """`auto` uses vLLM when it is installed and a GPU is present."""
    resources: Resources = Resources()
    """What each model's stage runs on (`accelerators: H100:8` for a 32B model with vLLM tensor parallel)."""


class CognitionAttributionRecipe(RecipeBase):
    """Cognition attribution: each model answers every question fast and slow, and the gap is the reasoning gain.

    The gain splits into correction (fast wrong, slow right) and overthinking (fast right, slow wrong)."""

    recipe: Literal["cognition-attribution"]
    compare: list[Name] = Field(min_length=1)
    """The models to attribute (names under `models:`; a model of another recipe is chained in there)."""
    questions: list[Name] = Field(min_length=1)
    """The question sets (names under `data:`; multiple choice: `source: mcq`, with `domain_field` for
    per-domain rows)."""
    judge: Name | None = None
    """A model (a name under `models:`) that grades answers Correct / Incorrect / Uncertain with the paper's
    judge prompt; unset: the answer's option letter (or the data's verifier) decides."""
    attribute: AttributeBlock = AttributeBlock()
    """Prompts, budgets, domains, CKA and compute, shared by every model."""
