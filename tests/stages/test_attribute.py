"""The attribute stage on a tiny model: both modes answered, graded, decomposed per domain; CKA per layer;
a judge's verdicts counted (Uncertain apart); domains outside the map refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas import Artifact, AttributeStage, DatasetStage
from stages import attribute, dataset
from stages._context import StageContext, StageError
from stages._data import read_rows
from stages.attribute import mode_prompt, question_of
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def quiz(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    """The tiny twin's questions: 36 in three domains."""
    folder = tmp_path_factory.mktemp("quiz")
    spec = DatasetStage(id="quiz", data={"source": "mcq", "path": str(ROOT / "recipes/data/mcq-domains.jsonl"),
                                         "domain_field": "domain"})
    dataset.run(spec, {}, StageContext(out=folder))
    return Artifact(type="dataset", path=str(folder))


def _spec(**fields) -> AttributeStage:
    return AttributeStage.model_validate({"id": "a", "kind": "attribute", "model": "m", "data": "quiz",
                                          "fast": {"max_new_tokens": 2}, "slow": {"max_new_tokens": 4},
                                          "backend": "transformers", "cka_batch_size": 8, **fields})


def test_prompts_put_the_mode_before_the_bare_question(quiz):
    row = read_rows(Path(quiz.path) / "data.jsonl")[0]
    assert question_of(row) == "What is 7 + 5?\nA. 12\nB. 11\nC. 13\nD. 14"  # without the data's instruction
    fast = mode_prompt(_spec().fast, row)
    assert fast.endswith("- Do not include any additional text or punctuation\nWhat is 7 + 5?\nA. 12\nB. 11\nC. 13\n"
                         "D. 14")
    assert "Output EXACTLY one letter (A, B, C, D)" in fast and "{letters}" not in fast


def test_both_modes_are_answered_graded_and_decomposed_per_domain(ctx: StageContext, tiny_model, quiz):
    summary = attribute.run(_spec(), {"model": tiny_model, "data": quiz}, ctx)
    report = json.loads((ctx.out / "report.json").read_text())
    assert list(report["domains"]) == ["geography", "math", "science"]  # report.json keys are sorted
    assert sum(d["n"] for d in report["domains"].values()) == report["overall"]["n"] == 36
    o = report["overall"]
    assert o["delta"] == pytest.approx(o["delta_c"] - o["delta_o"]) and summary["A_fast"] == round(o["A_fast"], 4)
    assert report["graded_by"] == "letter" and report["params"] > 0
    assert len(report["cka"]) == 3 and report["cka"][0] is None  # embeddings + 2 layers; one shared last token
    assert all(v is None or -0.5 < v < 1.5 for v in report["cka"])
    assert report["modes"]["fast"]["tokens"] <= 2 * 36 and report["modes"]["slow"]["tokens"] <= 4 * 36
    samples = read_rows(ctx.out / "samples.jsonl")
    assert len(samples) == 36 and {"fast_response", "slow_response", "fast_letter", "slow_correct"} <= set(samples[0])
    wrong = [s for s in samples if s["fast_letter"] != s["answer"]]
    assert all(not s["fast_correct"] for s in wrong)
    assert report["unanswered"]["fast"] == sum(s["fast_letter"] is None for s in samples)


def test_a_judge_grades_both_modes_and_uncertain_is_counted_apart(ctx: StageContext, tiny_model, quiz):
    attribute.run(_spec(judge="j", cka=False), {"model": tiny_model, "data": quiz, "judge": tiny_model}, ctx)
    report = json.loads((ctx.out / "report.json").read_text())
    samples = read_rows(ctx.out / "samples.jsonl")
    assert report["graded_by"] == "judge" and report["cka"] is None
    for mode in ("fast", "slow"):  # a random model writes no verdict: each answer is uncertain, and wrong
        assert {s[f"{mode}_verdict"] for s in samples} == {"uncertain"}
        assert report["unanswered"][mode] == 36 and report["overall"][f"A_{mode}"] == 0
        assert not any(s[f"{mode}_judge_parsed"] for s in samples)


def test_domains_outside_the_map_stop_the_stage_before_any_answer(ctx: StageContext, tiny_model, quiz):
    with pytest.raises(StageError, match=r"1 domain value\(s\) of 'quiz' are not in the domain map: 'science'"):
        attribute.run(_spec(domains={"math": "Mathematics", "geography": "Geography"}),
                      {"model": tiny_model, "data": quiz}, ctx)
    assert not (ctx.out / "report.json").exists()
