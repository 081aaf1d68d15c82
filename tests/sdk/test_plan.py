"""Fingerprints: stable across processes, pinned, and changed only where a result changes."""

from __future__ import annotations

import json
import subprocess
import sys

from sdk import api
from sdk.plan import canonical, fingerprint
from tests.sdk.conftest import PIPELINE

GOLDEN_TRAIN = "ba3041a9f1485f4040c80c43b6b4edb96ef969be752cffa3c2f1ec760db448a4"


def test_fingerprint_is_sha256_of_the_canonical_payload(pipeline):
    stage = api.compile(api.load(pipeline))["train"]
    assert stage.payload == {
        "kind": "dataset", "version": 1, "inputs": {},
        "params": {"content": None, "data": {
            "source": "reasoning_gym", "task": "basic_arithmetic", "size": 32, "seed": 1, "config": {},
            "instruction": "Give only the final answer inside <answer></answer>.", "system": None,
            "extract": "answer_tag", "limit": None}},
    }
    assert stage.fingerprint == fingerprint(stage.payload)
    assert canonical({"b": 1, "a": [1.0, "x"]}) == '{"a":[1.0,"x"],"b":1}'


def test_fingerprint_golden_value_is_pinned(pipeline):
    # Changing this value invalidates every user's cache: do it only with a stage version bump.
    assert api.compile(api.load(pipeline))["train"].fingerprint == GOLDEN_TRAIN


def test_fingerprints_are_the_same_in_another_process(pipeline):
    here = {s.id: s.fingerprint for s in api.compile(api.load(pipeline)).stages}
    code = ("import json,sys; from sdk import api; "
            "print(json.dumps({s.id: s.fingerprint for s in api.compile(api.load(sys.argv[1])).stages}))")
    out = subprocess.run([sys.executable, "-c", code, str(pipeline)], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": ""})
    assert json.loads(out.stdout) == here


def test_changing_one_param_changes_that_stage_and_its_descendants_only(pipeline):
    before = api.compile(api.load(pipeline))
    after = api.compile(api.load(pipeline, ["stages.sample.temperature=0.5"]))
    changed = {s.id for s in after.stages if s.fingerprint != before[s.id].fingerprint}
    assert changed == {"sample", "keep"}


def test_ids_resources_and_logging_do_not_change_fingerprints(write):
    text = PIPELINE.replace("max_steps: 5,", "max_steps: 5, logging_steps: 7, resources: {processes: 2},")
    renamed = text.replace("{id: sft,", "{id: tune,").replace("model: sft", "model: tune").replace(
        "[base, sft]", "[base, tune]")
    a = api.compile(api.load(write(PIPELINE, "a.yaml")))
    b = api.compile(api.load(write(renamed, "b.yaml")))
    assert a["sft"].fingerprint == b["tune"].fingerprint
    assert a["sample"].fingerprint == b["sample"].fingerprint


def test_evaluate_fingerprint_follows_model_labels(pipeline):
    a = api.compile(api.load(pipeline))
    b = api.compile(api.load(pipeline, ["stages.eval.models=[sft, base]"]))
    assert a["eval"].fingerprint == b["eval"].fingerprint  # same set of labelled inputs


def test_dataset_grader_stays_out_of_the_fingerprint_at_its_default():
    from schemas import DatasetStage
    from sdk.plan import result_params

    hub = {"source": "hf", "id": "org/math"}
    exact = result_params(DatasetStage(id="d", data=hub))
    graded = result_params(DatasetStage(id="d", data={**hub, "grader": "math"}))
    assert "grader" not in exact["data"] and graded["data"]["grader"] == "math"
    mix = result_params(DatasetStage(id="d", data={"source": "mix", "parts": [hub, {**hub, "grader": "math"}]}))
    assert ["grader" in part for part in mix["data"]["parts"]] == [False, True]
