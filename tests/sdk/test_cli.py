"""The CLI edge: one line per problem, exit codes, and no ML library imported by help/validate/plan."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "trl", "peft", "vllm", "accelerate", "datasets", "sky")


def recipe(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sdk.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_help_validate_and_plan_import_no_ml_library(tmp_path):
    code = f"""
import sys
from sdk.cli import main
for argv in (["validate", "{ROOT}/recipes/pipeline-tiny.yaml"],
             ["plan", "{ROOT}/recipes/pipeline-tiny.yaml", "--store", "{tmp_path}"],
             ["plan", "{ROOT}/recipes/pipeline-tiny.yaml", "--expand"],
             ["init", "re-distill", "x", "-o", "{tmp_path}/x.yaml"], ["schema"]):
    assert main(argv) == 0
try:
    main(["--help"])
except SystemExit:
    pass
heavy = [m for m in {HEAVY!r} if m in sys.modules]
print("HEAVY", heavy)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "HEAVY []" in out.stdout


def test_plan_prints_every_shipped_recipe_through_the_cli(tmp_path, capsys):
    """The whole `plan` view, table to notes, for each shipped recipe: its inputs include named outputs
    (`split.injection`), chained recipes and hub models, which a compile alone does not walk through."""
    from sdk.cli import main

    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        assert main(["plan", str(path), "--store", str(tmp_path)]) == 0, path.name
        assert capsys.readouterr().out.startswith("plan "), path.name


def test_cli_prints_located_error_and_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("recipe: pipeline\nname: x\nstages:\n  - {id: s, kind: sft, model: m, data: d, lrr: 1}\n")
    out = recipe("validate", str(bad))
    assert out.returncode == 2
    assert out.stderr == f"error: {bad}:4:43: stages.0.lrr: unknown field 'lrr' (did you mean 'lr'?)\n"
    assert "Traceback" not in out.stderr


def test_cli_validate_ok_names_the_recipe():
    out = recipe("validate", "recipes/pipeline-tiny.yaml")
    assert out.returncode == 0, out.stderr
    assert "ok (pipeline recipe 'pipeline-tiny', 7 stages)" in out.stdout


def test_cli_plan_json_lists_every_stage_as_new(tmp_path):
    out = recipe("plan", "recipes/pipeline-tiny.yaml", "--json", "--store", str(tmp_path))
    plan = json.loads(out.stdout)
    assert [s["id"] for s in plan["stages"]] == ["base", "train", "test", "sft", "sample", "correct", "eval"]
    assert {s["state"] for s in plan["stages"]} == {"new"}


def test_cli_apply_unknown_stage_is_a_user_error(tmp_path):
    out = recipe("apply", "recipes/pipeline-tiny.yaml", "--store", str(tmp_path), "--only", "nope")
    assert out.returncode == 2
    assert "no stage named 'nope'" in out.stderr


def test_cli_schema_is_json_schema_with_stage_kinds():
    out = recipe("schema")
    schema = json.loads(out.stdout)
    assert schema["title"] == "recipe"
    assert "SftStage" in schema["$defs"] and "lr" in schema["$defs"]["SftStage"]["properties"]
    assert schema["$defs"]["SftStage"]["properties"]["max_steps"]["description"].startswith("Stop after")


def test_cli_skypilot_dry_run_writes_task_yaml_without_secret_values(tmp_path):
    import os

    env = {**os.environ, "HF_TOKEN": "hf_sentinel_do_not_write"}
    out = subprocess.run([sys.executable, "-m", "sdk.cli", "apply", "recipes/re-distill.yaml", "--dry-run",
                          "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    (path,) = tmp_path.glob("00-*.yaml")  # one managed job: the recipe is one chain
    written = path.read_text()
    assert "recipe apply recipes/re-distill.yaml '~runner' --only" in written
    assert "HF_TOKEN: null" in written
    assert "hf_sentinel_do_not_write" not in written + out.stdout + out.stderr


def test_cli_report_writes_summary_of_the_last_apply(tmp_path):
    out = recipe("report", "--store", str(tmp_path))
    assert out.returncode != 0 and "Traceback" not in out.stderr


def test_a_store_problem_exits_1_not_as_a_wrong_recipe(tmp_path):
    out = recipe("report", "--store", str(tmp_path))
    assert out.returncode == 1, out.stderr
    assert out.stderr == f"error: no apply recorded in {tmp_path} (history/ is empty); run `recipe apply` first\n"
