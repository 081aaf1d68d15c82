"""The "local cloud": run the generated setup/run scripts on this machine, the bucket replaced by a folder.

This is what a SkyPilot node does after mounting the bucket: `bash -c setup`, then `bash -c run`,
in the synced workdir, with the task's envs. The node's venv is a fresh venv that sees this
machine's packages through a .pth file, so the setup's real `pip install -e '<project>[train]'`
only builds the project (seconds, no downloads). Two "nodes" of a multi-node task are two
concurrent runs with SkyPilot's SKYPILOT_NODE_RANK / SKYPILOT_NUM_NODES / SKYPILOT_NODE_IPS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from runners.skypilot import SkyPilot
from sdk import api
from sdk.run.store import Store
from tests.runners.conftest import ROOT

pytestmark = pytest.mark.slow


def _has(python: str, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([python, "-c", code]).returncode == 0


WORKER = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
"""The interpreter whose packages the node venv sees (the ML venv when there is one)."""


@pytest.fixture(scope="module")
def node_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty venv (what `python3 -m venv` makes on a node) that can import WORKER's packages."""
    venv = tmp_path_factory.mktemp("node") / "venv"
    subprocess.run([WORKER, "-m", "venv", str(venv)], check=True)
    site = subprocess.run([WORKER, "-c", "import site; print(site.getsitepackages()[0])"], check=True,
                          capture_output=True, text=True).stdout.strip()
    (next((venv / "lib").glob("python3*")) / "site-packages" / "_worker.pth").write_text(site + "\n")
    return venv


def pipeline(recipe: Path, out: Path, **launch: Any) -> list[dict[str, Any]]:
    """Dry-run the recipe and read back the task documents SkyPilot would get (every job's, in order)."""
    result = api.apply(recipe, runner=SkyPilot(price=lambda m: 1.0), dry_run=True, out=out, **launch)
    return [doc for path in result.files for doc in list(yaml.safe_load_all(path.read_text()))[1:]]


def execute(script: str, task: dict[str, Any], cwd: Path, store: Path, venv: Path, home: Path,
            **env: str) -> subprocess.CompletedProcess[str]:
    home.mkdir(parents=True, exist_ok=True)
    full = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    full.update({**task["envs"], "RECIPE_STORE": str(store), "RECIPE_VENV": str(venv), "HOME": str(home), **env})
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=full, capture_output=True, text=True, timeout=600)


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture
def recipe(recipe_file) -> Path:
    extras = ["train"] if _has(WORKER, "trl") else []  # a core-only machine installs the core
    return recipe_file(extras=extras, gpu_extras=[])  # this "node" has no GPU: no vLLM


def test_generated_commands_run_the_stages_and_a_second_launch_skips_them(recipe, node_venv, tmp_path):
    (task,) = pipeline(recipe, tmp_path / "out", until=("again",))
    assert "/recipe-store" not in task["setup"] + task["run"], "scripts must use $RECIPE_STORE only"
    store, home = tmp_path / "bucket", tmp_path / "home"
    workdir = Path(task["workdir"])

    setup = ok(execute(task["setup"], task, workdir, store, node_venv, home))
    assert "Successfully installed recipe" in setup
    run = ok(execute(task["run"], task, workdir, store, node_venv, home))
    assert "done: 3 ran, 0 cached" in run
    plan = api.compile(api.load(recipe))
    assert all(Store(store).has(plan[s].key) for s in ("rows", "keep", "again"))
    assert Store(store).manifest(plan["keep"].key)["summary"]["rows_out"] == 2  # the two correct rows

    start = time.perf_counter()
    assert "nothing to install" in ok(execute(task["setup"], task, workdir, store, node_venv, home))
    assert "already in the store; skipping" in ok(execute(task["run"], task, workdir, store, node_venv, home))
    assert time.perf_counter() - start < 5

    # Another machine, one stage lost: the install runs, finished stages are cached, the lost one reruns.
    Store(store).artifact_dir(plan["again"].key).rename(tmp_path / "lost")
    ok(execute(task["setup"], task, workdir, store, node_venv, tmp_path / "home2"))
    again = ok(execute(task["run"], task, workdir, store, node_venv, tmp_path / "home2"))
    assert "done: 1 ran, 2 cached" in again

    # A manifest that reached the bucket before its data (a preempted upload): not done, redone with a line.
    data = Store(store).artifact_dir(plan["keep"].key) / "data.jsonl"
    data.write_bytes(data.read_bytes()[:5])
    assert "nothing to install" not in ok(execute(task["setup"], task, workdir, store, node_venv, tmp_path / "home2"))
    redo = ok(execute(task["run"], task, workdir, store, node_venv, tmp_path / "home2"))
    assert f"keep: the stored artifact {plan['keep'].key} does not verify (data.jsonl has 5 bytes" in redo
    assert "done: 1 ran, 2 cached" in redo and Store(store).has(plan["keep"].key)


@pytest.mark.skipif(not _has(WORKER, "torch"), reason="a multi-node stage launches through torchrun (needs torch)")
def test_multi_node_task_two_nodes_only_node_0_commits_to_the_bucket(recipe, node_venv, tmp_path):
    first, wide = pipeline(recipe, tmp_path / "out", until=("wide",))
    assert wide["num_nodes"] == 2
    store = tmp_path / "bucket"
    workdir = Path(first["workdir"])
    ok(execute(first["setup"], first, workdir, store, node_venv, tmp_path / "h0"))
    ok(execute(first["run"], first, workdir, store, node_venv, tmp_path / "h0"))
    before = sorted(p.name for p in (store / "artifacts").iterdir())

    ok(execute(wide["setup"], wide, workdir, store, node_venv, tmp_path / "h0"))
    nodes = {"SKYPILOT_NUM_NODES": "2", "SKYPILOT_NODE_IPS": "127.0.0.1\n127.0.0.1"}
    procs = [subprocess.Popen(["bash", "-c", wide["run"]], cwd=workdir, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              env={**{k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")},
                                   **wide["envs"], **nodes, "SKYPILOT_NODE_RANK": str(rank),
                                   "RECIPE_STORE": str(store), "RECIPE_VENV": str(node_venv),
                                   "HOME": str(tmp_path / f"h{rank}")})
             for rank in (0, 1)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs

    plan = api.compile(api.load(recipe))
    key = plan["wide"].key
    after = sorted(p.name for p in (store / "artifacts").iterdir())
    assert after == sorted([*before, key]), "a worker node committed into the bucket"
    worker = Store(tmp_path / "h1" / ".recipe-worker-store")
    assert worker.has(key), "the worker ran the stage against its private store"
    assert (worker.root / "artifacts" / plan["again"].key).resolve() == Store(store).artifact_dir(
        plan["again"].key).resolve()
    assert "torch.distributed.run" in (Store(store).artifact_dir(key) / "log.txt").read_text()

    for rank in (0, 1):
        rerun = execute(wide["run"], wide, workdir, store, node_venv, tmp_path / f"h{rank}",
                        SKYPILOT_NODE_RANK=str(rank), **nodes)
        assert "already in the store; skipping" in ok(rerun)
