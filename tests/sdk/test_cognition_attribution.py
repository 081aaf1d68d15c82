"""The cognition-attribution kind: one stage per model and dataset, the paper's prompts as defaults, and
every bad input located at validate or plan."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from schemas.stages.attribute import FAST_PROMPT, SLOW_PROMPT
from sdk import api
from sdk.errors import RecipeError
from tests.conftest import ROOT

TINY = ROOT / "recipes" / "cognition-attribution-tiny.yaml"
PAPER = ROOT / "recipes" / "cognition-attribution.yaml"
QUIZ = ROOT / "recipes" / "data" / "mcq-domains.jsonl"

RECIPE = f"""
recipe: cognition-attribution
name: ca
models:
  a: tiny:qwen2
  b: {{source: tiny:qwen2, seed: 1}}
data:
  quiz: {{source: mcq, path: {QUIZ}, domain_field: domain}}
compare: [a, b]
questions: [quiz]
"""


def test_one_stage_per_model_and_dataset_with_the_papers_prompts():
    plan = api.compile(api.load(TINY))
    assert plan.ids == ["smol", "random", "quiz", "attribute[model=smol,data=quiz]",
                        "attribute[model=random,data=quiz]"]
    spec = plan["attribute[model=smol,data=quiz]"].spec
    assert dict(plan["attribute[model=smol,data=quiz]"].inputs) == {"model": "smol", "data": "quiz"}
    assert spec.fast.prompt == FAST_PROMPT and spec.slow.prompt == SLOW_PROMPT  # only the budgets are changed
    assert (spec.fast.max_new_tokens, spec.slow.max_new_tokens, spec.judge) == (8, 96, None)
    assert "Output EXACTLY one letter ({letters})" in FAST_PROMPT and "Thought and Solution" in SLOW_PROMPT


def test_adding_a_model_leaves_every_other_stage_cached(write):
    before = api.compile(api.load(write(RECIPE)))
    after = api.compile(api.load(write(RECIPE), ["compare=[a,b,c]", "models.c=tiny:llama"]))
    changed = [s.id for s in after.stages if s.id not in before.ids or before[s.id].fingerprint != s.fingerprint]
    assert changed == ["c", "attribute[model=c,data=quiz]"]


def test_the_batch_sizes_do_not_change_a_result(write):
    a = api.compile(api.load(write(RECIPE)))
    b = api.compile(api.load(write(RECIPE), ["attribute.batch_size=2", "attribute.cka_batch_size=4"]))
    assert [s.fingerprint for s in a.stages] == [s.fingerprint for s in b.stages]
    c = api.compile(api.load(write(RECIPE), ["attribute.slow.max_new_tokens=64"]))
    assert [s.id for s in c.stages if s.fingerprint != a[s.id].fingerprint] == [
        "attribute[model=a,data=quiz]", "attribute[model=b,data=quiz]"]


def test_expand_gives_a_pipeline_with_the_same_plan(tmp_path):
    expanded = tmp_path / "expanded.yaml"
    expanded.write_text(yaml.safe_dump(api.expand(api.load(TINY))))
    again, plan = api.compile(api.load(expanded)), api.compile(api.load(TINY))
    assert {s.id: s.fingerprint for s in again.stages} == {s.id: s.fingerprint for s in plan.stages}


def test_the_paper_recipe_runs_every_model_at_once_and_fits_the_gpus(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recipe = api.load(PAPER)
    plan = api.compile(recipe)
    stages = [s for s in plan.stages if s.kind == "attribute"]
    assert len(stages) == 15 and {s.spec.slow.max_new_tokens for s in stages} == {4096}
    assert {dict(s.inputs)["data"] for s in stages} == {"mmlu", "mathqa", "medqa"}
    assert all(set(s.needs) <= {"qwen1_5b", "qwen7b", "qwen32b", "qwq32b", "llama8b", "mmlu", "mathqa", "medqa"}
               for s in stages)  # no stage waits on another model's
    fits = {f.stage.id: f for f in api.plan(recipe).memory}  # on the runner's H100:8
    assert len(fits) == 15
    for model in ("qwen32b", "qwq32b"):
        fit = fits[f"attribute[model={model},data=mmlu]"]
        assert not fit.over and "tensor parallel 2" in fit.note and "32,764M params" in fit.note
    assert all(not f.over and f.estimate is not None for f in fits.values())
    mmlu = plan["mmlu"].spec.data
    assert (mmlu.id, mmlu.name, mmlu.split, mmlu.domain_field) == ("cais/mmlu", "all", "test", "subject")


def _problems(write, text, *overrides):
    with pytest.raises(RecipeError) as info:
        api.compile(api.load(write(text), list(overrides)))
    return [str(p) for p in info.value.problems]


def test_unknown_and_repeated_names_are_located_with_a_hint(write, tmp_path):
    problems = _problems(write, RECIPE.replace("compare: [a, b]", "compare: [a, bb, a]\njudge: jdg"))
    assert problems == [
        f"{tmp_path}/r.yaml:8:14: compare.1: no model named 'bb' (did you mean 'b'?)",
        f"{tmp_path}/r.yaml:8:11: compare.0: 'a' is listed twice",
        f"{tmp_path}/r.yaml:9:8: judge: no model named 'jdg' (declare it under `models:`)"]
    assert _problems(write, RECIPE.replace("questions: [quiz]", "questions: [quizz]")) == [
        f"{tmp_path}/r.yaml:9:13: questions.0: no dataset named 'quizz' (did you mean 'quiz'?)"]


def test_a_domain_map_that_leaves_questions_out_is_refused_at_plan(write, tmp_path):
    text = RECIPE + "attribute: {domains: {math: Mathematics, science: Science}}\n"
    (problem,) = _problems(write, text)
    assert problem.startswith(f"{tmp_path}/r.yaml:7:")  # the column after the file's absolute path
    assert problem.endswith(": data.quiz.domain_field: 1 domain value(s) of 'quiz' are not in the domain map of "
                            "stage 'attribute[model=a,data=quiz]': 'geography' (add them to `domains`, or leave "
                            "`domains` out to report the values as they are)")
    assert api.compile(api.load(write(text.replace("science: Science", "science: Science, geography: Geo"))))
    with pytest.raises(RecipeError, match="an empty domain map maps no row"):
        api.load(write(RECIPE + "attribute: {domains: {}}\n"))


@pytest.mark.parametrize(("data", "message"), [
    ("{source: mcq, domain_field: domain}", "give the questions' `path` (a JSONL file) or `id` (a Hugging Face "
     "dataset), one of them"),
    ("{source: mcq, path: q.jsonl, id: cais/mmlu}", "give the questions' `path`"),
    ("{source: mcq, path: q.jsonl, split: test}", "`name` and `split` are for a hub dataset"),
])
def test_a_question_source_must_be_one_file_or_one_dataset(write, data, message):
    with pytest.raises(RecipeError, match=re.escape(message)):
        api.load(write(RECIPE.replace(f"{{source: mcq, path: {QUIZ}, domain_field: domain}}", data)))


def test_bad_questions_are_located_at_their_line(write, tmp_path):
    lines = QUIZ.read_text().splitlines()
    broken = json.loads(lines[3])
    broken["answer"] = "E"
    (tmp_path / "q.jsonl").write_text("\n".join([*lines[:3], json.dumps(broken), *lines[4:]]) + "\n")
    text = RECIPE.replace(str(QUIZ), "q.jsonl")
    assert _problems(write, text) == [f"{tmp_path}/q.jsonl:4:1: data.quiz: answer 'E' is not one of the options "
                                      "(A, B, C, D)"]
    no_domain = [json.dumps({k: v for k, v in json.loads(line).items() if k != "domain"}) for line in lines]
    (tmp_path / "q.jsonl").write_text("\n".join(no_domain) + "\n")
    assert _problems(write, text) == [f"{tmp_path}/q.jsonl:1:1: data.quiz: no 'domain' field (domain_field); its "
                                      "fields: id, question, options, answer"]


def test_a_judge_that_is_not_a_causal_lm_is_refused_where_it_is_named(write, tmp_path):
    (tmp_path / "rm").mkdir()
    (tmp_path / "rm" / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForSequenceClassification"]}))
    text = RECIPE.replace("  b: {source: tiny:qwen2, seed: 1}", "  b: {source: tiny:qwen2, seed: 1}\n  rm: ./rm")
    assert _problems(write, text + "judge: rm\n") == [
        f"{tmp_path}/r.yaml:6:7: models.rm: judge 'rm' of stage 'attribute[model=a,data=quiz]' is a "
        "Qwen2ForSequenceClassification, not a causal language model: it cannot write a verdict (give a chat model "
        "that answers in text (a causal LM), e.g. Qwen2.5-7B-Instruct)"]
    (tmp_path / "rm" / "config.json").write_text(json.dumps({"architectures": ["Qwen2ForCausalLM"]}))
    plan = api.compile(api.load(write(text + "judge: rm\n")))
    assert dict(plan["attribute[model=b,data=quiz]"].inputs)["judge"] == "rm"


def test_a_trained_model_of_another_recipe_can_be_attributed(write, tmp_path):
    text = RECIPE.replace("  b: {source: tiny:qwen2, seed: 1}",
                          f"  b: {{recipe: {ROOT / 'recipes' / 'pipeline-tiny.yaml'}, stage: sft}}")
    plan = api.compile(api.load(write(text)))
    other = api.compile(api.load(ROOT / "recipes" / "pipeline-tiny.yaml"))
    stage = plan["attribute[model=b,data=quiz]"]
    assert plan[dict(stage.inputs)["model"]].fingerprint == other["sft"].fingerprint
