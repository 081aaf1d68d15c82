"""Sample effect on the tiny model: each score is -<grad loss, d>, checked against a finite difference of
the loss along d computed by hand, and the stage keeps the top rows in that order."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from schemas import Artifact, SampleEffectStage
from stages import sample_effect
from stages._context import StageContext
from stages._data import read_rows, write_rows
from stages._models import load_model, load_tokenizer

ROWS = [{"id": i, "prompt": f"What is {i} + {i}?", "answer": str(2 * i), "response": response}
        for i, response in enumerate(["<answer>0</answer>", "<answer>2</answer>", "4", "the answer is 6"])]


def _shifted(tiny: Artifact, folder: Path) -> Artifact:
    """The tiny model moved by a small random step: the 'RL update' direction."""
    model = load_model(tiny, "float32")
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=gen))
    model.save_pretrained(folder / "model")
    load_tokenizer(tiny).save_pretrained(folder / "model")
    return Artifact(type="model", path=str(folder))


def _by_hand(tiny: Artifact, end: Artifact, row: dict, eps: float = 0.05) -> float:
    """-(loss(theta + eps d) - loss(theta - eps d)) / (2 eps), in float64, no autograd."""
    start, moved = load_model(tiny, "float32").double(), load_model(end, "float32").double()
    tokenizer = load_tokenizer(tiny, padding_side="right")
    d = {n: pm - ps for (n, ps), (_, pm) in zip(start.named_parameters(), moved.named_parameters(), strict=True)}
    losses = []
    for sign in (1, -1):
        probe = load_model(tiny, "float32").double()
        with torch.no_grad():
            for n, p in probe.named_parameters():
                p.add_(sign * eps * d[n])
            losses.append(float(sample_effect.response_loss(probe, tokenizer, row, 256)))
    return -(losses[0] - losses[1]) / (2 * eps)


def test_scores_match_a_finite_difference_and_the_top_rows_are_kept(tiny_model: Artifact, ctx: StageContext,
                                                                      tmp_path: Path) -> None:
    end = _shifted(tiny_model, tmp_path / "end")
    data = tmp_path / "data"
    data.mkdir()
    write_rows(data / "data.jsonl", ROWS)
    spec = SampleEffectStage(id="s", kind="sample_effect", model="base", data="d", start="base", end="rl", keep=2,
                             max_length=256)
    inputs = {"model": tiny_model, "start": tiny_model, "end": end, "data": Artifact(type="dataset", path=str(data))}
    summary = sample_effect.run(spec, inputs, ctx)
    hand = [_by_hand(tiny_model, end, row) for row in ROWS]
    kept = read_rows(ctx.out / "data.jsonl")
    assert summary["rows_in"] == 4 and summary["rows_out"] == 2
    expected = sorted(range(4), key=lambda i: -hand[i])[:2]
    assert [r["id"] for r in kept] == expected
    for row in kept:
        assert row["sample_effect"] == pytest.approx(hand[row["id"]], rel=1e-2)


def test_a_parameter_subset_uses_only_those_parameters(tiny_model: Artifact, tmp_path: Path) -> None:
    end = _shifted(tiny_model, tmp_path / "end")
    start_model, end_model = load_model(tiny_model, "float32"), load_model(end, "float32")
    target = sample_effect.direction(start_model, end_model, ["lm_head", "layers.0."])
    assert target and all("lm_head" in n or "layers.0." in n for n in target)
    with pytest.raises(Exception, match="no parameter name contains"):
        sample_effect.direction(start_model, end_model, ["nothing-like-this"])
