"""What the runner promises its neighbours: no heavy imports, and SkyPilot's node env reaching accelerate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from runners.local.launch import launch_command
from schemas import Resources
from tests.runners.conftest import ROOT

LIGHT = """
import sys
sys.argv = ["recipe"] + {argv!r}
from sdk.cli import main
code = main(sys.argv[1:])
heavy = sorted(m for m in ("sky", "torch", "transformers", "trl") if m in sys.modules)
print("HEAVY", heavy)
"""


def run_light(*argv: str) -> str:
    proc = subprocess.run([sys.executable, "-c", LIGHT.format(argv=list(argv))], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    return proc.stdout + proc.stderr


def test_validate_of_a_skypilot_recipe_imports_neither_sky_nor_torch(recipe_file):
    out = run_light("validate", str(recipe_file()))
    assert "HEAVY []" in out, out


def test_plan_of_a_skypilot_recipe_imports_no_ml_library(recipe_file):
    # `plan` may import sky, to price the tasks from its catalog where sky is installed; never torch.
    out = run_light("plan", str(recipe_file()), "--json")
    assert "HEAVY [" in out and not any(m in out.rsplit("HEAVY", 1)[1] for m in ("torch", "transformers", "trl")), out


def test_building_pricing_and_rendering_tasks_imports_no_sky(recipe_file):
    code = f"""
import sys
from runners.skypilot import SkyPilot
from sdk import api
api.apply({str(recipe_file())!r}, runner=SkyPilot(price=lambda m: 1.0), dry_run=True,
          out={str(Path(recipe_file()).parent / 'out')!r})
print("SKY", "sky" in sys.modules, "torch" in sys.modules)
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "SKY False False" in proc.stdout, proc.stdout + proc.stderr


def test_skypilot_node_env_becomes_a_multi_machine_accelerate_launch(monkeypatch, tmp_path):
    """What each node's `recipe apply --only` starts on GPUs: node rank and head IP come from SkyPilot."""
    monkeypatch.setenv("SKYPILOT_NUM_NODES", "2")
    monkeypatch.setenv("SKYPILOT_NODE_RANK", "1")
    monkeypatch.setenv("SKYPILOT_NODE_IPS", "10.0.0.1\n10.0.0.2")
    cmd = launch_command(Resources(processes=8, strategy="fsdp"), tmp_path / "job.json", gpu=True)
    args = " ".join(cmd)
    assert "accelerate.commands.launch --num_processes 16 --num_machines 2" in args
    assert "--machine_rank 1 --main_process_ip 10.0.0.1 --main_process_port 29500" in args
    assert "--use_fsdp" in args and args.endswith(f"-m stages {tmp_path / 'job.json'}")
