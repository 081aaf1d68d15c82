"""The local runner through the runner interface: plan, dry run, status, logs and cancel as values."""

from __future__ import annotations

from pathlib import Path

from sdk import api
from sdk.run.store import Store

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "pipeline-tiny.yaml"


def test_local_plan_dry_run_status_logs_and_cancel(tmp_path, capsys):
    planned = api.plan(RECIPE, tmp_path, runner="local", until="sft")
    assert planned.runner == "local" and planned.where == str(tmp_path) and planned.estimate is None
    assert [s.state for s in planned] == ["new"] * len(planned) and "sft" in [s.stage.id for s in planned]
    dry = api.apply(RECIPE, store=tmp_path, runner="local", until="sft", dry_run=True)
    assert dry.dry_run and dry.outcomes == [] and [s.stage.id for s in dry.preview] == [s.stage.id for s in planned]
    assert not any(tmp_path.iterdir()), "a local dry run writes nothing"
    work = tmp_path / "work" / "k"
    work.mkdir(parents=True)
    (work / "log.txt").write_text("step 1 loss 2.5\n")
    Store(tmp_path).record_run("pipeline-tiny", {"recipe": "pipeline-tiny", "started": 1.0, "stages": [
        {"id": "sft", "state": "failed", "path": str(work / "log.txt")}]})
    info = api.status(tmp_path, recipe=api.load(RECIPE), runner="local")
    assert info["runner"] == "local" and [r["recipe"] for r in info["runs"]] == ["pipeline-tiny"]
    capsys.readouterr()
    assert api.logs(RECIPE, store=tmp_path, runner="local") == 1  # the last apply failed
    assert "step 1 loss 2.5" in capsys.readouterr().out
    assert api.cancel(RECIPE, runner="local")["cancelled"] == []
