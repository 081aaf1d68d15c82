"""Data outside the synced workdir: shipped to every node by file_mounts with the same fingerprints,
or, with `ship_files: false`, refused at plan time, located and naming the file and the workdir."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

from runners.skypilot import SkyPilot
from runners.skypilot.tasks import Launch, build
from sdk import api
from sdk.errors import RecipeError
from tests.runners.conftest import RECIPE

OUTSIDE = RECIPE.replace("path: rows.jsonl", "path: ../elsewhere/rows.jsonl")


@pytest.fixture
def outside(workdir: Path) -> Path:
    """rows.jsonl moved out of the workdir, next to it."""
    folder = workdir.parent / "elsewhere"
    folder.mkdir()
    shutil.move(workdir / "rows.jsonl", folder / "rows.jsonl")
    return folder / "rows.jsonl"


def test_a_file_outside_the_workdir_is_shipped_to_every_task(recipe_file, outside, tmp_path, monkeypatch):
    path = recipe_file(OUTSIDE)
    recipe = api.load(path)
    plan = api.compile(recipe)
    tasks = build(recipe, plan, Launch(path))
    assert len(tasks) == 3
    for task in tasks:
        (remote,) = [k for k in task.config["file_mounts"] if k.startswith("~/")]
        assert task.config["file_mounts"][remote] == str(outside)
        command = shlex.split(task.config["run"].strip().splitlines()[-1])
        assert f"data.rows.path=\"{remote}\"" in command
    # a node: the file where file_mounts puts it, the recipe as the run script overrides it
    node_home = tmp_path / "node-home"
    monkeypatch.setenv("HOME", str(node_home))
    copy = node_home / remote.removeprefix("~/")
    copy.parent.mkdir(parents=True)
    shutil.copy(outside, copy)
    outside.unlink()
    on_node = api.compile(api.load(path, [a for a in command if a.startswith("data.rows.path=")]))
    assert [s.fingerprint for s in on_node.stages] == [s.fingerprint for s in plan.stages]


def test_files_inside_the_workdir_need_no_file_mounts(recipe_file):
    path = recipe_file()
    recipe = api.load(path)
    for task in build(recipe, api.compile(recipe), Launch(path)):
        assert list(task.config["file_mounts"]) == ["/recipe-store"]
        assert "data.rows.path" not in task.config["run"]


def test_ship_files_false_refuses_at_plan_time_located(recipe_file, outside, workdir, capsys):
    path = recipe_file(OUTSIDE, ship_files=False)
    with pytest.raises(RecipeError) as err:
        api.apply(path, runner=SkyPilot(price=lambda m: 1.0), dry_run=True, out=workdir / "tasks")
    message = str(err.value)
    assert message.startswith(f"{path}:5:31: ")
    assert f"data.rows.path: {outside} is outside runner.workdir {workdir}" in message
    assert not (workdir / "tasks").exists()


def test_a_saved_dataset_folder_outside_the_workdir_is_shipped_too(recipe_file, workdir, tmp_path, monkeypatch):
    Dataset = pytest.importorskip("datasets", reason="the cloud venv has no datasets").Dataset

    folder = tmp_path / "saved" / "rows-ds"
    Dataset.from_list([{"question": "1+1?", "answer": "2"}]).save_to_disk(str(folder))
    path = recipe_file(RECIPE.replace("{{source: jsonl, path: rows.jsonl}}", "{{source: hf, id: ../saved/rows-ds}}"))
    recipe = api.load(path)
    plan = api.compile(recipe)
    (task, *_) = build(recipe, plan, Launch(path))
    (remote,) = [k for k in task.config["file_mounts"] if k.startswith("~/")]
    assert task.config["file_mounts"][remote] == str(folder) and remote.endswith("/rows-ds")
    override = next(a for a in shlex.split(task.config["run"].strip().splitlines()[-1]) if a.startswith("data."))
    assert override == f'data.rows.id="{remote}"'
    node_home = tmp_path / "node-home"
    monkeypatch.setenv("HOME", str(node_home))
    shutil.copytree(folder, node_home / remote.removeprefix("~/"))
    shutil.rmtree(folder)
    on_node = api.compile(api.load(path, [override]))
    assert [s.fingerprint for s in on_node.stages] == [s.fingerprint for s in plan.stages]
