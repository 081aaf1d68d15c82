"""launch_command: the argv that starts a stage's process(es) for its resources on this machine.

    processes == 1          python -m stages JOB
    processes > 1, GPUs     accelerate launch --num_processes N <strategy flags> -m stages JOB
    processes > 1, CPU      torchrun --nproc_per_node N -m stages JOB   (gloo; `accelerate launch --cpu`
                                                                         would start only one process)
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
from pathlib import Path

from schemas import Resources
from sdk.errors import RecipeError

STRATEGY_FLAGS: dict[str, list[str]] = {
    "ddp": ["--multi_gpu"],
    # Wrap each decoder layer (accelerate takes the classes from the model's `_no_split_modules`) and
    # gather a full state dict on save, so the saved model is one ordinary safetensors folder.
    "fsdp": ["--use_fsdp", "--fsdp_sharding_strategy", "FULL_SHARD",
             "--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP",
             "--fsdp_state_dict_type", "FULL_STATE_DICT", "--fsdp_use_orig_params", "true"],
    "deepspeed-zero2": ["--use_deepspeed", "--zero_stage", "2"],
    "deepspeed-zero3": ["--use_deepspeed", "--zero_stage", "3", "--zero3_save_16bit_model", "true"],
}
DEEPSPEED_MULTINODE = ["--deepspeed_multinode_launcher", "standard"]
"""Every SkyPilot node runs the launch itself: DeepSpeed's default (pdsh over ssh from node 0) is not used."""


def has_gpu() -> bool:
    """Whether this machine has NVIDIA GPUs (no torch import: the runner process stays light)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return False
    return shutil.which("nvidia-smi") is not None or Path("/proc/driver/nvidia/gpus").is_dir()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch_command(resources: Resources, job: Path, *, gpu: bool | None = None) -> list[str]:
    """The command for one stage; raises RecipeError for a strategy this machine cannot run."""
    stage = ["-m", "stages", str(job)]
    n = resources.processes
    nodes = int(os.environ.get("SKYPILOT_NUM_NODES", "1"))
    if n == 1 and nodes == 1:
        return [sys.executable, *stage]
    gpu = has_gpu() if gpu is None else gpu
    if resources.strategy.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        raise RecipeError(f"strategy {resources.strategy!r} needs DeepSpeed on the machine that runs the stage: "
                          "pip install 'recipe[deepspeed]' (GPU nodes), or set resources.strategy: fsdp")
    if not gpu:
        if resources.strategy != "ddp":
            raise RecipeError(f"strategy {resources.strategy!r} needs GPUs; on a CPU only ddp runs "
                              "(set resources.strategy: ddp, or run on a GPU machine)")
        if nodes > 1:
            ips = os.environ.get("SKYPILOT_NODE_IPS", "").split()
            return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n), "--nnodes", str(nodes),
                    "--node_rank", os.environ.get("SKYPILOT_NODE_RANK", "0"),
                    "--master_addr", ips[0] if ips else "127.0.0.1", "--master_port", "29500", *stage]
        return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(n),
                "--master_port", str(free_port()), *stage]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(n * nodes),
           "--num_machines", str(nodes), "--dynamo_backend", "no", *STRATEGY_FLAGS[resources.strategy]]
    if nodes > 1:  # SkyPilot sets these on every node of a multi-node task
        ips = os.environ.get("SKYPILOT_NODE_IPS", "").split()
        if resources.strategy.startswith("deepspeed"):
            cmd += DEEPSPEED_MULTINODE
        cmd += ["--machine_rank", os.environ.get("SKYPILOT_NODE_RANK", "0"),
                "--main_process_ip", ips[0] if ips else "127.0.0.1", "--main_process_port", "29500"]
    else:  # 0: accelerate picks a free port, so stages running together on one machine do not collide
        cmd += ["--main_process_port", "0"]
    return [*cmd, *stage]
