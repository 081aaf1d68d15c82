"""Which rows a model answers correctly: by option-letter logits (multiple choice) or by greedy generation
graded by the rows' verifier. Used by `split` and by the per-epoch forgetting counts of CNL/MIGU training.

Option-letter scoring follows the CNL code: the prompt goes through the chat template with the assistant
turn opened, and the prediction is the argmax of the next-token logits over the option letters' tokens.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from stages._chat import has_template, prompt_text
from stages._context import StageError
from stages._generation import Sampling, generate_loaded
from stages._mcq import is_mcq
from stages.verify import is_correct, score

Scorer = Literal["choice_logits", "verifier"]


def pick_scorer(scorer: str, rows: Sequence[Mapping[str, Any]]) -> Scorer:
    """`auto`: option-letter logits when every row is a multiple-choice question, else the verifier."""
    if scorer == "choice_logits" and not is_mcq(rows):  # type: ignore[arg-type]
        raise StageError("scorer 'choice_logits' needs multiple-choice rows (data `source: mcq`); "
                         "use scorer: verifier")
    if scorer == "auto":
        return "choice_logits" if is_mcq(rows) else "verifier"  # type: ignore[arg-type]
    return scorer  # type: ignore[return-value]


def letter_token(tokenizer: Any, letter: str) -> int:
    """The single token id of an option letter as the assistant's first token."""
    ids = tokenizer.encode(letter, add_special_tokens=False)
    if len(ids) != 1:
        raise StageError(f"option letter {letter!r} is {len(ids)} tokens for this tokenizer; "
                         "letter logits need one token per letter (use scorer: verifier)")
    return ids[0]


def last_logits(model: Any, enc: Any) -> Any:
    """Next-token logits at the last position; the LM head runs on that position only when the model
    takes `logits_to_keep` (on SmolLM2 the head is a fifth of the forward pass over the whole prompt)."""
    if "logits_to_keep" in inspect.signature(model.forward).parameters:
        return model(**enc, logits_to_keep=1).logits[:, -1, :]
    return model(**enc).logits[:, -1, :]


@contextlib.contextmanager
def _left_padding(tokenizer: Any):
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        yield
    finally:
        tokenizer.padding_side = side


def choice_predictions(model: Any, tokenizer: Any, rows: Sequence[Mapping[str, Any]],
                       batch_size: int = 8) -> list[str]:
    """The option letter with the highest next-token logit after each row's prompt."""
    import torch

    device = next(model.parameters()).device
    templated = has_template(tokenizer)
    was_training = model.training
    model.eval()
    predictions: list[str] = []
    try:
        with _left_padding(tokenizer), torch.no_grad():
            for start in range(0, len(rows), batch_size):
                batch = rows[start : start + batch_size]
                enc = tokenizer([prompt_text(tokenizer, row) for row in batch], return_tensors="pt",
                                padding=True, add_special_tokens=not templated).to(device)
                last = last_logits(model, enc)
                for logits, row in zip(last, batch, strict=True):
                    letters = row["meta"]["choices"]
                    ids = torch.tensor([letter_token(tokenizer, letter) for letter in letters], device=device)
                    predictions.append(letters[int(logits[ids].argmax())])
    finally:
        model.train(was_training)
    return predictions


def correct_flags(model: Any, tokenizer: Any, rows: Sequence[Mapping[str, Any]], scorer: Scorer,
                  max_new_tokens: int = 256, batch_size: int = 8) -> list[bool]:
    """Per row, whether the model answers it correctly (greedy)."""
    if not rows:
        return []
    if scorer == "choice_logits":
        return [p == row["answer"] for p, row in zip(choice_predictions(model, tokenizer, rows, batch_size),
                                                     rows, strict=True)]
    was_training = model.training
    model.eval()
    try:
        with _left_padding(tokenizer):
            outputs = generate_loaded(model, tokenizer, rows, Sampling(temperature=0.0, max_new_tokens=max_new_tokens,
                                                                        batch_size=batch_size))
    finally:
        model.train(was_training)
    return [is_correct(score(out, out["response"])) for out in outputs]
