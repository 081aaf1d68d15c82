"""A stage that asks for 2 processes runs as 2 gloo ranks (torchrun on a CPU) and commits one model."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdk import api
from sdk.run.store import Store

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_sft_with_two_processes_runs_two_ranks_on_cpu(tmp_path):
    recipe = api.load(ROOT / "recipes" / "pipeline-tiny.yaml",
                      ["stages.sft.resources.processes=2", "stages.sft.max_steps=2"])
    plan = api.compile(recipe)
    result = api.apply(plan, store=tmp_path, until=("sft",))
    assert result["sft"].state == "ran"
    log = (Store(tmp_path).artifact_dir(plan["sft"].key) / "log.txt").read_text()
    assert "torch.distributed.run --nproc_per_node 2" in log
    assert "[rank0]" in log and "[rank1]" in log
    assert (Store(tmp_path).artifact_dir(plan["sft"].key) / "model" / "config.json").is_file()
