"""SampleEffectStage: rank candidate SFT samples by their sample effect on the RL update; keep the top N.

Re-distillation explains sample efficiency with a linearised "sample effect": an SFT step on sample z
moves the weights by -lr * grad loss(z; theta), so its first-order effect along a target direction d
is -<grad loss(z; theta), d>. Here theta is the student's initial weights and d = theta_RL - theta_0,
the update RL made. One backward pass per sample and one dot product with d; `params` restricts both
to a subset of the parameters (memory and time).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas import Artifact, SampleEffectStage
from stages._chat import prompt_text
from stages._context import StageContext, StageError
from stages._data import read_rows, write_rows
from stages._models import load_model, load_tokenizer


def chosen(name: str, patterns: list[str]) -> bool:
    return not patterns or any(p in name for p in patterns)


def direction(start: Any, end: Any, patterns: list[str]) -> dict[str, Any]:
    """`end - start` per chosen parameter (the two models must share names and shapes)."""
    before = dict(start.named_parameters())
    out = {}
    for name, param in end.named_parameters():
        if chosen(name, patterns):
            if name not in before or before[name].shape != param.shape:
                raise StageError(f"sample_effect: parameter {name!r} differs between start and end models")
            out[name] = (param.detach() - before[name].detach()).float()
    if not out:
        raise StageError(f"sample_effect: no parameter name contains any of {patterns}")
    return out


def response_loss(model: Any, tokenizer: Any, row: Mapping[str, Any], max_length: int) -> Any:
    """Mean cross-entropy of the response tokens given the prompt (the SFT loss on one sample)."""
    import torch

    prompt = tokenizer(prompt_text(tokenizer, row), add_special_tokens=False)["input_ids"]
    response = tokenizer(str(row["response"]), add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        response = [*response, tokenizer.eos_token_id]
    ids = (prompt + response)[:max_length]
    labels = ([-100] * len(prompt) + response)[:max_length]
    if all(label == -100 for label in labels):
        raise StageError(f"sample_effect: the prompt of row {row.get('id')!r} fills max_length {max_length}")
    return model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss


def effects(model: Any, tokenizer: Any, rows: list[dict[str, Any]], target: dict[str, Any],
            max_length: int, progress: Any = None) -> list[float]:
    """-<grad loss(row), target> for each row, the gradient at `model`'s weights."""
    params = {name: p for name, p in model.named_parameters() if name in target}
    for name, p in model.named_parameters():
        p.requires_grad_(name in params)
    scores = []
    for i, row in enumerate(rows):
        model.zero_grad(set_to_none=True)
        response_loss(model, tokenizer, row, max_length).backward()
        dot = sum(float((p.grad.float() * target[name]).sum()) for name, p in params.items() if p.grad is not None)
        scores.append(-dot)
        if progress:
            progress(i + 1, len(rows))
    return scores


def run(spec: SampleEffectStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Write the `keep` rows of `inputs["data"]` with the largest effect (each with `sample_effect`)."""
    rows = read_rows(inputs["data"].rows)
    missing = [i for i, row in enumerate(rows) if not row.get("response")]
    if missing:
        raise StageError(f"stage {spec.id!r}: row {missing[0]} has no `response`; rank generated or replayed rows")
    target = direction(load_model(inputs["start"], "float32"), load_model(inputs["end"], "float32"), spec.params)
    model = load_model(inputs["model"], "float32")
    model.eval()  # no dropout: the gradient of the loss itself
    tokenizer = load_tokenizer(inputs["model"], padding_side="right")
    scores = effects(model, tokenizer, rows, target, spec.max_length,
                     lambda done, total: ctx.progress(done, total, "sample effect"))
    ranked = sorted(zip(scores, range(len(rows)), rows, strict=True), key=lambda t: (-t[0], t[1]))
    kept = [{**row, "sample_effect": score} for score, _, row in ranked[: spec.keep]]
    write_rows(ctx.out / "data.jsonl", kept)
    return {"rows_in": len(rows), "rows_out": len(kept), "params": sum(t.numel() for t in target.values()),
            "kept_min_effect": kept[-1]["sample_effect"] if kept else None,
            "mean_effect": sum(scores) / len(scores) if scores else None}
