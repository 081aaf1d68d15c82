"""An empty pool at run time: a training stage with `if_empty: pass` hands its model on, and says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from schemas import Artifact, GrpoStage, SftStage
from stages import _passthrough, _replay_buffer

ROOT = Path(__file__).resolve().parents[2]


def _model(tmp_path: Path) -> Path:
    folder = tmp_path / "policy"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "config.json").write_text('{"model_type": "llama"}')
    (folder / "model" / "model.safetensors").write_bytes(b"weights")
    (folder / "training.json").write_text('{"rl_responses": 8, "sft_examples": 3}')
    return folder


def _data(tmp_path: Path, rows: str = "") -> Path:
    folder = tmp_path / "pool"
    folder.mkdir()
    (folder / "data.jsonl").write_text(rows)
    return folder


def _job(tmp_path: Path, spec, data: Path, model: Path) -> Path:
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"spec": spec.model_dump(mode="json"), "out": str(tmp_path / "out"), "inputs": {
        "model": {"type": "model", "path": str(model)}, "data": {"type": "dataset", "path": str(data)}}}))
    return job


def _run(job: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "stages", str(job)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


def test_empty_group_passes_the_policy_on_with_an_empty_buffer(tmp_path):
    spec = GrpoStage(id="rl1_2", kind="grpo", model="scale1", data="repools1.group2", if_empty="pass")
    done = _run(_job(tmp_path, spec, _data(tmp_path), _model(tmp_path)))
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    assert (out / "model" / "model.safetensors").read_bytes() == b"weights"
    assert (out / _replay_buffer.BUFFER).read_text() == ""
    assert json.loads((out / "training.json").read_text()) == {"rl_responses": 8, "sft_examples": 3}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["empty"] is True and summary["passed_through"] == "scale1"
    assert "has no rows" in done.stdout


def test_empty_data_still_fails_a_stage_that_did_not_ask_to_pass(tmp_path):
    spec = SftStage(id="student", kind="sft", model="base", data="correct")
    assert not _passthrough.applies(spec, {"data": Artifact(type="dataset", path=str(_data(tmp_path)))})


def test_rows_present_run_the_stage_itself(tmp_path):
    spec = SftStage(id="scale1", kind="sft", model="base", data="solutions1", if_empty="pass")
    data = _data(tmp_path, '{"id": 0, "prompt": "q", "response": "r"}\n')
    assert not _passthrough.applies(spec, {"data": Artifact(type="dataset", path=str(data))})


def test_a_hub_model_stays_a_reference(tmp_path):
    spec = SftStage(id="scale1", kind="sft", model="base", data="solutions1", if_empty="pass")
    hub = Artifact(type="model", path=str(tmp_path), ref="Qwen/Qwen2.5-0.5B", revision="main", dtype="bfloat16")
    out = tmp_path / "out"
    out.mkdir()
    summary = _passthrough.pass_through(spec, {"model": hub}, out)
    assert (summary["ref"], summary["revision"], summary["dtype"]) == ("Qwen/Qwen2.5-0.5B", "main", "bfloat16")
    assert not (out / "model").exists()


def test_if_empty_is_not_part_of_the_fingerprint():
    from sdk.plan import result_params

    a = SftStage(id="s", kind="sft", model="m", data="d")
    b = SftStage(id="s", kind="sft", model="m", data="d", if_empty="pass")
    assert result_params(a) == result_params(b)
    g = GrpoStage(id="g", kind="grpo", model="m", data="d", if_empty="pass")
    assert "if_empty" not in result_params(g)
