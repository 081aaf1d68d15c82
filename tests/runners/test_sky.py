"""Against the real SkyPilot (cloud venv only): schema round trips, and the client with a dead API server.

SKYPILOT_API_SERVER_ENDPOINT points at 127.0.0.1:9, so every request fails at once and nothing is
started; HOME is a temp folder, so SkyPilot's own state lands where the secret scan can see it.
"""

from __future__ import annotations

import time

import pytest
import yaml

sky = pytest.importorskip("sky", reason="SkyPilot is not installed here (the cloud venv has it: .ci/cloud.sh)")

from runners.skypilot import SkyPilot  # noqa: E402
from runners.skypilot.client import CloudError, SkyClient  # noqa: E402
from runners.skypilot.machines import Machine  # noqa: E402
from runners.skypilot.pricing import PriceUnavailable, catalog_price  # noqa: E402
from runners.skypilot.render import render  # noqa: E402
from runners.skypilot.tasks import Launch, build  # noqa: E402
from sdk import api  # noqa: E402
from tests.runners.conftest import SECRET, files_containing  # noqa: E402


def built(path, **runner):
    recipe = api.load(path)
    plan = api.compile(recipe)
    return recipe, plan, build(recipe, plan, Launch(path))


def test_every_task_config_passes_skypilots_schema_and_round_trips(recipe_file, sky_env):
    _, plan, tasks = built(recipe_file())
    light, first, wide = (sky.Task.from_yaml_config(dict(t.config)) for t in tasks)
    assert not next(iter(light.resources)).accelerators
    (res,) = first.resources
    assert res.accelerators == {"H100": 8} and res.use_spot and str(res.cloud) == "AWS"
    assert res.region == "us-east-1" and res.disk_size == 300
    assert wide.num_nodes == 2 and next(iter(wide.resources)).accelerators == {"L4": 1}
    storage = first.storage_mounts["/recipe-store"]
    assert storage.source == "s3://test-bucket" and storage.mode.value == "MOUNT_CACHED"
    assert first.envs == {"RECIPE_STORE": "/recipe-store/runs", "RECIPE_FLAVOUR": "plain"}
    assert first.setup == tasks[1].config["setup"] and first.run == tasks[1].config["run"]
    for task in (first, wide):
        again = sky.Task.from_yaml_config(task.to_yaml_config())
        assert again.num_nodes == task.num_nodes and again.run == task.run and again.setup == task.setup
        assert sorted(map(repr, again.resources)) == sorted(map(repr, task.resources))


@pytest.mark.parametrize(("bucket", "name", "store"), [
    ("s3://my-bucket/recipe-runs", "my-bucket", "/recipe-store/recipe-runs"),
    ("gs://my-bucket/a/b/", "my-bucket", "/recipe-store/a/b"),
    ("r2://my-bucket", "my-bucket", "/recipe-store"),
    ("oci://my-bucket/runs", "my-bucket", "/recipe-store/runs"),
    ("cos://us-east/my-bucket/runs", "my-bucket", "/recipe-store/runs"),
    ("https://acct.blob.core.windows.net/box/runs", "box", "/recipe-store/runs"),
])
@pytest.mark.parametrize("mode", ["MOUNT_CACHED", "MOUNT"])
def test_bucket_with_a_folder_passes_skypilots_storage_validation(recipe_file, sky_env, bucket, name, store,
                                                                    mode):
    """SkyPilot checks a mount's source only when it constructs the storage at launch
    (`Storage._validate_storage_spec`); run that check here, offline, on the generated task."""
    _, _, tasks = built(recipe_file(bucket=bucket, mount=mode))
    task = sky.Task.from_yaml_config(dict(tasks[0].config))
    storage = task.storage_mounts["/recipe-store"]
    storage._validate_storage_spec(storage.name)
    assert storage.name == name and storage.mode.value == mode
    assert task.envs["RECIPE_STORE"] == store


def test_skypilot_refuses_to_mount_a_bucket_folder(sky_env):
    """Why the runner mounts the bucket root: the same validation refuses a sub-path."""
    from sky import exceptions
    from sky.data.storage import Storage

    storage = Storage.from_yaml_config({"source": "s3://my-bucket/recipe-runs", "mode": "MOUNT_CACHED"})
    with pytest.raises(exceptions.StorageModeError, match="specify only the bucket name"):
        storage._validate_storage_spec(storage.name)


def test_every_job_file_loads_as_a_chain_dag(recipe_file, sky_env):
    from sky.utils import dag_utils

    recipe, _, tasks = built(recipe_file(merge_stages=False))
    dags = [dag_utils.load_chain_dag_from_yaml_str(text) for text in render(recipe, tasks).values()]
    assert all(d.is_chain() and d.name.startswith("recipe-cloudy--") for d in dags)
    assert [[t.name for t in d.tasks] for d in dags] == [["base"], ["rows", "keep"], ["train"], ["again", "wide"]]


def test_skypilot_itself_rejects_a_misspelled_field(sky_env):
    with pytest.raises(ValueError, match="did you mean 'accelerators'"):
        sky.Task.from_yaml_config({"run": "true", "resources": {"acceleratorz": "H100:1"}})


def test_secret_values_reach_skypilot_only_in_memory(recipe_file, sky_env):
    from sky.utils import dag_utils

    recipe, _, tasks = built(recipe_file())
    for text in render(recipe, tasks, ["HF_TOKEN"]).values():
        dag = dag_utils.load_chain_dag_from_yaml_str(text, secrets_overrides=[("HF_TOKEN", SECRET)])
        assert all(t.secrets["HF_TOKEN"].get_secret_value() == SECRET for t in dag.tasks)
        assert SECRET not in dag_utils.dump_chain_dag_to_yaml_str(dag, use_user_specified_yaml=True)


@pytest.mark.parametrize("managed", [True, False])
def test_launch_through_the_real_client_fails_fast_and_writes_no_secret(recipe_file, sky_env, tmp_path, managed):
    start = time.perf_counter()
    with pytest.raises(CloudError, match="cannot reach the SkyPilot API server \\(http://127.0.0.1:9\\)"):
        api.apply(recipe_file(managed=managed), runner=SkyPilot(price=lambda m: 1.0))
    assert time.perf_counter() - start < 30
    assert files_containing(tmp_path, SECRET) == []


def test_status_logs_cancel_through_the_real_client_fail_clearly(recipe_file, sky_env):
    recipe = api.load(recipe_file())
    for call in (lambda: api.status(recipe=recipe), lambda: api.cancel(recipe), lambda: api.logs(recipe)):
        with pytest.raises(CloudError, match="cannot reach the SkyPilot API server"):
            call()
    with pytest.raises(CloudError):
        SkyClient().clusters("recipe-")


def test_catalog_price_degrades_to_a_reason_offline(sky_env):
    try:
        price = catalog_price(Machine("H100:8", cloud="aws"))
    except PriceUnavailable as err:  # the usual case here: no network
        assert "catalog is unavailable" in str(err) or "no offer" in str(err)
    else:  # a machine that can fetch the catalog gets a real price
        assert price > 0


def test_plan_with_the_real_catalog_never_crashes(recipe_file, sky_env, capsys):
    from sdk.cli import main

    assert main(["plan", str(recipe_file())]) == 0
    out = capsys.readouterr().out
    assert "estimated total:" in out
    assert "note: no $/hr:" in out or "$" in out.split("estimated total:")[1]


def test_dry_run_output_is_valid_yaml_for_sky(recipe_file, sky_env, tmp_path):
    from sky.utils import dag_utils

    out = tmp_path / "out"
    result = api.apply(recipe_file(), runner=SkyPilot(price=lambda m: 1.0), dry_run=True, out=out)
    assert len(result.files) == 3
    for path in result.files:
        dag = dag_utils.load_chain_dag_from_yaml(str(path))
        assert len(dag.tasks) == 1 and dag.name == next(yaml.safe_load_all(path.read_text()))["name"]


def test_the_cognition_attribution_paper_recipe_is_a_job_per_model_and_dataset_sky_accepts(sky_env, tmp_path,
                                                                                          monkeypatch):
    from sky.utils import dag_utils

    from tests.runners.conftest import ROOT

    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    result = api.apply(api.load("recipes/cognition-attribution.yaml"), runner=SkyPilot(price=lambda m: 1.0),
                       dry_run=True, out=out)
    assert len(result.files) == 16  # the models' and datasets' sources, then 5 models x 3 datasets
    attributes = []
    for path in result.files:
        dag = dag_utils.load_chain_dag_from_yaml(str(path))
        (task,) = dag.tasks
        if "attribute" in task.run:
            attributes.append(task)
            assert next(iter(task.resources)).accelerators == {"H100": 8}
            assert SECRET not in path.read_text()
    assert len(attributes) == 15
    assert sum("--only 'attribute[model=qwq32b,data=mmlu]'" in t.run for t in attributes) == 1
