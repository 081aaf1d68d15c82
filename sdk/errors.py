"""RecipeError: every mistake a user can make in a recipe, located as `file:line:col: path: message`."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

from schemas.secrets import redact

SYNONYMS = {
    "learning_rate": "lr", "num_train_epochs": "epochs", "num_epochs": "epochs",
    "per_device_train_batch_size": "batch_size", "train_batch_size": "batch_size",
    "gradient_accumulation_steps": "grad_accum", "gradient_accumulation": "grad_accum",
    "gradient_checkpointing": "activation_checkpointing", "num_generations": "generations",
    "max_completion_length": "max_completion_tokens", "max_prompt_length": "max_prompt_tokens",
    "max_seq_length": "max_length", "kl_coef": "beta", "lr_scheduler_type": "scheduler", "optim": "optimizer",
    "max_tokens": "max_new_tokens", "num_samples": "n", "model_name_or_path": "model",
}
"""TRL / transformers / vLLM names a researcher types from habit, and ours for the same setting."""


def closest(word: str, candidates: Any, cutoff: float = 0.6) -> str | None:
    """The candidate a typo (or another tool's name for it, `learning_rate`) most likely meant, or None:
    the one did-you-mean rule of every message."""
    import difflib

    names = [str(c) for c in dict.fromkeys(candidates)]
    if SYNONYMS.get(word) in names:
        return SYNONYMS[word]
    found = difflib.get_close_matches(str(word), names, n=1, cutoff=cutoff)
    return found[0] if found else None


def did_you_mean(word: str, candidates: Any, otherwise: str | None = None) -> str | None:
    """`did you mean 'x'?` for the closest candidate, else `otherwise`."""
    guess = closest(word, candidates)
    return f"did you mean {guess!r}?" if guess else otherwise


@dataclass(frozen=True)
class Problem:
    """One located problem: what is wrong, where, and how to fix it."""

    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None
    path: str = ""
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}:{self.col}"
        text = ": ".join(part for part in (where, self.path, self.message) if part)
        return redact(f"{text} ({self.hint})" if self.hint else text)  # an override may quote a credential


class RecipeError(ValueError):
    """A recipe that cannot be used as written; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = Problem(problems)
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def first(self) -> Problem:
        return self.problems[0]


class StoreError(Exception):
    """The artifact store cannot be used (unreadable, no apply recorded, a commit that does not verify).

    Not a RecipeError: the recipe is fine, so the CLI exits 1 (not 2) and says what to do with the store."""


class StageFailed(Exception):
    """A stage process exited non-zero; the artifact was not committed and its log is kept."""

    def __init__(self, stage_id: str, returncode: int, log: str, tail: str, peak_memory: int | None = None):
        self.stage_id, self.returncode, self.log, self.tail = stage_id, returncode, log, tail
        self.reason = exit_reason(returncode, peak_memory)
        self.outcomes: list[Any] = []
        """Every selected stage's outcome (`sdk.run.apply.StageOutcome`) once the apply has ended."""
        self.error = stage_error_line(tail)
        said = f": {self.error}" if self.error else ""
        super().__init__(f"stage {stage_id!r} failed ({self.reason}){said}; full log: {log}")


def stage_error_line(tail: str) -> str | None:
    """The stage's own last word in its log: its `error: ...` line, else a traceback's final line."""
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    said = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    if said:
        return said[-1]
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        return next((line for line in reversed(lines) if not line.startswith(("File ", "^", "==="))), None)
    return None


def exit_reason(returncode: int, peak_memory: int | None = None) -> str:
    """`exit 2`, or the signal that killed the process (negative codes; 128+N from a launcher that
    reports its child's death the shell's way), and for SIGKILL what usually sends it."""
    number = -returncode if returncode < 0 else returncode - 128 if 128 < returncode < 160 else 0
    try:
        name = signal.Signals(number).name if number else None
    except ValueError:
        name = None
    if name is None:
        return f"exit {returncode}"
    text = f"killed by {name}" if returncode < 0 else f"exit {returncode}: a process was killed by {name}"
    if number == signal.SIGKILL:
        peak = f", peak memory {peak_memory / 2**30:.2f} GiB" if peak_memory else ""
        text += f"; the usual cause is running out of memory (the kernel's OOM killer{peak})"
    return text
