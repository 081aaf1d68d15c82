"""Multi-node GRPO: every rank's rollouts reach the replay buffer in the store, not a node's local disk.

Two gloo processes play two nodes: each has its own work folder (a worker node runs against a
private store), scores its own share of a batch through the stage's real reward functions, and
only the buffer in node 0's folder, the one that is committed, must end up holding them all.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest

from schemas import GrpoStage
from stages import _replay_buffer

ROWS = [{"id": i, "prompt": f"{i}+1?", "answer": str(i + 1), "meta": {"extract": "answer_tag"}} for i in range(4)]


def _node(rank: int, port: int, root: str) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": "0", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "1",
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    from accelerate import PartialState

    from stages import grpo
    from stages._context import StageContext

    PartialState(cpu=True)
    out = Path(root) / f"node{rank}"
    out.mkdir()
    spec = GrpoStage(id="rl", kind="grpo", model="m", data="d", prompts_per_step=2, generations=2)
    rewards = grpo.rewards_for(spec, ROWS, StageContext(out=out), rank, {0})
    mine = [2 * rank, 2 * rank + 1]  # this rank's share of the batch
    completions = [f"<answer>{i + 1}</answer>" for i in mine]
    for fn in rewards.functions:
        fn(prompts=[ROWS[i]["prompt"] for i in mine], completions=completions, row_index=mine,
           completion_ids=[[5, 0]] * 2, trainer_state=None)
    import torch.distributed as dist

    # Leave the group together: a rank that exits with gloo's threads still running aborts
    # ("terminate called without an active exception"), which a loaded machine made likely.
    dist.barrier()
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(sys.platform != "linux", reason="gloo over loopback")
def test_two_node_rollouts_all_reach_node_0s_buffer(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    port = _free_port()
    mp.start_processes(_wrapped, args=(port, str(tmp_path)), nprocs=2, start_method="spawn")
    rows = _replay_buffer.read(tmp_path / "node0" / _replay_buffer.BUFFER)
    assert sorted(r["id"] for r in rows) == [0, 1, 2, 3], json.dumps(rows)
    assert all(r["correct"] and r["step"] == 1 for r in rows)
    assert not list((tmp_path / "node1").iterdir()), "node 1 kept rollouts on its own disk"


def _wrapped(rank: int, port: int, root: str) -> None:
    _node(rank, port, root)
