"""Plan -> SkyPilot tasks, without SkyPilot: grouping, machines, scripts, dry-run files, validation."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from runners.skypilot import SkyPilot, scripts
from runners.skypilot.render import render
from runners.skypilot.tasks import Launch, build, job_name, slug
from sdk import api
from sdk.errors import RecipeError
from sdk.run.store import Store
from tests.runners.conftest import SECRET, files_containing


def tasks_of(path: Path, overrides: tuple[str, ...] = (), **launch: tuple[str, ...]):
    recipe = api.load(path, overrides)
    return build(recipe, api.compile(recipe), Launch(path, overrides, **launch))


def test_stages_group_along_chains_so_branches_never_share_a_task(recipe_file):
    tasks = tasks_of(recipe_file())
    # keep feeds train and again: they are branches. Light stages ride along (rows -> keep -> again on a
    # CPU machine), the model source goes first in the task that reads it, a multi-node stage is alone.
    assert [t.group.ids for t in tasks] == [["rows", "keep", "again"], ["base", "train"], ["wide"]]
    light, first, wide = (t.config for t in tasks)
    assert light["resources"] == {"infra": "aws/us-east-1", "disk_size": 300}
    assert first["resources"] == {"infra": "aws/us-east-1", "accelerators": "H100:8", "use_spot": True,
                                  "disk_size": 300}
    assert "num_nodes" not in first
    assert wide["num_nodes"] == 2
    assert wide["resources"]["accelerators"] == "L4:1" and wide["resources"]["use_spot"] is True


def test_merge_stages_false_gives_one_task_per_stage_with_light_stages_on_cpu(recipe_file):
    tasks = tasks_of(recipe_file(merge_stages=False))
    assert [t.group.ids for t in tasks] == [["base"], ["rows"], ["keep"], ["train"], ["again"], ["wide"]]
    assert "accelerators" not in tasks[0].config["resources"]
    assert tasks[3].config["resources"]["accelerators"] == "H100:8"


def test_light_stages_before_a_multi_node_stage_get_their_own_cpu_task(recipe_file):
    tasks = tasks_of(recipe_file(), until=("wide",))
    assert [t.group.ids for t in tasks] == [["rows", "keep", "again"], ["wide"]]
    assert tasks[0].config["resources"] == {"infra": "aws/us-east-1", "disk_size": 300}


def test_task_config_mounts_the_bucket_and_names_secrets_without_values(recipe_file, sky_env):
    task = tasks_of(recipe_file())[1]
    cfg = task.config
    assert cfg["file_mounts"] == {"/recipe-store": {"source": "s3://test-bucket", "mode": "MOUNT_CACHED"}}
    assert cfg["envs"] == {"RECIPE_STORE": "/recipe-store/runs", "RECIPE_FLAVOUR": "plain"}
    assert cfg["secrets"] == {"HF_TOKEN": None, "WANDB_API_KEY": None}
    assert cfg["workdir"] == str(recipe_file().parent)


def test_run_applies_only_its_stages_locally_against_the_mounted_store(recipe_file):
    path = recipe_file()
    task = tasks_of(path, ("stages.train.lr=1e-4",))[1]
    last = task.config["run"].strip().splitlines()[-1]
    only = [a for sid in ("base", "train") for a in ("--only", sid)]
    assert shlex.split(last) == ["recipe", "apply", "recipe.yaml", "stages.train.lr=1e-4", "~runner", *only,
                                 "--store", "$store"]
    assert 'store="$RECIPE_STORE"' in task.config["run"]


def test_setup_installs_the_project_with_the_train_extra_and_vllm_on_gpus_in_a_venv(recipe_file):
    task = tasks_of(recipe_file())[1]
    setup = task.config["setup"]
    assert task.group.machine.accelerators and "python3 -m venv" in setup
    assert setup.strip().splitlines()[-1] == f"python -m pip install -e '{Path(__file__).parents[2]}[train,vllm]'"
    (cpu_task, *_) = tasks_of(recipe_file(resources={}))
    assert cpu_task.config["setup"].strip().endswith("[train]'")


def test_both_scripts_skip_when_every_stage_is_committed(recipe_file):
    recipe = api.load(recipe_file())
    plan = api.compile(recipe)
    task = build(recipe, plan, Launch(recipe_file()))[1]
    keys = " ".join(plan[sid].key for sid in task.group.ids)
    for script in (task.config["setup"], task.config["run"]):
        assert f"if committed {keys}; then" in script and scripts.COMMITTED in script
        assert "exit 0" in script


def test_the_scripts_done_check_verifies_the_manifests_file_list(tmp_path):
    """The node's shell check agrees with Store.has: a manifest whose files did not all arrive fails it."""
    store = Store(tmp_path)
    for key in ("k1", "k2"):
        work, _ = store.begin(key)
        (work / "model").mkdir()
        (work / "model" / "weights.bin").write_bytes(b"x" * 1000)
        store.commit(key, {"artifact": "model"})

    def committed(*keys: str) -> bool:
        script = f"{scripts.COMMITTED}\ncommitted {' '.join(keys)}"
        return subprocess.run(["bash", "-c", script], env={**os.environ, "RECIPE_STORE": str(tmp_path)}).returncode == 0

    assert committed("k1", "k2")
    (store.artifact_dir("k2") / "model" / "weights.bin").write_bytes(b"x" * 10)
    assert committed("k1") and not committed("k1", "k2") and not committed("k3")
    (store.artifact_dir("k1") / "manifest.json").write_text('{"files": {"model/weig')
    assert not committed("k1")


def test_force_disables_the_skip_and_is_forwarded(recipe_file):
    task = tasks_of(recipe_file(), force=("keep",))[0]
    assert "if false; then" in task.config["run"] and "--force keep" in task.config["run"]


def test_multi_node_run_gives_workers_a_private_store_linked_to_the_bucket(recipe_file):
    path = recipe_file()
    recipe = api.load(path)
    plan = api.compile(recipe)
    wide = build(recipe, plan, Launch(path))[-1]
    run = wide.config["run"]
    assert 'if [ "${SKYPILOT_NODE_RANK:-0}" != "0" ]; then' in run
    assert f'ln -s "$RECIPE_STORE/artifacts/{plan["again"].key}"' in run
    assert f'ln -s "$RECIPE_STORE/checkpoints/{plan["wide"].key}" "$store/checkpoints/{plan["wide"].key}"' in run
    single = build(recipe, plan, Launch(path))[0]
    assert "SKYPILOT_NODE_RANK" not in single.config["run"]


def test_only_until_and_unknown_stage(recipe_file):
    assert [t.group.ids for t in tasks_of(recipe_file(), only=("again",))] == [["again"]]
    with pytest.raises(RecipeError, match="no stage named 'nope'"):
        tasks_of(recipe_file(), only=("nope",))


def test_recipe_outside_the_workdir_or_workdir_without_project_is_refused(recipe_file, tmp_path):
    path = recipe_file(workdir=str(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(RecipeError, match="outside runner.workdir"):
        tasks_of(path)
    with pytest.raises(RecipeError, match="has no pyproject.toml"):
        tasks_of(recipe_file(install="./sub"))


def test_install_from_a_requirement_is_used_as_is(recipe_file):
    task = tasks_of(recipe_file(install="recipe[train]==0.1.0"))[0]
    assert task.config["setup"].strip().endswith("python -m pip install 'recipe[train]==0.1.0'")


def test_schema_refuses_credentials_in_envs_and_bad_buckets(recipe_file):
    with pytest.raises(RecipeError, match="looks like a credential"):
        api.load(recipe_file(envs={"HF_TOKEN": "x"}))
    with pytest.raises(RecipeError, match="bucket"):
        api.load(recipe_file(bucket="/local/folder"))


def test_local_runner_recipe_gets_a_clear_error(workdir):
    path = workdir / "local.yaml"
    path.write_text("recipe: pipeline\nname: x\ndata: {rows: {source: jsonl, path: rows.jsonl}}\n"
                    "stages: [{id: keep, kind: filter, data: rows}]\n")
    with pytest.raises(RecipeError, match="no SkyPilot runner"):
        tasks_of(path)


def test_slugs_are_valid_names():
    assert slug("sft[lr=1e-05,seed=1]") == "sft-lr-1e-05-seed-1"
    assert slug("0base") == "r-0base"
    assert job_name("My_Recipe.v2") == "recipe-my-recipe-v2"


def test_dry_run_writes_one_file_per_job_and_prints_them_without_secret_values(recipe_file, sky_env, tmp_path,
                                                                                cli):
    out = tmp_path / "out"
    code, printed = cli(SkyPilot(price=lambda m: 2.0), "apply", recipe_file(), "--dry-run", "--out", out)
    assert code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["00-rows-keep-again.yaml", "01-base-train.yaml", "02-wide.yaml"]
    docs = list(yaml.safe_load_all((out / "01-base-train.yaml").read_text()))
    assert docs[0]["name"].startswith("recipe-cloudy--base-train-") and len(docs) == 2
    text = (out / "02-wide.yaml").read_text()
    assert text.startswith("# sky jobs launch --secret HF_TOKEN --secret WANDB_API_KEY 02-wide.yaml\n"
                           "# once these jobs have succeeded: 00-rows-keep-again.yaml\n")
    assert "managed jobs: 3; each starts once the jobs it needs have succeeded, up to 2 at once:" in printed
    assert "  2. recipe-cloudy--wide-" in printed and "wide (after rows-keep-again)" in printed
    assert "recipe apply recipe.yaml" in printed and "nothing launched" in printed
    assert SECRET not in printed
    assert files_containing(tmp_path, SECRET) == []


def test_dry_run_unmanaged_writes_one_file_per_task(recipe_file, tmp_path):
    out = tmp_path / "out"
    result = api.apply(recipe_file(managed=False), runner=SkyPilot(price=lambda m: 1.0), dry_run=True, out=out)
    assert result.files == [out / "00-rows-keep-again.yaml", out / "01-base-train.yaml", out / "02-wide.yaml"]
    assert sorted(p.name for p in out.iterdir()) == ["00-rows-keep-again.yaml", "01-base-train.yaml", "02-wide.yaml"]
    text = (out / "02-wide.yaml").read_text()
    assert text.startswith("# sky launch -c recipe-cloudy-2 --down") and yaml.safe_load(text)["num_nodes"] == 2


def test_render_narrows_secrets_to_the_names_a_launch_has(recipe_file):
    path = recipe_file()
    recipe = api.load(path)
    tasks = build(recipe, api.compile(recipe), Launch(path))
    texts = render(recipe, tasks, ["HF_TOKEN"]).values()
    assert len(texts) == 3
    for text in texts:
        assert all(doc.get("secrets", {}) == {"HF_TOKEN": None} for doc in list(yaml.safe_load_all(text))[1:])


def test_sdk_cloud_dry_run_writes_the_files_the_cli_writes(recipe_file, tmp_path, cli):
    path = recipe_file()
    code, printed = cli(SkyPilot(price=lambda m: 2.0), "apply", path, "stages.keep.seed=3", "--until", "again",
                        "--runner", "skypilot", "--dry-run", "--out", tmp_path / "by-cli")
    assert code == 0
    recipe = api.load(path, ["stages.keep.seed=3"])
    result = api.apply(recipe, runner=SkyPilot(price=lambda m: 2.0), until="again", dry_run=True,
                       out=tmp_path / "by-sdk")
    by_cli = {p.name: p.read_text() for p in (tmp_path / "by-cli").iterdir()}
    assert {p.name: p.read_text() for p in result.files} == by_cli
    assert list(by_cli) == ["00-rows-keep-again.yaml"]
    (text,) = by_cli.values()
    assert "stages.keep.seed=3" in text and "--until again" not in text
    assert result.dry_run and result.runner == "skypilot" and result.estimate.total is not None


def test_dry_run_writes_under_the_store_and_says_where(recipe_file, workdir, monkeypatch, cli):
    monkeypatch.chdir(workdir)
    path = recipe_file()
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))
    code, printed = cli(SkyPilot(price=lambda m: 1.0), "apply", path, "--dry-run")
    folder = workdir / "runs" / "sky-tasks" / "cloudy"
    assert code == 0 and f"to {Path('runs') / 'sky-tasks' / 'cloudy'}" in printed
    assert sorted(p.name for p in folder.iterdir()) == ["00-rows-keep-again.yaml", "01-base-train.yaml", "02-wide.yaml"]
    after = sorted(p.relative_to(workdir) for p in workdir.rglob("*") if not p.is_relative_to(workdir / "runs"))
    assert after == before and not (workdir / "sky-tasks").exists()
    result = api.apply(path, runner=SkyPilot(price=lambda m: 1.0), dry_run=True, store=workdir / "s")
    assert result.files[0] == workdir / "s" / "sky-tasks" / "cloudy" / "00-rows-keep-again.yaml"


def test_a_recipe_built_in_python_is_refused_by_the_cloud_runner_with_the_reason(recipe_file, workdir, monkeypatch):
    monkeypatch.chdir(workdir)  # a recipe built in Python finds its files from the working directory
    recipe = api.load(recipe_file())
    built = type(recipe).model_validate(recipe.model_dump())
    with pytest.raises(RecipeError, match="sends the recipe file to its nodes; this recipe was built in Python"):
        api.apply(built, runner=SkyPilot(price=lambda m: 1.0), dry_run=True)
