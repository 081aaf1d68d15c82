"""Launch, budget, status, logs and cancel through a fake SkyPilot client that records the calls."""

from __future__ import annotations

import json

import pytest
import yaml

from runners.skypilot import CloudError, SkyPilot
from runners.skypilot.pricing import PriceUnavailable
from sdk import api
from sdk.errors import RecipeError, StageFailed
from tests.runners.conftest import SECRET, FakeSky, files_containing


def flat(price: float):
    return lambda machine: price


def sky(fake: FakeSky, price: float = 3.0) -> SkyPilot:
    """The runner on a fake client, looking at the queue without waiting between looks."""
    return SkyPilot(client=fake, price=flat(price), poll=0)


def launches(fake: FakeSky) -> list[tuple[str, str, dict[str, str]]]:
    return [args for name, args in fake.calls if name == "jobs_launch"]


def test_managed_launch_sends_one_job_per_branch_with_secret_values_only_in_memory(recipe_file, sky_env, tmp_path,
                                                                                    cli):
    fake = FakeSky()
    code, out = cli(sky(fake), "apply", recipe_file())
    assert code == 0
    assert [n.rsplit("-", 1)[0] for n in fake.launched()] == [
        "recipe-cloudy--rows-keep-again", "recipe-cloudy--base-train", "recipe-cloudy--wide"]
    for text, job, secrets in launches(fake):
        assert secrets == {"HF_TOKEN": SECRET}
        docs = list(yaml.safe_load_all(text))
        assert docs[0] == {"name": job}
        assert all(d["secrets"] == {"HF_TOKEN": None} for d in docs[1:])
        assert SECRET not in text
    first, train, wide = fake.launched()
    assert f"  job 7 {first}: SUCCEEDED" in out and f"  job 9 {wide}: SUCCEEDED" in out
    assert "not set here, so not sent: WANDB_API_KEY" in out
    assert SECRET not in out
    assert files_containing(tmp_path, SECRET) == []


def test_a_job_is_launched_only_after_the_jobs_it_needs_succeeded(recipe_file, sky_env):
    fake = FakeSky(runs_for=2)
    api.apply(recipe_file(), runner=sky(fake))
    order = [c[0] if c[0] != "jobs_launch" else c[1][1].split("--")[1].rsplit("-", 1)[0] for c in fake.calls]
    # rows-keep-again runs for two looks at the queue and ends at the third; then both branches at once
    assert order == ["jobs_queue", "rows-keep-again", "jobs_queue", "jobs_queue", "jobs_queue", "base-train",
                     "wide", "jobs_queue", "jobs_queue", "jobs_queue"]


def test_a_failed_branch_stops_only_what_needs_it(recipe_file, sky_env):
    fake = FakeSky(ends={"train": "FAILED"})
    path = recipe_file(merge_stages=False)
    with pytest.raises(StageFailed) as caught:
        api.apply(path, runner=sky(fake))
    states = {o.job.label: o.state for o in caught.value.outcomes}
    assert states == {"base": "succeeded", "rows-keep": "succeeded", "train": "failed", "again-wide": "succeeded"}
    assert "1 of 4 job(s) did not succeed, first recipe-cloudy--train-" in str(caught.value)
    assert f"its logs: recipe logs {path} --task train" in str(caught.value)
    fake = FakeSky(ends={"rows-keep": "FAILED_SETUP"})
    with pytest.raises(StageFailed) as caught:
        api.apply(path, runner=sky(fake))
    states = {o.job.label: (o.state, o.reason) for o in caught.value.outcomes}
    assert states["rows-keep"] == ("failed", None)
    assert states["train"][0] == states["again-wide"][0] == "skipped"
    why = states["again-wide"][1]
    assert why.startswith("needs recipe-cloudy--rows-keep-") and why.endswith("which FAILED (FAILED_SETUP)")
    assert states["base"][0] == "succeeded" and len(fake.launched()) == 2  # base and rows-keep


def test_a_reapply_after_a_failure_launches_only_the_failed_and_skipped_jobs(recipe_file, sky_env):
    fake = FakeSky(ends={"rows-keep": "FAILED"})
    path = recipe_file(merge_stages=False)
    with pytest.raises(StageFailed):
        api.apply(path, runner=sky(fake))
    first = fake.launched()
    assert [n.split("--")[1].rsplit("-", 1)[0] for n in first] == ["base", "rows-keep"]
    fake.ends = {}
    result = api.apply(path, runner=sky(fake))
    again = fake.launched()[len(first):]
    assert [n.split("--")[1].rsplit("-", 1)[0] for n in again] == ["rows-keep", "train", "again-wide"]
    base = result.launched.jobs[0]
    assert (base.state, base.job_id, base.reason) == ("succeeded", 7, "already succeeded in an earlier apply; "
                                                                        "not launched again")
    forced = api.apply(path, runner=sky(fake), force="base")  # a forced stage is another job: launched
    assert fake.launched()[-1].split("--")[1].startswith("base-") and forced.launched.jobs[0].job_id != 7


def test_the_cli_lists_every_jobs_outcome_and_exits_1_on_a_failure(recipe_file, sky_env, cli):
    code, out = cli(sky(FakeSky(ends={"wide": "FAILED_NO_RESOURCE"})), "apply", recipe_file())
    err = cli.err
    assert code == 1
    assert "recipe-cloudy--wide-" in err and ": failed" in err and ": succeeded" in err
    assert "error: 1 of 3 job(s) did not succeed, first recipe-cloudy--wide-" in err
    assert "FAILED (FAILED_NO_RESOURCE)" in err


def test_wandb_tracking_adds_its_key_to_the_secrets(recipe_file, sky_env, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "wandb-value")
    path = recipe_file(secrets=["HF_TOKEN"])
    fake = FakeSky()
    api.apply(api.load(path, ["tracking.backend=wandb"]), runner=sky(fake, 1.0))
    assert launches(fake)[0][2] == {"HF_TOKEN": SECRET, "WANDB_API_KEY": "wandb-value"}


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
    result = api.apply(recipe_file(budget=1000, hours={"sft": 2}), runner=sky(fake, 30.0))
    assert fake.names().count("jobs_launch") == 3
    assert result.runner == "skypilot" and not result.dry_run and result.launched.job_ids == [7, 8, 9]
    assert result.estimate.total is not None and result.estimate.total <= 1000


def test_plan_json_prices_each_task_per_node_and_hour(recipe_file, cli):
    prices = {"H100:8": 40.0, "L4:1": 1.0, None: 0.5}
    path = recipe_file(hours={"train": 2, "filter": 0.5}, budget=500)
    code, out = cli(SkyPilot(price=lambda m: prices[m.accelerators]), "plan", path, "--json")
    got = json.loads(out)
    light, train, wide = got["tasks"]
    assert light["stages"] == ["rows", "keep", "again"] and train["stages"] == ["base", "train"]
    assert (light["hours"], light["price_per_hour"], light["cost"]) == (1.0, 0.5, 0.5)  # two filters, 0.5 h each
    assert (train["hours"], train["price_per_hour"], train["cost"]) == (2.0, 40.0, 80.0)
    assert (wide["num_nodes"], wide["price_per_hour"], wide["cost"]) == (2, 2.0, 1.0)
    assert got["total"] == 81.5 and got["budget"] == 500


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
    assert first_yaml["name"] == "rows-keep-again"


QUEUE = [
    {"job_id": 2, "job_name": "recipe-cloudy", "task_id": 0, "task_name": "a", "status": "SUCCEEDED"},
    {"job_id": 3, "job_name": "recipe-cloudy--rows-keep-again-aaaaaa", "task_id": 0, "task_name": "rows-keep-again",
     "status": "SUCCEEDED"},
    {"job_id": 4, "job_name": "recipe-cloudy--base-train-bbbbbb", "task_id": 0, "task_name": "base-train",
     "status": "FAILED", "failure_reason": "exit 1"},
    {"job_id": 5, "job_name": "recipe-cloudy--wide-cccccc", "task_id": 0, "task_name": "wide", "status": "RUNNING",
     "recovery_count": 1},
    {"job_id": 6, "job_name": "recipe-cloudy--base-train-dddddd", "task_id": 0, "task_name": "base-train",
     "status": "STARTING"},
    {"job_id": 9, "job_name": "recipe-cloudy-other--x-eeeeee", "task_id": 0, "task_name": "x", "status": "RUNNING"},
]


def test_status_lists_every_job_of_the_recipe(recipe_file, cli):
    fake = FakeSky(queue=QUEUE)
    code, out = cli(SkyPilot(client=fake), "status", recipe_file())
    assert "job 5 recipe-cloudy--wide-cccccc task 0 wide: RUNNING recovered 1x" in out
    assert "job 4 recipe-cloudy--base-train-bbbbbb task 0 base-train: FAILED (exit 1)" in out
    assert "recipe-cloudy-other" not in out
    code, out = cli(SkyPilot(client=fake), "status", "--runner", "skypilot")
    assert "recipe-cloudy-other" in out
    info = api.status(recipe=api.load(recipe_file()), runner=SkyPilot(client=fake))
    assert {j["job_id"] for j in info["jobs"]} == {2, 3, 4, 5, 6} and info["job"] == "recipe-cloudy"


def test_logs_stream_the_newest_job_of_each_part_or_the_one_running_a_stage(recipe_file, capsys):
    fake = FakeSky(queue=QUEUE)
    assert api.logs(recipe_file(), runner=SkyPilot(client=fake), follow=False) == 0
    assert [c[1] for c in fake.calls if c[0] == "jobs_logs"] == [(2, False), (3, False), (5, False), (6, False)]
    assert "# ---- job 6 recipe-cloudy--base-train-dddddd: STARTING" in capsys.readouterr().out
    fake = FakeSky(queue=QUEUE)
    assert api.logs(recipe_file(), runner=SkyPilot(client=fake), task="train") == 0
    assert [c[1] for c in fake.calls if c[0] == "jobs_logs"] == [(6, True)]
    with pytest.raises(CloudError, match="no job of cloudy runs 'nope'; its jobs: base-train, recipe-cloudy, "
                                         "rows-keep-again, wide"):
        api.logs(recipe_file(), runner=SkyPilot(client=FakeSky(queue=QUEUE)), task="nope")


def test_logs_task_is_refused_by_no_runner_and_filters_local_stages(recipe_file):
    with pytest.raises(CloudError, match="no managed job of cloudy"):
        api.logs(recipe_file(), runner=SkyPilot(client=FakeSky()), task="train")


def test_cancel_cancels_every_running_job_and_downs_clusters(recipe_file, cli):
    fake = FakeSky(queue=QUEUE, clusters=[{"name": "recipe-cloudy-1", "status": "UP"}])
    code, out = cli(SkyPilot(client=fake), "cancel", recipe_file())
    assert ("jobs_cancel", [5, 6]) in fake.calls and ("cluster_down", "recipe-cloudy-1") in fake.calls
    assert ("cancelled 2 managed job(s) of recipe-cloudy (id 5, 6): recipe-cloudy--base-train-dddddd, "
            "recipe-cloudy--wide-cccccc") in out


def test_cancel_with_nothing_running_says_so(recipe_file, cli):
    done = api.cancel(recipe_file(), runner=SkyPilot(client=FakeSky(queue=QUEUE[:3])))
    assert done == {"runner": "skypilot", "job": "recipe-cloudy", "cancelled": [], "names": [], "down": []}
    assert "nothing running for recipe-cloudy" in cli(SkyPilot(client=FakeSky(queue=QUEUE[:3])), "cancel",
                                                      recipe_file())[1]


def test_no_secret_set_here_sends_jobs_without_secrets(recipe_file, sky_env, monkeypatch, cli):
    monkeypatch.delenv("HF_TOKEN")
    fake = FakeSky()
    code, out = cli(sky(fake, 1.0), "apply", recipe_file(mount="MOUNT"))
    text, _, secrets = launches(fake)[0]
    assert secrets == {}
    docs = list(yaml.safe_load_all(text))[1:]
    assert all("secrets" not in d and d["file_mounts"]["/recipe-store"]["mode"] == "MOUNT" for d in docs)
    assert "not set here, so not sent: HF_TOKEN, WANDB_API_KEY" in out
