"""What the runner promises its neighbours: no heavy imports, and SkyPilot's node env reaching accelerate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runners.local.launch import launch_command
from schemas import Resources
from sdk.errors import RecipeError
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


def test_fsdp_wraps_decoder_layers_and_saves_a_full_state_dict(tmp_path):
    args = " ".join(launch_command(Resources(processes=8, strategy="fsdp"), tmp_path / "job.json", gpu=True))
    assert "--fsdp_auto_wrap_policy TRANSFORMER_BASED_WRAP" in args
    assert "--fsdp_state_dict_type FULL_STATE_DICT" in args


def test_multinode_deepspeed_uses_the_standard_launcher_on_every_node(monkeypatch, tmp_path):
    """DeepSpeed's default multi-node launcher (pdsh over ssh from node 0) does not fit SkyPilot nodes."""
    monkeypatch.setenv("SKYPILOT_NUM_NODES", "2")
    monkeypatch.setenv("SKYPILOT_NODE_RANK", "0")
    monkeypatch.setattr("runners.local.launch.importlib.util.find_spec", lambda name: object())
    cmd = launch_command(Resources(processes=8, strategy="deepspeed-zero3"), tmp_path / "job.json", gpu=True)
    args = " ".join(cmd)
    assert "--deepspeed_multinode_launcher standard" in args and "--zero3_save_16bit_model true" in args


def test_deepspeed_strategy_without_deepspeed_is_refused_with_the_extra(monkeypatch, tmp_path):
    monkeypatch.setattr("runners.local.launch.importlib.util.find_spec", lambda name: None)
    with pytest.raises(RecipeError, match=r"recipe\[deepspeed\]"):
        launch_command(Resources(processes=2, strategy="deepspeed-zero2"), tmp_path / "job.json", gpu=True)


def test_processes_hint_only_for_stage_kinds_that_take_processes():
    from runners.skypilot.machines import Machine, underused_gpus
    from schemas import GrpoStage, ReplayStage
    from sdk.plan import Stage

    machine = Machine(accelerators="H100:8")
    replay = Stage("samples", ReplayStage(id="samples", kind="replay", run="rl"), (), "f1", {})
    rl = Stage("rl", GrpoStage(id="rl", kind="grpo", model="m", data="d"), (), "f2", {})
    assert underused_gpus(replay, machine) is None
    assert "set resources.processes: 8" in underused_gpus(rl, machine)


def test_single_node_gpu_launches_take_a_free_port_so_concurrent_stages_do_not_collide(tmp_path):
    """accelerate's default rendezvous port is 29500 for every launch; `apply --jobs 2` on a GPU machine
    starts two launches at once, so each asks for a free one (0: accelerate's get_free_port)."""
    args = " ".join(launch_command(Resources(processes=2), tmp_path / "job.json", gpu=True))
    assert "--main_process_port 0" in args and "29500" not in args
