"""What a trained model has learned from, its ancestors included: SFT examples and RL responses sampled.

Each training stage writes `training.json` beside its `model/`, adding its own figures to its input
model's; the evaluation reads it per model, so a comparison at "the same N" can be seen to be one.
"""

from __future__ import annotations

import json
from pathlib import Path

from schemas import Artifact

TRAINING_FILE = "training.json"
FIELDS = ("sft_examples", "rl_responses")


def read_training(model: Artifact) -> dict[str, int]:
    """The model's figures; zeros for a model no stage of ours trained (a base, a hub model)."""
    path = Path(model.path) / TRAINING_FILE
    known = json.loads(path.read_text()) if path.is_file() else {}
    return {field: int(known.get(field, 0)) for field in FIELDS}


def record_training(base: Artifact, out: Path, sft_examples: int = 0, rl_responses: int = 0) -> dict[str, int]:
    """Write `out/training.json`: the input model's figures plus this stage's."""
    before = read_training(base)
    after = {"sft_examples": before["sft_examples"] + sft_examples,
             "rl_responses": before["rl_responses"] + rl_responses}
    (out / TRAINING_FILE).write_text(json.dumps(after, sort_keys=True))
    return after
