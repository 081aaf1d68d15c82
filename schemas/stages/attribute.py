"""AttributeStage: one model answers every question fast (knowledge) and slow (reasoning), as the cognition
attribution paper (Yang, Gao, Wu, AAAI-26) prompts them, with the decomposition of the difference."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field

from schemas._base import Schema
from schemas.artifacts import ArtifactType
from schemas.cognition_domains import DOMAIN_MAPS
from schemas.stages.base import StageSpec

FAST_PROMPT = """Your only task is to select the most appropriate answer from the given options without any reasoning.

Output format: A single letter representing your answer ({letters})

Output rules:
- Output EXACTLY one letter ({letters})
- Do not provide any explanation or reasoning
- Do not restate the question or options
- Do not include any additional text or punctuation
"""
"""The paper's fast-thinking prefix; `{letters}` becomes the row's option letters (`A, B, C, D`)."""

SLOW_PROMPT = """Your role as an assistant involves thoroughly exploring questions through a systematic long \
thinking process before providing the final precise and accurate solutions. This requires engaging in a \
comprehensive cycle of analysis, summarizing, exploration, reassessment, reflection, backtracing, and iteration \
to develop well-considered thinking process.
Please structure your response into two main sections: Thought and Solution.
In the Thought section, detail your reasoning process. Each step should include detailed considerations such as \
analisying questions, summarizing relevant findings, brainstorming new ideas, verifying the accuracy of the \
current steps, refining any errors, and revisiting previous steps.
In the Solution section, based on various attempts, explorations, and reflections from the Thought section, \
systematically present the final solution that you deem correct. The solution should remain a logical, accurate, \
concise expression style and detail necessary step needed to reach the conclusion.
Now, try to solve the following question through the above guidelines:
"""
"""The paper's slow-thinking prefix (Sky-T1's long-thought system prompt), verbatim."""

JUDGE_PROMPT = """You are evaluating if a model's answer matches the correct answer for a question.

Rules:
1. Compare the answer in "LLM output" with "Correct answer"
2. Output ONLY one of these words:
   - "Correct": If model's final answer matches exactly
   - "Incorrect": If model's final answer differs
   - "Uncertain": If model's answer is missing or unclear

Note: For complex responses, look for the final answer marked by phrases like "Answer:", "Solution:", or a \
standalone letter.
"""
"""The paper's judge prompt; the question, the response and the gold answer follow it."""


def _not_empty(value: str | dict[str, str] | None) -> str | dict[str, str] | None:
    if isinstance(value, dict) and not value:
        raise ValueError("an empty domain map maps no row; leave `domains` out to report the field's values")
    return value


DomainMap = Annotated[Literal["mmlu"] | dict[str, str] | None, AfterValidator(_not_empty)]
"""A row's domain -> the domain it is reported under: a shipped map by name, one's own, or none."""


class Mode(Schema):
    """One cognitive mode: the prefix put before each question (in the user turn) and the token budget."""

    prompt: str = Field(min_length=1)
    """Text before the question; `{letters}` becomes the row's option letters."""
    max_new_tokens: int = Field(ge=1)
    """Longest answer in tokens (the paper: 4096 for both modes)."""


class FastMode(Mode):
    """Fast thinking: the paper's letter-only prefix; a short budget, as the answer is one letter."""

    prompt: str = Field(default=FAST_PROMPT, min_length=1)
    """Text before the question (default: the paper's fast prefix); `{letters}` becomes the option letters."""
    max_new_tokens: int = Field(default=32, ge=1)
    """Longest answer in tokens."""


class SlowMode(Mode):
    """Slow thinking: the paper's Thought / Solution prefix and its budget."""

    prompt: str = Field(default=SLOW_PROMPT, min_length=1)
    """Text before the question (default: the paper's slow prefix)."""
    max_new_tokens: int = Field(default=4096, ge=1)
    """Longest answer in tokens (the paper: 4096)."""


class AttributeStage(StageSpec):
    """A_fast, A_slow and the reasoning gain's correction / overthinking parts of one model on one dataset,
    per domain, with paired standard errors, and where in the layers the two modes' states diverge (CKA)."""

    kind: Literal["attribute"]
    model: str
    """The model to attribute (a name or a stage id)."""
    data: str
    """The questions (multiple choice, or any rows with a verifier)."""
    judge: str | None = None
    """A model that grades each answer Correct / Incorrect / Uncertain with the paper's judge prompt (else
    the option letter of the answer, or the data's verifier, decides)."""
    fast: FastMode = FastMode()
    """Fast thinking: the answer letter only, no reasoning (a short budget: the answer is one letter)."""
    slow: SlowMode = SlowMode()
    """Slow thinking: Thought, then Solution."""
    judge_prompt: str = Field(default=JUDGE_PROMPT, min_length=1)
    """What the judge is told before the question, the response and the gold answer."""
    domains: DomainMap = None
    """How each row's `meta.domain` (the data's `domain_field`) maps to a reported domain: `mmlu` (its 57
    subjects in 13 domains), a mapping of your own, or unset (the field's values as they are; without a
    domain field every row is in one domain named after the data)."""
    cka: bool = True
    """Per-layer linear CKA between the fast and the slow prompt's hidden state at the last prompt token."""
    cka_batch_size: int = Field(default=16, ge=4)
    """Questions per CKA minibatch (the unbiased estimator needs 4 or more); memory stays at one batch."""
    batch_size: int = Field(default=16, ge=1)
    """Prompts per generation batch (transformers)."""
    seed: int = 0
    """Generation seed (decoding is greedy, as in the paper)."""
    backend: Literal["auto", "transformers", "vllm"] = "auto"
    """`auto` uses vLLM when it is installed and a GPU is present."""

    INPUTS: ClassVar[dict[str, ArtifactType]] = {"model": "model", "data": "dataset", "judge": "model"}
    OUTPUT: ClassVar[ArtifactType] = "report"
    NON_RESULT: ClassVar[frozenset[str]] = frozenset({"batch_size", "cka_batch_size"})
    SAMPLING: ClassVar[bool] = True
    ATTRIBUTION: ClassVar[bool] = True

    @property
    def max_new_tokens(self) -> int:
        """The longest budget of a mode (what the fit check sizes the KV cache for)."""
        return max(self.fast.max_new_tokens, self.slow.max_new_tokens)

    def domain_map(self) -> dict[str, str] | None:
        """The row domain -> reported domain map (a shipped one by name), or None for the values as they are."""
        return DOMAIN_MAPS[self.domains] if isinstance(self.domains, str) else self.domains
