"""Named outputs (`split.mastered`): typed and fingerprinted in the plan, committed as artifacts of their own."""

from __future__ import annotations

import shutil

import pytest

from sdk import api
from sdk.errors import RecipeError
from sdk.plan import fingerprint
from sdk.run.store import Store
from tests.conftest import ROOT

SPLIT = f"""
recipe: pipeline
name: outputs
models:
  base: tiny:qwen2
data:
  questions: {{source: mcq, path: {ROOT / "recipes/data/mcq-tiny.jsonl"}, limit: 12}}
stages:
  - {{id: split, kind: split, model: base, data: questions, heldout: 0.5}}
  - {{id: tune, kind: sft, model: base, data: split.injection, mastered: split.mastered, heldout: split.heldout,
      target: answer, answer_format: "{{answer}}", max_steps: 1, batch_size: 1, cnl: {{}}, optimizer: sgd}}
  - {{id: count, kind: forgetting, models: [base, tune], injection: split.injection, mastered: split.mastered,
      heldout: split.heldout}}
"""


def test_named_outputs_are_typed_and_fingerprinted_from_their_stage(write):
    plan = api.compile(api.load(write(SPLIT)))
    split = plan["split"]
    assert [(o.name, o.type) for o in split.outputs] == [("mastered", "dataset"), ("injection", "dataset"),
                                                        ("heldout", "dataset")]
    mastered = split.output("mastered")
    assert mastered.fingerprint == fingerprint({"of": split.fingerprint, "output": "mastered", "type": "dataset"})
    assert plan["tune"].payload["inputs"]["mastered"] == mastered.fingerprint
    assert plan.producer("split.heldout") is split and plan.key_of("split.injection") == split.output("injection").key
    assert plan.ancestors("count") == {"base", "questions", "split", "tune"}
    assert plan["tune"].needs == ("base", "split")  # what the scheduler waits for
    assert plan.to_json()["stages"][2]["outputs"]["mastered"]["fingerprint"] == mastered.fingerprint


@pytest.mark.parametrize(("old", "new", "message"), [
    ("mastered: split.mastered,", "mastered: split.mastred,",
     "r.yaml:9:73: stages.1.mastered: stage 'split' has no output named 'mastred' (did you mean split.mastered?)"),
    ("data: split.injection,", "data: split,",
     "r.yaml:9:46: stages.1.data: 'split' gives a report, but 'data' needs a dataset"),
])
def test_a_wrong_output_reference_is_located(write, old, new, message):
    with pytest.raises(RecipeError) as err:
        api.compile(api.load(write(SPLIT.replace(old, new))))
    assert message in str(err.value)


def test_a_fanned_out_split_fans_out_its_outputs_users(write):
    text = SPLIT.replace("heldout: 0.5}", "heldout: 0.5, matrix: {seed: [0, 1]}}")
    plan = api.compile(api.load(write(text)))
    assert [i for i in plan.ids if i.startswith("tune")] == ["tune[seed=0]", "tune[seed=1]"]
    assert dict(plan["tune[seed=1]"].inputs)["mastered"] == "split[seed=1].mastered"
    assert dict(plan["count[seed=1]"].inputs)["injection"] == "split[seed=1].injection"


@pytest.mark.slow
def test_apply_commits_each_output_and_reruns_a_stage_missing_one(write, tmp_path):
    recipe, store = write(SPLIT), tmp_path / "store"
    first = api.apply(recipe, store=store, until=("tune",))
    assert {o.id: o.state for o in first.outcomes} == {"base": "ran", "questions": "ran", "split": "ran",
                                                      "tune": "ran"}
    plan = api.compile(api.load(recipe))
    split = plan["split"]
    manifest = Store(store).manifest(split.output("mastered").key)
    assert manifest["artifact"] == "dataset" and manifest["output_of"]["stage"] == "split"
    assert (Store(store).artifact_dir(split.output("injection").key) / "data.jsonl").is_file()
    assert Store(store).manifest(split.key)["outputs"]["heldout"] == split.output("heldout").key
    shutil.rmtree(Store(store).artifact_dir(split.output("heldout").key))
    again = api.apply(recipe, store=store, until=("tune",))
    assert {o.id: o.state for o in again.outcomes}["split"] == "ran"
    assert {o.id: o.state for o in again.outcomes}["tune"] == "cached"
