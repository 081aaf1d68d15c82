"""AttributeStage: the cognition attribution of one model on one dataset (Yang, Gao, Wu, AAAI-26).

Every question is answered twice, greedily, with the paper's fast prefix (the letter only: knowledge) and
its slow prefix (Thought, then Solution: knowledge plus reasoning), each prefix before the question in the
user turn. Answers are graded by their option letter (multiple choice), the data's verifier, or a judge
model. `report.json` holds the decomposition overall and per domain, the per-layer CKA between the two
modes' hidden states at the last prompt token, tokens and seconds per mode, and the parameter count;
`samples.jsonl` every answer.
"""

from __future__ import annotations

import gc
import inspect
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from schemas import Artifact, AttributeStage
from schemas.stages.attribute import Mode
from stages._attribution import (
    answer_letter,
    by_domain,
    decompose,
    judge_request,
    options_of,
    reported_domain,
    verdict,
)
from stages._context import StageContext, StageError
from stages._data import read_rows, write_rows
from stages._device import require_cuda
from stages._generation import Sampling, generate, generate_loaded, pick_backend
from stages._mcq import is_mcq
from stages.verify import is_correct, score

MODES = ("fast", "slow")


def question_of(row: Mapping[str, Any]) -> str:
    """The question as the modes see it: a multiple-choice row's question and options without the data's
    answer instruction (the mode's prefix says how to answer), else the row's prompt."""
    return str((row.get("meta") or {}).get("question") or row["prompt"])


def mode_prompt(mode: Mode, row: Mapping[str, Any]) -> str:
    """The mode's prefix, then the question (as the paper joins them: prefix + question, in the user turn)."""
    letters = ", ".join((row.get("meta") or {}).get("choices") or "ABCD")
    return f"{mode.prompt.replace('{letters}', letters).rstrip()}\n{question_of(row)}"


def _domains(spec: AttributeStage, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    mapping = spec.domain_map()
    found = [reported_domain(row, mapping, spec.data) for row in rows]
    missing = sorted({str((row.get("meta") or {}).get("domain")) for row, d in zip(rows, found, strict=True)
                      if d is None})
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise StageError(f"stage {spec.id!r}: {len(missing)} domain value(s) of {spec.data!r} are not in the domain "
                         f"map: {shown}; add them to `domains` (or leave `domains` out to report them as they are)")
    return [str(d) for d in found]


def _grade(spec: AttributeStage, rows: Sequence[Mapping[str, Any]], outputs: dict[str, list[dict[str, Any]]],
           inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, list[dict[str, Any]]]:
    """Per mode and question: `correct`, `answered` (a letter found / a verdict other than Uncertain), and the
    letter or the judge's verdict."""
    graded: dict[str, list[dict[str, Any]]] = {}
    if "judge" in inputs:
        requests = [{"id": f"{mode}/{i}", "prompt": judge_request(spec.judge_prompt, question_of(row), out["response"],
                                                                   str(row["answer"])), "meta": {}}
                    for mode in MODES for i, (row, out) in enumerate(zip(rows, outputs[mode], strict=True))]
        said = generate(inputs["judge"], requests, Sampling(temperature=0.0, max_new_tokens=16,
                                                            batch_size=spec.batch_size, seed=spec.seed,
                                                            backend=spec.backend),
                        lambda done, total: ctx.progress(done, total, "judge"))
        for mode_index, mode in enumerate(MODES):
            part = said[mode_index * len(rows) : (mode_index + 1) * len(rows)]
            graded[mode] = []
            for out in part:
                word, parsed = verdict(out["response"])
                graded[mode].append({"correct": word == "correct", "answered": word != "uncertain",
                                     "verdict": word, "judge_parsed": parsed, "judge_response": out["response"]})
        return graded
    mcq = is_mcq(rows)  # type: ignore[arg-type]
    for mode in MODES:
        graded[mode] = []
        for row, out in zip(rows, outputs[mode], strict=True):
            if mcq:
                letters = row["meta"]["choices"]
                letter = answer_letter(out["response"], letters, mode,  # type: ignore[arg-type]
                                       options_of(question_of(row), letters))
                graded[mode].append({"correct": letter == row["answer"], "answered": letter is not None,
                                     "letter": letter})
            else:
                graded[mode].append({"correct": is_correct(score(out, out["response"])), "answered": None})
    return graded


def _device_map() -> dict[str, Any]:
    """Where the CKA forward pass puts the model: one GPU, several (sharded by accelerate), or the CPU."""
    import torch

    if not torch.cuda.is_available():
        return {}
    return {"device_map": "auto"} if torch.cuda.device_count() > 1 else {"device_map": {"": 0}}


def _load(model_ref: Artifact) -> tuple[Any, Any]:
    """The tokenizer (padding on the left) and the model, once for answers and CKA: one GPU, several (sharded
    by accelerate), or the CPU."""
    from stages._models import load_model, load_tokenizer

    return load_tokenizer(model_ref, padding_side="left"), load_model(model_ref, "auto", **_device_map()).eval()


def hidden_cka(spec: AttributeStage, model: Any, tok: Any, rows: Sequence[Mapping[str, Any]],
               ctx: StageContext) -> list[float | None] | None:
    """Per-layer CKA (embeddings first) between the fast and the slow prompt's hidden state at the last prompt
    token, streamed over minibatches (None without `cka` or with fewer than 4 questions)."""
    import torch

    from stages._chat import has_template, prompt_text
    from stages._cka import MinibatchCka, batches

    if not spec.cka or len(rows) < 4:
        return None
    device = next(model.parameters()).device
    templated = has_template(tok)
    keep = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
    cka = MinibatchCka()
    spans = batches(len(rows), spec.cka_batch_size)

    def last_states(mode: Mode, batch: Sequence[Mapping[str, Any]]) -> list[Any]:
        texts = [prompt_text(tok, {**row, "prompt": mode_prompt(mode, row)}) for row in batch]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=not templated).to(device)
        positions = (enc["attention_mask"].cumsum(-1) - 1).clamp(min=0)  # left padding: count real tokens only
        with torch.no_grad():
            out = model(**enc, position_ids=positions, output_hidden_states=True, **keep)
        return [h[:, -1, :].float().cpu() for h in out.hidden_states]

    for number, (start, end) in enumerate(spans, 1):
        batch = rows[start:end]
        cka.add(last_states(spec.fast, batch), last_states(spec.slow, batch))
        ctx.progress(number, len(spans), "CKA")
    return cka.values()


def _answers(spec: AttributeStage, rows: Sequence[Mapping[str, Any]], model_ref: Artifact,
             loaded: tuple[Any, Any] | None, ctx: StageContext) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each mode's greedy answers (with the loaded model, or through vLLM's own engine) and its timing."""
    outputs: dict[str, list[dict[str, Any]]] = {}
    timing: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        settings: Mode = getattr(spec, mode)
        asked = [{**row, "prompt": mode_prompt(settings, row)} for row in rows]
        sampling = Sampling(temperature=0.0, max_new_tokens=settings.max_new_tokens, batch_size=spec.batch_size,
                            seed=spec.seed, backend=spec.backend)

        def progress(done: int, total: int, mode: str = mode) -> None:
            ctx.progress(done, total, f"{mode} answers")

        began = time.monotonic()
        if loaded is None:
            outputs[mode] = generate(model_ref, asked, sampling, progress)
        else:
            outputs[mode] = generate_loaded(loaded[1], loaded[0], asked, sampling, progress)
        seconds = time.monotonic() - began
        tokens = sum(out["response_tokens"] for out in outputs[mode])
        timing[mode] = {"seconds": round(seconds, 2), "tokens": tokens, "mean_tokens": tokens / len(rows),
                        "tokens_per_s": round(tokens / seconds, 1) if seconds > 0 else None,
                        "finished": sum(bool(o["finished"]) for o in outputs[mode]) / len(rows)}
    return outputs, timing


def run(spec: AttributeStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Answer, grade and decompose; write `report.json` and `samples.jsonl`."""
    rows = read_rows(inputs["data"].rows)
    if not rows:
        raise StageError(f"stage {spec.id!r}: the questions {spec.data!r} have no rows")
    domains = _domains(spec, rows)
    require_cuda(spec.id)
    on_vllm = pick_backend(spec.backend, inputs["model"]) == "vllm"
    loaded = None if on_vllm else _load(inputs["model"])
    outputs, timing = _answers(spec, rows, inputs["model"], loaded, ctx)
    tok, model = loaded if loaded is not None else _load(inputs["model"])  # after vLLM has given the GPUs back
    cka = hidden_cka(spec, model, tok, rows, ctx)
    params = sum(p.numel() for p in model.parameters())
    del model, loaded
    gc.collect()  # before a judge loads: one model in memory at a time
    graded = _grade(spec, rows, outputs, inputs, ctx)
    fast = [g["correct"] for g in graded["fast"]]
    slow = [g["correct"] for g in graded["slow"]]
    report: dict[str, Any] = {
        "model": spec.model, "data": spec.data, "params": params, "judge": spec.judge,
        "graded_by": "judge" if spec.judge else ("letter" if is_mcq(rows) else "verifier"),  # type: ignore[arg-type]
        "overall": decompose(fast, slow), "domains": by_domain(domains, fast, slow), "cka": cka, "modes": timing,
        "unanswered": {mode: sum(g["answered"] is False for g in graded[mode]) for mode in MODES},
    }
    (ctx.out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    write_rows(ctx.out / "samples.jsonl", (
        {"id": row["id"], "domain": domain, "answer": row["answer"],
         **{f"{mode}_{key}": value for mode in MODES for key, value in
            {"response": outputs[mode][i]["response"], "tokens": outputs[mode][i]["response_tokens"],
             **graded[mode][i]}.items()}}
        for i, (row, domain) in enumerate(zip(rows, domains, strict=True))))
    overall = report["overall"]
    return {key: round(overall[key], 4) for key in ("A_fast", "A_slow", "delta")}
