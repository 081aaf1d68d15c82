"""The cnl-inject kind: one split shared by every arm, paper defaults, and its expanded pipeline."""

from __future__ import annotations

import pytest
import yaml

from sdk import api
from sdk.errors import RecipeError
from tests.conftest import ROOT

TINY = ROOT / "recipes" / "cnl-inject-tiny.yaml"
SMALL = ROOT / "recipes" / "cnl-inject-small.yaml"
QUESTIONS = str(ROOT / "recipes/data/mcq-easy.jsonl")


def test_every_arm_trains_on_the_one_split_and_is_counted():
    plan = api.compile(api.load(SMALL))
    assert plan.ids == ["small", "questions", "split", "cnl", "sft", "migu", "forgetting"]
    for arm in ("cnl", "sft", "migu"):
        assert dict(plan[arm].inputs) == {"model": "small", "data": "split.injection", "mastered": "split.mastered",
                                          "heldout": "split.heldout"}
    assert plan["cnl"].spec.cnl is not None and plan["migu"].spec.migu.keep_quantile == 0.7
    assert plan["sft"].spec.cnl is None and plan["sft"].spec.migu is None
    assert plan["forgetting"].spec.models == ["small", "cnl", "sft", "migu"]


def test_the_tiny_twin_trains_cnl_and_sft_at_a_first_order_step_and_small_adds_migu():
    """Both trains at the setting docs/cnl-inject.md measured (lr 3e-4, no gradient clipping: cnl 0 < sft in-set
    forgotten): the twin 4 epochs, its two arms; cnl-inject-small 5 epochs and MIGU, on the same cached split."""
    tiny, small = api.compile(api.load(TINY)), api.compile(api.load(SMALL))
    shared = ("small", "questions", "split")
    assert [small[s].key for s in shared] == [tiny[s].key for s in shared]
    assert tiny.ids == ["small", "questions", "split", "cnl", "sft", "forgetting"]
    for plan, arms, epochs in ((tiny, ("cnl", "sft"), 4), (small, ("cnl", "sft", "migu"), 5)):
        for arm in arms:
            spec = plan[arm].spec
            assert (spec.lr, spec.epochs, spec.max_grad_norm, spec.optimizer) == (3e-4, epochs, 0, "sgd")
    assert tiny["cnl"].spec.cnl.ref_grad_every == "epoch"  # the paper's refresh: one g_M pass per epoch


def test_paper_recipe_keeps_the_paper_settings():
    spec = api.compile(api.load(ROOT / "recipes" / "cnl-inject.yaml"))["cnl"].spec
    assert (spec.lr, spec.epochs, spec.batch_size, spec.optimizer, spec.bf16) == (1e-7, 25, 1, "sgd", False)
    assert spec.cnl.ref_grad_every == "epoch" and spec.resources.accelerators == "A100-80GB:1"


def test_changing_one_arm_keeps_the_split_cached(tmp_path):
    a = api.compile(api.load(SMALL))
    b = api.compile(api.load(SMALL, ["migu.keep_quantile=0.5"]))
    assert [s for s in a.ids if a[s].fingerprint != b[s].fingerprint] == ["migu", "forgetting"]


def test_expand_gives_a_pipeline_with_the_same_plan(tmp_path):
    expanded = tmp_path / "expanded.yaml"
    expanded.write_text(yaml.safe_dump(api.expand(api.load(TINY))))  # its MCQ path comes out absolute
    again, plan = api.compile(api.load(expanded)), api.compile(api.load(TINY))
    assert {s.id: s.fingerprint for s in again.stages} == {s.id: s.fingerprint for s in plan.stages}


def test_an_arm_listed_twice_is_located(tmp_path):
    bad = tmp_path / "r.yaml"
    text = TINY.read_text().replace("data/mcq-easy.jsonl", QUESTIONS)
    bad.write_text(text.replace("arms: [cnl, sft]", "arms: [cnl, sft, cnl]"))
    with pytest.raises(RecipeError, match=r"r.yaml:\d+:\d+: arms: arm 'cnl' is listed twice"):
        api.compile(api.load(bad))
