"""report: plots and summary.md from a real store (slow) and from a hand-made one (fast)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from sdk import api
from sdk.errors import StoreError
from sdk.report.write import _tensorboard, write_report
from sdk.run.store import Store, write_json
from stages import inventory
from tests.sdk._browser import check_report_page

RECIPE = """
recipe: pipeline
name: report-demo
vars:
  add: {min_terms: 2, max_terms: 2, min_digits: 1, max_digits: 1, operators: ["+"]}
models:
  base: tiny:qwen2
data:
  train: {source: reasoning_gym, task: basic_arithmetic, size: 8, seed: 1, config: "${vars.add}"}
  test: {source: reasoning_gym, task: basic_arithmetic, size: 4, seed: 2, config: "${vars.add}"}
stages:
  - {id: sft, kind: sft, model: base, data: train, target: answer, max_steps: 3, batch_size: 4, lr: 1.0e-3,
     max_length: 96}
  - {id: rl, kind: grpo, model: sft, data: train, steps: 2, prompts_per_step: 2, generations: 2,
     max_completion_tokens: 8, lr: 1.0e-3, backend: transformers, reward: {correct: 1.0, format: 0.5},
     matrix: {beta: [0.0, 0.04]}}
  - {id: eval, kind: evaluate, models: [base, sft, rl], data: test, max_new_tokens: 8}
"""


GRPO_TAGS = {"reward": "train/reward", "completion_length": "train/completions/mean_length",
             "zero_std": "train/frac_reward_zero_std", "clip_ratio": "train/clip_ratio/region_mean",
             "entropy": "train/entropy"}


@pytest.mark.slow
def test_report_of_a_real_fanned_out_apply_plots_what_tells_rl_health(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(textwrap.dedent(RECIPE).lstrip())
    api.apply(recipe, store=tmp_path / "store")
    out = write_report(tmp_path / "store")
    assert out == tmp_path / "store" / "reports" / "report-demo"
    pngs = {p.name for p in out.glob("*.png")}
    assert pngs == {"sft-loss.png", "sft-lr.png", "eval-accuracy.png", "rl-kl.png",
                    *(f"rl-{suffix}.png" for suffix in GRPO_TAGS)}
    plan = api.compile(api.load(recipe))
    branches = [s for s in plan.stages if s.kind == "grpo"]
    assert [s.id for s in branches] == ["rl[beta=0.0]", "rl[beta=0.04]"]
    for stage in branches:  # every plotted curve has a point per step, in both branches; KL only with beta > 0
        series = _tensorboard(Store(tmp_path / "store").artifact_dir(stage.key) / "tensorboard")
        for tag in [*GRPO_TAGS.values(), "train/rewards/correct/mean", "train/rewards/format/mean"]:
            assert [step for step, _ in series[tag]] == [1, 2], tag
        assert ("train/kl" in series) == (stage.spec.beta > 0)
    summary = (out / "summary.md").read_text()
    assert "## rl (grpo, 2 branches)" in summary and "![rl reward](rl-reward.png)" in summary
    assert "| model | accuracy | pass@1 | verifier score | response tokens | finished |" in summary
    assert "| rl[beta=0.04] |" in summary and "not on the scale of the GRPO reward" in summary
    again = write_report(tmp_path / "store", "report-demo", tmp_path / "elsewhere")
    assert {p.name for p in again.glob("*.png")} == pngs
    seen = check_report_page(out, tmp_path / "report.png")
    assert len(seen) == len(pngs)


def _commit(store: Store, key: str, manifest: dict, files: dict[str, str]) -> None:
    folder = store.artifact_dir(key)
    folder.mkdir(parents=True)
    for name, text in {"log.txt": "", **files}.items():
        (folder / name).write_text(text)
    write_json(folder / "manifest.json", {"key": key, "timings": {"started": 1.0, "seconds": 2.0},
                                          "files": inventory.take(folder), **manifest})


def test_hand_made_store_without_tensorboard(tmp_path: Path) -> None:
    store = Store(tmp_path)
    replay = "".join(json.dumps({"step": s, "reward": s / 4, "completion_tokens": 10 - s}) + "\n" for s in (1, 1, 2))
    report = {"data": "test", "samples": 1, "temperature": 0.0,
              "models": {"base": {"accuracy": 0.25, "pass@1": 0.25}, "rl": {"accuracy": 0.5, "pass@1": 0.5}}}
    _commit(store, "k1", {"stage": "rl", "kind": "grpo", "recipe": "demo", "summary": {"steps": 2}},
            {"replay.jsonl": replay})
    _commit(store, "k2", {"stage": "sft", "kind": "sft", "recipe": "demo", "summary": {}}, {})
    samples = "".join(json.dumps({"model": m, "id": f"p{i}", "correct": i < k}) + "\n"
                      for m, k in (("base", 1), ("rl", 2)) for i in range(4))
    _commit(store, "k3", {"stage": "eval", "kind": "evaluate", "recipe": "demo", "summary": {}},
            {"report.json": json.dumps(report), "samples.jsonl": samples})
    with pytest.raises(StoreError, match="no apply recorded"):
        write_report(tmp_path)
    out = write_report(tmp_path, "demo")  # no history: the recipe's artifacts
    assert {p.name for p in out.glob("*.png")} == {"rl-reward.png", "rl-completion_length.png", "eval-accuracy.png"}
    summary = (out / "summary.md").read_text()
    assert "| rl | 0.500 | 0.500 |" in summary and "No TensorBoard logs" in summary
    assert "| rl - base | +0.250 | 0.250 | 1 / 0 | no |" in summary  # paired: one problem of four differs
    with pytest.raises(StoreError, match="no apply and no artifacts of recipe 'other'"):
        write_report(tmp_path, "other")


def test_a_truncated_manifest_reports_its_stage_as_not_committed(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _commit(store, "k1", {"stage": "sft", "kind": "sft", "recipe": "demo", "summary": {}}, {})
    (store.artifact_dir("k1") / "manifest.json").write_text('{"key": "k1", "tim')
    store.record_run("demo", {"recipe": "demo", "started": 1.0, "stages": [
        {"id": "sft", "state": "ran", "seconds": 2.0, "path": str(store.artifact_dir("k1"))}]})
    summary = (write_report(tmp_path) / "summary.md").read_text()
    assert "| sft | ? | ran |" in summary


def test_report_page_stands_alone_and_shows_every_plot_in_a_browser(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    replay = "".join(json.dumps({"step": s, "reward": (s % 3) / 4, "completion_tokens": 10 + s % 5}) + "\n"
                     for s in range(1, 13))
    report = {"data": "test", "samples": 2, "temperature": 0.7, "models": {
        name: {"accuracy": a, "pass@1": a, "pass@2": min(1, 1.5 * a), "mean_reward": a + 0.05,
               "mean_response_tokens": 9.5, "finished_rate": 1.0, "n_problems": 8} for name, a in
        (("base", 0.0), ("rl", 0.5), ("student<b>", 0.375))}}
    _commit(store, "k1", {"stage": "rl", "kind": "grpo", "recipe": "demo", "summary": {"steps": 12}},
            {"replay.jsonl": replay})
    _commit(store, "k3", {"stage": "eval", "kind": "evaluate", "recipe": "demo", "summary": {}},
            {"report.json": json.dumps(report)})
    out = write_report(store.root, "demo", tmp_path / "report")
    text = (out / "report.html").read_text()
    assert "student&lt;b&gt;" in text and "<b>" not in text  # names are text, never markup
    assert "<th>verifier score</th>" in text
    assert "All but response tokens and the counts are fractions from 0 to 1." in text
    assert "| model | accuracy | pass@1 | pass@2 | verifier score |" in (out / "summary.md").read_text()
    seen = check_report_page(out, tmp_path / "report.png")
    assert {i["name"] for i in seen} == {"rl-reward.png", "rl-completion_length.png", "eval-accuracy.png"}


def test_verdicts_only_for_the_runs_whose_recipe_asks_for_them(tmp_path: Path) -> None:
    """The quickstart's GRPO run printed "reward hockey stick: YES" on 8 noisy steps: no grpo stage is
    judged unless its recipe asks (`verdicts: true`, which bai-merge sets on its RL branches)."""
    from sdk.report.write import verdict_lines

    store = Store(tmp_path)
    replay = "".join(json.dumps({"step": s, "reward": 0.5 - 0.02 * s, "completion_tokens": 100 - 3 * s}) + "\n"
                     for s in range(1, 31))
    _commit(store, "k1", {"stage": "rl", "kind": "grpo", "recipe": "demo", "summary": {"steps": 30}},
            {"replay.jsonl": replay})
    _commit(store, "k2", {"stage": "judged", "kind": "grpo", "recipe": "demo",
                          "summary": {"steps": 30, "verdicts": True}}, {"replay.jsonl": replay})
    lines = verdict_lines(write_report(tmp_path, "demo"))
    assert [line.split(":")[0] for line in lines] == ["judged", "judged"]
    assert "judged: length collapse: YES" in lines[0]


def test_bai_merge_asks_for_verdicts_and_the_quickstart_does_not() -> None:
    from sdk import api

    root = Path(__file__).resolve().parents[2]
    bai = api.compile(api.load(root / "recipes" / "bai-merge-tiny.yaml"))
    assert all(s.spec.verdicts for s in bai.stages if s.kind == "grpo" and s.id.startswith("rl["))
    quick = api.compile(api.load(root / "recipes" / "quickstart.yaml"))
    assert not any(s.spec.verdicts for s in quick.stages if s.kind == "grpo")
    off = api.compile(api.load(root / "recipes" / "bai-merge-tiny.yaml", ["rl.verdicts=false"]))
    assert not any(s.spec.verdicts for s in off.stages if s.kind == "grpo" and s.id.startswith("rl["))


def test_the_reward_plot_says_its_parts_are_unweighted_beside_the_weighted_total() -> None:
    """`format` flat at 1.0 beside a total of 1.31 read as a bug: the legend says which line is which."""
    from schemas import GrpoStage
    from sdk.report.write import _curve_lines

    reward = next(c for c in GrpoStage.CURVES if c.suffix == "reward")
    tags = {"train/reward": [(1, 1.31)], "train/rewards/correct/mean": [(1, 0.81)],
            "train/rewards/format/mean": [(1, 1.0)]}
    labels = [line.label for line in _curve_lines(reward, {"rl": tags}, branches=False)]
    assert labels == ["total (weighted sum)", "correct (unweighted)", "format (unweighted)"]
