"""DataSpec: where a named dataset comes from; rows always become `{id, prompt, answer, meta}`."""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from schemas._base import Schema, added
from schemas.reasoning_gym_tasks import TASKS

ANSWER_INSTRUCTION = "Give only the final answer inside <answer></answer>."


class _DataBase(Schema):
    instruction: str | None = ANSWER_INSTRUCTION
    """Appended to every prompt (on a new line); null for none."""
    system: str | None = None
    """System message put before every prompt."""
    extract: Literal["answer_tag", "boxed", "raw"] = "answer_tag"
    """How the verifier finds the answer: `<answer>..</answer>`, the last `\\boxed{}`, or the whole text."""
    limit: int | None = Field(default=None, ge=1)
    """Keep only the first N rows."""


class ReasoningGymData(_DataBase):
    """A procedural reasoning-gym task; its own `score_answer` is the verifier."""

    source: Literal["reasoning_gym"]
    task: str = Field(examples=["knights_knaves", "basic_arithmetic", "countdown"])
    """reasoning-gym dataset name."""
    size: int = Field(default=100, ge=1)
    """Number of problems."""
    seed: int = 0
    """Generator seed (train and test sets need different seeds)."""
    config: dict[str, Any] = {}
    """Extra generator options, e.g. `{min_digits: 1, max_digits: 1}`."""

    @field_validator("task")
    @classmethod
    def _known_task(cls, task: str) -> str:
        if task not in TASKS:
            close = difflib.get_close_matches(task, list(TASKS), n=3, cutoff=0.5)
            hint = (f"did you mean {' or '.join(map(repr, close))}?" if close
                    else "e.g. basic_arithmetic, knights_knaves")
            raise ValueError(f"unknown reasoning-gym task {task!r} ({hint})")
        return task

    def unknown_config(self) -> list[tuple[str, str]]:
        """(key, hint) for each config key the task's generator does not take."""
        allowed = TASKS.get(self.task, ())
        out = []
        for key in self.config:
            if key in ("seed", "size"):
                out.append((key, f"set it as the dataset's own `{key}:`"))
            elif key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                takes = f"{self.task} takes: {', '.join(allowed)}"
                out.append((key, f"did you mean {close[0]!r}?" if close else takes))
        return out


Grader = Literal["exact", "math"]


class JsonlData(_DataBase):
    """A JSONL file of `{prompt, answer[, id, response, system, meta]}` rows; graded by `grader`."""

    source: Literal["jsonl"]
    path: str
    """File path, relative to the recipe file."""
    prompt_field: str = "prompt"
    """Column holding the prompt."""
    answer_field: str = "answer"
    """Column holding the gold answer."""
    response_field: str = "response"
    """Column holding a response to train on (SFT data)."""
    grader: Grader = "exact"
    """How an extracted answer is compared with the gold one: `exact` (normalised text, numbers by value)
    or `math` (equal by value with math-verify: `\\frac{1}{2}` = `0.5`, `x=3` = `3`; use with
    `extract: boxed` for competition math)."""


class HubData(_DataBase):
    """A Hugging Face dataset; the extracted answer is graded by `grader`."""

    source: Literal["hf"]
    id: str
    """Dataset id on the hub, or a local folder saved with `datasets`."""
    split: str = "train"
    """Dataset split to read."""
    name: str | None = None
    """Dataset configuration name."""
    prompt_field: str = "question"
    """Column holding the prompt."""
    answer_field: str = "answer"
    """Column holding the gold answer."""
    response_field: str | None = None
    """Column holding a response to train on, if any."""
    grader: Grader = "exact"
    """How an extracted answer is compared with the gold one: `exact` (normalised text, numbers by value)
    or `math` (equal by value with math-verify; use with `extract: boxed` for competition math)."""


CHOICE_INSTRUCTION = "Answer with the letter of the correct option only."


class McqData(_DataBase):
    """Multiple-choice questions from a JSONL file (`path`) or a Hugging Face dataset (`id`); the options are
    listed under the question as `A. ...`.

    Each record: `{"question": "...", "options": ["...", "..."], "answer": "B"}` (options may also be a
    mapping `{"A": "...", "B": "..."}`, or one string `a ) ... , b ) ...` as MathQA writes them). Rows are
    scored by the option letter a response gives (or, in `split`, by the model's option-letter logits).
    Every row of a local file is checked at `plan`, located at `file:line`: no option empty or skipped, the
    answer among the options, no `id` twice; a hub dataset's rows get the same checks when the stage reads them.
    """

    source: Literal["mcq"]
    path: str | None = added(None)
    """JSONL file path, relative to the recipe file (or give `id`)."""
    id: str | None = added(None, examples=["cais/mmlu", "GBaker/MedQA-USMLE-4-options"])
    """Hugging Face dataset id, or a folder saved with `datasets` (instead of `path`)."""
    name: str | None = added(None, examples=["all"])
    """The hub dataset's configuration name (MMLU: `all`, or one subject)."""
    split: str | None = added(None, examples=["test"])
    """The hub dataset's split (unset: `train`)."""
    question_field: str = "question"
    """Column holding the question."""
    options_field: str = "options"
    """Column holding the list of options."""
    answer_field: str = "answer"
    """Column holding the correct option: its letter (`"B"`), or its 0-based index as a JSON number (`1`),
    one form throughout the file."""
    domain_field: str | None = added(None, examples=["subject"])
    """Column naming each question's domain or subject (MMLU: `subject`), kept with the row so reports can
    group by it (cognition-attribution's per-domain table)."""
    instruction: str | None = CHOICE_INSTRUCTION
    """Appended to every prompt (on a new line); null for none."""
    extract: Literal["choice"] = "choice"  # type: ignore[assignment]
    """The verifier reads the first option letter of a response."""

    @model_validator(mode="after")
    def _one_place(self) -> McqData:
        if (self.path is None) == (self.id is None):
            raise ValueError("give the questions' `path` (a JSONL file) or `id` (a Hugging Face dataset), one of them")
        if self.path is not None and (self.name is not None or self.split is not None):
            raise ValueError("`name` and `split` are for a hub dataset (`id`), not a JSONL `path`")
        return self

    @property
    def where(self) -> str:
        """The file or dataset the questions come from, as messages name it."""
        return self.path if self.path is not None else str(self.id)


SingleData = Annotated[ReasoningGymData | JsonlData | McqData | HubData, Field(discriminator="source")]


class MixData(Schema):
    """Several datasets as one (e.g. Knights-and-Knaves with 3 to 7 people); each part keeps its verifier."""

    source: Literal["mix"]
    parts: list[SingleData] = Field(min_length=1)
    """The datasets to mix; each keeps its own source and verifier."""
    shuffle: bool = True
    """Interleave the parts' rows in a seeded random order (else one part after another)."""
    seed: int = 0
    """Seed of the interleaving shuffle."""
    limit: int | None = Field(default=None, ge=1)
    """Keep only the first N rows of the mix."""


DataSpec = Annotated[ReasoningGymData | JsonlData | McqData | HubData | MixData, Field(discriminator="source")]
