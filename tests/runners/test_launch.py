"""Launch, budget, status, logs and cancel through a fake SkyPilot client that records the calls."""

from __future__ import annotations

import json

import pytest
import yaml

from runners.skypilot import SkyPilot
from runners.skypilot.pricing import PriceUnavailable
from sdk import api
from sdk.errors import RecipeError, StageFailed
from tests.runners.conftest import SECRET, FakeSky, files_containing


def flat(price: float):
    return lambda machine: price


def test_managed_launch_sends_one_pipeline_with_secret_values_only_in_memory(recipe_file, sky_env, tmp_path, cli):
    fake = FakeSky()
    code, out = cli(SkyPilot(client=fake, price=flat(3.0)), "apply", recipe_file())
    assert code == 0
    ((name, (text, job, secrets)),) = fake.calls
    assert name == "jobs_launch" and job == "recipe-cloudy"
    assert secrets == {"HF_TOKEN": SECRET}
    docs = list(yaml.safe_load_all(text))
    assert docs[0] == {"name": "recipe-cloudy"}
    assert all(d["secrets"] == {"HF_TOKEN": None} for d in docs[1:])
    assert SECRET not in text
    assert "submitted managed job recipe-cloudy (id 7)" in out and "not set here, so not sent: WANDB_API_KEY" in out
    assert SECRET not in out
    assert files_containing(tmp_path, SECRET) == []


def test_wandb_tracking_adds_its_key_to_the_secrets(recipe_file, sky_env, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "wandb-value")
    path = recipe_file(secrets=["HF_TOKEN"])
    fake = FakeSky()
    api.apply(api.load(path, ["tracking.backend=wandb"]), runner=SkyPilot(client=fake, price=flat(1.0)))
    assert fake.calls[0][1][2] == {"HF_TOKEN": SECRET, "WANDB_API_KEY": "wandb-value"}


def test_budget_refuses_before_any_call_when_the_estimate_exceeds_it(recipe_file, sky_env):
    fake = FakeSky()
    with pytest.raises(RecipeError, match=r"estimated cost \$[\d,.]+ exceeds runner.budget \$10.00"):
        api.apply(recipe_file(budget=10), runner=SkyPilot(client=fake, price=flat(50.0)))
    assert fake.calls == []


def test_budget_with_no_price_refuses_with_the_reason(recipe_file, sky_env):
    def offline(machine):
        raise PriceUnavailable("SkyPilot's catalog is unavailable (aws: ConnectionError: no network)")

    fake = FakeSky()
    with pytest.raises(RecipeError, match="cannot be estimated .*catalog is unavailable"):
        api.apply(recipe_file(budget=1000), runner=SkyPilot(client=fake, price=offline))
    assert fake.calls == []


def test_budget_within_the_estimate_launches(recipe_file, sky_env):
    fake = FakeSky()
    result = api.apply(recipe_file(budget=1000, hours={"sft": 2}), runner=SkyPilot(client=fake, price=flat(30.0)))
    assert fake.names() == ["jobs_launch"]
    assert result.runner == "skypilot" and not result.dry_run and result.launched.job_ids == [7]
    assert result.estimate.total is not None and result.estimate.total <= 1000


def test_plan_json_prices_each_task_per_node_and_hour(recipe_file, cli):
    prices = {"H100:8": 40.0, "L4:1": 1.0}
    path = recipe_file(hours={"train": 2, "filter": 0.5}, budget=500)
    code, out = cli(SkyPilot(price=lambda m: prices[m.accelerators]), "plan", path, "--json")
    got = json.loads(out)
    first, wide = got["tasks"]
    assert first["stages"] == ["base", "rows", "keep", "train", "again"]
    assert (first["hours"], first["price_per_hour"], first["cost"]) == (3.0, 40.0, 120.0)  # 2 + 0.5 + 0.5
    assert (wide["num_nodes"], wide["price_per_hour"], wide["cost"]) == (2, 2.0, 1.0)
    assert got["total"] == 121.0 and got["budget"] == 500


def test_plan_table_degrades_to_notes_without_prices(recipe_file, cli):
    def offline(machine):
        raise PriceUnavailable("SkyPilot's catalog is unavailable (offline)")

    code, out = cli(SkyPilot(price=offline), "plan", recipe_file())
    assert code == 0
    assert "H100:8 spot aws/us-east-1 300GB disk" in out and "L4:1 x2 nodes" in out
    assert "estimated total: ?" in out
    assert "note: no $/hr: SkyPilot's catalog is unavailable (offline)" in out
    assert "note: hours are assumed" in out


def test_unmanaged_launches_clusters_in_order_and_stops_at_a_failure(recipe_file, sky_env):
    fake = FakeSky(exit_codes=[0, 3])
    with pytest.raises(StageFailed, match="exit 3"):
        api.apply(recipe_file(managed=False), runner=SkyPilot(client=fake, price=flat(1.0)))
    assert [c[1][1] for c in fake.calls] == ["recipe-cloudy-0", "recipe-cloudy-1"]
    first_yaml = yaml.safe_load(fake.calls[0][1][0])
    assert first_yaml["name"] == "base-rows-keep-train-again"


QUEUE = [
    {"job_id": 3, "job_name": "recipe-cloudy", "task_id": 0, "task_name": "a", "status": "SUCCEEDED"},
    {"job_id": 5, "job_name": "recipe-cloudy", "task_id": 0, "task_name": "a", "status": "SUCCEEDED"},
    {"job_id": 5, "job_name": "recipe-cloudy", "task_id": 1, "task_name": "wide", "status": "RUNNING",
     "recovery_count": 1},
    {"job_id": 9, "job_name": "recipe-cloudy-other", "task_id": 0, "task_name": "x", "status": "RUNNING"},
]


def test_status_lists_the_recipes_jobs(recipe_file, cli):
    fake = FakeSky(queue=QUEUE)
    code, out = cli(SkyPilot(client=fake), "status", recipe_file())
    assert "job 5 recipe-cloudy task 1 wide: RUNNING recovered 1x" in out
    assert "recipe-cloudy-other" not in out
    code, out = cli(SkyPilot(client=fake), "status", "--runner", "skypilot")
    assert "recipe-cloudy-other" in out
    info = api.status(recipe=api.load(recipe_file()), runner=SkyPilot(client=fake))
    assert {j["job_id"] for j in info["jobs"]} == {3, 5} and info["job"] == "recipe-cloudy"


def test_logs_follow_the_latest_job(recipe_file):
    fake = FakeSky(queue=QUEUE)
    assert api.logs(recipe_file(), runner=SkyPilot(client=fake)) == 0
    assert ("jobs_logs", (5, True)) in fake.calls


def test_cancel_cancels_running_jobs_and_downs_clusters(recipe_file, cli):
    fake = FakeSky(queue=QUEUE[:3], clusters=[{"name": "recipe-cloudy-1", "status": "UP"}])
    code, out = cli(SkyPilot(client=fake), "cancel", recipe_file())
    assert ("jobs_cancel", [5]) in fake.calls and ("cluster_down", "recipe-cloudy-1") in fake.calls
    assert "cancelled managed job recipe-cloudy (id 5)" in out


def test_cancel_with_nothing_running_says_so(recipe_file, cli):
    done = api.cancel(recipe_file(), runner=SkyPilot(client=FakeSky(queue=QUEUE[:2])))
    assert done == {"runner": "skypilot", "job": "recipe-cloudy", "cancelled": [], "down": []}
    assert "nothing running for recipe-cloudy" in cli(SkyPilot(client=FakeSky(queue=QUEUE[:2])), "cancel",
                                                      recipe_file())[1]


def test_no_secret_set_here_sends_a_pipeline_without_secrets(recipe_file, sky_env, monkeypatch, cli):
    monkeypatch.delenv("HF_TOKEN")
    fake = FakeSky()
    code, out = cli(SkyPilot(client=fake, price=flat(1.0)), "apply", recipe_file(mount="MOUNT"))
    text, _, secrets = fake.calls[0][1]
    assert secrets == {}
    docs = list(yaml.safe_load_all(text))[1:]
    assert all("secrets" not in d and d["file_mounts"]["/recipe-store"]["mode"] == "MOUNT" for d in docs)
    assert "not set here, so not sent: HF_TOKEN, WANDB_API_KEY" in out
