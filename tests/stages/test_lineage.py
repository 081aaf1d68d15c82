"""training.json: each training stage adds its SFT examples / RL responses to its input model's."""

from __future__ import annotations

from schemas import Artifact
from stages._lineage import read_training, record_training


def test_figures_accumulate_along_the_lineage(tmp_path) -> None:
    base = Artifact(type="model", path=str(tmp_path / "base"))
    assert read_training(base) == {"sft_examples": 0, "rl_responses": 0}
    (tmp_path / "cold").mkdir()
    record_training(base, tmp_path / "cold", sft_examples=96)
    (tmp_path / "rl").mkdir()
    after = record_training(Artifact(type="model", path=str(tmp_path / "cold")), tmp_path / "rl", rl_responses=128)
    assert after == {"sft_examples": 96, "rl_responses": 128}
    assert read_training(Artifact(type="model", path=str(tmp_path / "rl"))) == after
