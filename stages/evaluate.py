"""EvaluateStage: accuracy, pass@k and response length of each model on one dataset, in one report.

Every model sees the same prompts and sampling, and is scored by `stages.verify`, so the numbers are
comparable across the models of a recipe (base vs. SFT vs. RL).
"""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from schemas import Artifact, EvaluateStage
from stages._context import StageContext, StageError
from stages._data import read_rows, write_rows
from stages._generation import Sampling, generate
from stages._lineage import read_training
from stages.verify import is_correct, score


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with `c` correct out of `n` samples: 1 - C(n-c, k) / C(n, k)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def metrics(samples: Sequence[Mapping[str, Any]], n: int) -> dict[str, float]:
    """Per-model metrics from scored samples laid out problem by problem, `n` samples each."""
    problems = [samples[i : i + n] for i in range(0, len(samples), n)]
    correct = [sum(bool(s["correct"]) for s in group) for group in problems]
    total = len(samples)
    result = {
        "accuracy": sum(correct) / total,
        "mean_reward": sum(s["reward"] for s in samples) / total,
        "pass@1": sum(pass_at_k(n, c, 1) for c in correct) / len(problems),
        "mean_response_tokens": sum(s["response_tokens"] for s in samples) / total,
        "finished_rate": sum(bool(s["finished"]) for s in samples) / total,
        "n_problems": len(problems),
        "n_samples": total,
    }
    if n > 1:
        result[f"pass@{n}"] = sum(pass_at_k(n, c, n) for c in correct) / len(problems)
    return result


def episodes(spec: EvaluateStage, model: Artifact, rows: list[dict[str, Any]], sampling: Sampling,
             progress: Any) -> dict[int, list[dict[str, Any]]]:
    """Every row's episode at each N of the task, as samples (row by row, sample by sample): `response` is the
    last attempt, `turns` the whole episode, `correct` whether any attempt was right."""
    import torch

    from stages._chat import prompt_text, stop_ids
    from stages._episode_backends import engine, loaded
    from stages._episodes import MultiAttempt
    from stages._generation import pick_backend, shutdown_vllm
    from stages._models import load_model, load_tokenizer

    assert spec.task is not None
    tokenizer = load_tokenizer(model, padding_side="left")
    vllm = pick_backend(sampling.backend, model) == "vllm"
    if vllm:
        from vllm import LLM

        from stages._models import adapter_base

        if Path(model.model).exists() and adapter_base(model.model) is not None:
            raise StageError(f"{model.model} holds an unmerged LoRA adapter; use backend: transformers or lora.merge")

        prompt = max(len(tokenizer(prompt_text(tokenizer, r), add_special_tokens=False)["input_ids"]) for r in rows)
        note = len(tokenizer(spec.task.attempts_prompt)["input_ids"]) + 16  # the attempts sentence, its newline
        llm = LLM(model=model.model, revision=model.revision, seed=sampling.seed, dtype="auto",
                  max_model_len=prompt + note + spec.max_new_tokens)
        stops = stop_ids(tokenizer)
        generate_attempts = engine(llm, sampling, stops)
    else:
        loaded_model = load_model(model, "auto").to("cuda" if torch.cuda.is_available() else "cpu").eval()
        stops = stop_ids(tokenizer, loaded_model.generation_config.eos_token_id)
        generate_attempts = loaded(loaded_model, tokenizer, sampling, stops)
    out: dict[int, list[dict[str, Any]]] = {}
    counts = range(spec.task.min_attempts, spec.task.max_attempts + 1)
    try:
        for number, k in enumerate(counts, 1):
            task = spec.task.model_copy(update={"min_attempts": k, "max_attempts": k})
            runner = MultiAttempt(task, tokenizer, rows, {}, stops, spec.max_new_tokens, seed=spec.seed)
            if number == 1:
                runner.check_template()
            started = [runner.start_row(row) for row in rows for _ in range(spec.samples)]
            done = runner.run(started, generate_attempts)
            out[k] = [_sample(e, i % spec.samples) for i, e in enumerate(done)]
            progress(number, len(counts))
    finally:
        if vllm:
            shutdown_vllm(llm)
    return out


def _sample(episode: Any, sample: int) -> dict[str, Any]:
    summary = episode.summary()
    last = episode.attempts[-1]
    return {**episode.row, "response": last["text"], "sample": sample, "turns": summary["turns"],
            "attempts": summary["attempts"], "first_right": summary["first_right"],
            "finished": last["stopped"],
            "response_tokens": sum(a["tokens"] for a in episode.attempts),
            "reward": float(summary["right"]), "correct": summary["right"]}


def run(spec: EvaluateStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Generate, score and summarise every model; write `report.json` and `samples.jsonl`."""
    rows = read_rows(inputs["data"].rows)
    if not rows:
        raise StageError(f"stage {spec.id!r}: evaluation data {spec.data!r} has no rows")
    sampling = Sampling.of(spec, spec.samples)
    report: dict[str, Any] = {"data": spec.data, "samples": spec.samples, "temperature": spec.temperature,
                              "max_new_tokens": spec.max_new_tokens, "models": {}}
    all_samples: list[dict[str, Any]] = []
    for name in spec.models:

        def progress(done: int, total: int, name: str = name) -> None:
            ctx.progress(done, total, f"evaluate {name}")

        by_attempts = None
        if spec.task is not None:
            by_attempts = episodes(spec, inputs[f"models.{name}"], rows, sampling, progress)
            scored = [{**out, "model": name} for out in by_attempts[spec.task.max_attempts]]
        else:
            scored = []
            for out in generate(inputs[f"models.{name}"], rows, sampling, progress):
                reward = score(out, out["response"])
                scored.append({**out, "model": name, "reward": reward, "correct": is_correct(reward)})
        report["models"][name] = {**metrics(scored, spec.samples), **read_training(inputs[f"models.{name}"])}
        if by_attempts is not None:  # the paper's table: accuracy when told k attempts, k = min..max
            report["models"][name].update({f"attempts@{k}": metrics(s, spec.samples)["accuracy"]
                                           for k, s in by_attempts.items()})
        all_samples.extend(scored)
        gc.collect()
    (ctx.out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    write_rows(ctx.out / "samples.jsonl", all_samples)
    return {name: round(m["accuracy"], 4) for name, m in report["models"].items()}
