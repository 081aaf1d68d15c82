"""GPU check: sft, grpo and generate on a random-init Qwen2 (~0.5B, bf16), through the real CLI engine.

Prints, per stage: wall time, tokens/s, peak GPU memory (torch allocator, from the stage's summary)
beside the plan-time fit estimate, split into what stays between steps (weights, optimizer states,
reference model, vLLM's share) and what one step's batch adds (activations, logits, gradients); then the
same GRPO run as a plain TRL GRPOTrainer script on the same model, prompts and config, as a throughput
ratio (stage / plain, measured in the same call); then the stop-token behaviour of a tokenizer whose
EOS (`<|endoftext|>`) differs from the chat template's end of turn (`<|im_end|>`), as in Qwen2.5 base.

It is meant to run on the transformers the machine already has: a GPU node with the `vllm` extra gets
transformers 5.17 (vLLM 0.31's bound), as the lent device's image does, so .whl/ must not carry
transformers; the check says which version ran and warns when it is not 5.17.

GPU_CHECK_MODEL=tiny runs the same flow on a tiny model (CPU, minutes); GPU_CHECK_OUT is the run folder
(default /tmp/gpu-check, emptied first); with $OUT set (the device tool), every stage log is copied
there. Packages a bare GPU machine lacks travel as wheels in .whl/:
trl, pydantic, pydantic-core, annotated-types, typing-inspection, typing-extensions, omegaconf,
datasets, dill, multiprocess, pandas, python-dateutil, tzdata, huggingface_hub (1.x, for datasets).
vLLM is optional: without it GRPO rollouts and generation use transformers, and the check says so.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QWEN_05B = {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
            "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 4096}
"""Qwen2.5-0.5B's shapes (494M parameters with tied embeddings)."""
SIZES = {
    "0.5b": {"sft_steps": 30, "sft_len": 1024, "sft_batch": 8, "grpo_steps": 3, "prompt": 128, "completion": 256,
             "gen_rows": 64, "gen_tokens": 256},
    "tiny": {"sft_steps": 6, "sft_len": 128, "sft_batch": 8, "grpo_steps": 2, "prompt": 64, "completion": 16,
             "gen_rows": 16, "gen_tokens": 16},
}


def versions() -> dict[str, str]:
    import torch

    out = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda": str(torch.version.cuda)}
    for name in ("transformers", "trl", "accelerate", "peft", "datasets", "pydantic", "huggingface_hub",
                 "tokenizers", "pyarrow", "pandas", "numpy", "vllm"):
        spec = importlib.util.find_spec(name)
        out[name] = __import__(name).__version__ if spec else "not installed"
    if torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


def build_model(size: str, folder: Path) -> Path:
    """A random-init model whose tokenizer's EOS is `<|endoftext|>` while turns end with `<|im_end|>`."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from stages._models import _tiny_tokenizer, build_tiny

    if size == "tiny":
        build_tiny("qwen2-hd64", 0, folder)
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(folder)
    else:
        tok = _tiny_tokenizer()
        config = Qwen2Config(**QWEN_05B, tie_word_embeddings=True, bos_token_id=None, dtype="bfloat16")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        torch.manual_seed(0)
        with torch.device(device):
            model = Qwen2ForCausalLM(config).to(torch.bfloat16)
        model.save_pretrained(folder)
        del model
    endoftext = tok.convert_tokens_to_ids("<|endoftext|>")
    tok.eos_token = "<|endoftext|>"
    tok.save_pretrained(folder)
    for name in ("config.json", "generation_config.json"):
        path = folder / name
        data = json.loads(path.read_text()) if path.is_file() else {}
        data.update(eos_token_id=endoftext, pad_token_id=tok.pad_token_id)
        path.write_text(json.dumps(data, indent=2))
    return folder


def write_data(folder: Path, model: Path, length: int) -> tuple[Path, Path]:
    """Addition problems; the SFT rows carry a preamble that brings them near `length` tokens, so the
    measured peak is that of full-length sequences, as the fit estimate assumes."""
    import random

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model)
    rng = random.Random(0)
    pairs = [(rng.randint(0, 9), rng.randint(0, 9)) for _ in range(256)]
    ask = "Give only the final answer inside <answer></answer>."
    rows = [{"id": str(i), "prompt": f"What is {a} + {b}? {ask}", "answer": str(a + b)}
            for i, (a, b) in enumerate(pairs)]
    words = ["plus", "minus", "the", "answer", "is", "12", "7", "sum"]
    filler = ""
    while len(tok(filler)["input_ids"]) < length - 64:
        filler += " " + " ".join(rng.choice(words) for _ in range(16))
    short, long = folder / "prompts.jsonl", folder / "long.jsonl"
    short.write_text("".join(json.dumps(r) + "\n" for r in rows))
    long.write_text("".join(json.dumps({**r, "prompt": f"{filler}\n{r['prompt']}"}) + "\n" for r in rows))
    (folder / "long-64.jsonl").write_text("".join(long.read_text().splitlines(keepends=True)[:64]))
    return short, long


def recipe(folder: Path, model: Path, short: Path, long: Path, n: dict[str, int], gpu: bool) -> Path:
    import yaml

    doc = {
        "recipe": "pipeline", "name": "gpu-check", "store": str(folder / "store"),
        "models": {"base": {"source": str(model)}},
        "data": {"prompts": {"source": "jsonl", "path": str(short)}, "long": {"source": "jsonl", "path": str(long)},
                 "long64": {"source": "jsonl", "path": str(long.parent / "long-64.jsonl")}},
        "stages": [
            {"id": "sft", "kind": "sft", "model": "base", "data": "long", "target": "answer",
             "max_steps": n["sft_steps"], "batch_size": n["sft_batch"], "lr": 3.0e-4, "max_length": n["sft_len"],
             "bf16": gpu, "save_steps": 1000},
            {"id": "grpo", "kind": "grpo", "model": "sft", "data": "prompts", "steps": n["grpo_steps"],
             "prompts_per_step": 8, "generations": 4, "grad_accum": 4, "lr": 1.0e-6, "temperature": 1.0,
             "max_prompt_tokens": n["prompt"], "max_completion_tokens": n["completion"], "bf16": gpu,
             "save_steps": 1000, "reward": {"correct": 1.0, "format": 0.5},
             "backend": "vllm" if gpu and importlib.util.find_spec("vllm") else "transformers"},
            {"id": "generate", "kind": "generate", "model": "sft", "data": "long64", "temperature": 0.0,
             "max_new_tokens": n["gen_tokens"], "batch_size": n["gen_rows"]},
        ],
    }
    path = folder / "gpu-check.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


PLAIN_GRPO = """
import dataclasses, json, re, sys, time
t0 = time.time()
import torch, transformers
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig, GRPOTrainer
model_dir, data, out = sys.argv[1:4]
steps, prompt_len, completion, use_vllm = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7] == "1"
gpu = torch.cuda.is_available()
tok = AutoTokenizer.from_pretrained(model_dir)
tok.padding_side = "left"
rows = [json.loads(line) for line in open(data)]
ds = Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}], "answer": r["answer"]} for r in rows])

def correct(completions, answer, **kw):
    found = [re.findall(r"<answer>(.*?)</answer>", c[0]["content"]) for c in completions]
    return [float(bool(f) and f[-1].strip() == a) for f, a in zip(found, answer)]

def tagged(completions, **kw):
    return [float(bool(re.search(r"<answer>.+?</answer>", c[0]["content"]))) for c in completions]

names = {f.name for f in dataclasses.fields(transformers.TrainingArguments)}
checkpointing = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
vllm = {"vllm_mode": "colocate", "vllm_max_model_length": prompt_len + completion} if use_vllm else {}
cfg = GRPOConfig(output_dir=out, max_steps=steps, per_device_train_batch_size=8, gradient_accumulation_steps=4,
                 num_generations=4, max_completion_length=completion, learning_rate=1e-6, beta=0.0, loss_type="grpo",
                 temperature=1.0, bf16=gpu, seed=0, save_strategy="no", report_to="none", disable_tqdm=True,
                 reward_weights=[1.0, 0.5], use_vllm=use_vllm, use_cpu=not gpu, **{checkpointing: True}, **vllm)
trainer = GRPOTrainer(model=model, reward_funcs=[correct, tagged], args=cfg, train_dataset=ds, processing_class=tok)
t1 = time.time()
trainer.train()
trained = time.time() - t1
trainer.model.save_pretrained(out + "/model")
lengths = [e["completions/mean_length"] for e in trainer.state.log_history if "completions/mean_length" in e]
print("PLAIN " + json.dumps({"train_s": trained, "total_s": time.time() - t0, "rollouts": steps * 32,
      "mean_completion_length": sum(lengths) / max(len(lengths), 1),
      "peak_gb": torch.cuda.max_memory_allocated() / 1e9 if gpu else None}))
"""
"""The stage's grpo run as a bare script: 8 prompts x 4 generations a step, grad_accum 4, same rewards."""


def plain_grpo(folder: Path, model: Path, prompts: Path, n: dict[str, int], use_vllm: bool) -> dict:
    import subprocess

    start = time.time()
    out = subprocess.run([sys.executable, "-c", PLAIN_GRPO, str(model), str(prompts), str(folder / "plain-grpo"),
                          str(n["grpo_steps"]), str(n["prompt"]), str(n["completion"]), "1" if use_vllm else "0"],
                         capture_output=True, text=True, cwd=folder)
    line = next((x for x in out.stdout.splitlines() if x.startswith("PLAIN ")), None)
    if out.returncode or line is None:
        print(f"plain TRL GRPO failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
        return {}
    return {**json.loads(line[len("PLAIN "):]), "total_s": time.time() - start}  # the whole process, as the stage's


def memory_split(summary: dict, fit) -> str:
    """Measured between-steps memory and the batch's share of the peak, beside the estimate's."""
    from sdk.fit.estimate import BATCH_PARTS, GB

    states, peak = summary.get("gpu_states", {}), summary.get("peak_memory", {}).get("gpu_allocated_gb")
    if not states or peak is None or fit is None or fit.estimate is None:
        return ""
    parts = fit.estimate.parts
    est_batch = sum(parts.get(k, 0) for k in (*BATCH_PARTS, "gradients")) / GB
    est_states = sum(v for k, v in parts.items() if k not in (*BATCH_PARTS, "gradients")) / GB
    after = states.get("after_first_step_gb", states.get("at_start_gb", 0.0))
    return (f"\n          between steps: measured {after:.2f} GB (at start {states.get('at_start_gb', 0):.2f}), "
            f"estimate {est_states:.2f} GB (weights, optimizer, reference, vLLM); batch: measured "
            f"{peak - after:.2f} GB (peak - between steps), estimate {est_batch:.2f} GB (activations, logits, "
            "gradients)")


def tokens_per_second(kind: str, summary: dict, seconds: float) -> str:
    if kind == "generate":
        tokens = summary.get("rows", 0) * summary.get("mean_response_tokens", 0)
        return f"{tokens / seconds:,.0f} generated tok/s (incl. load)"
    if kind == "grpo":
        tokens = summary.get("rollouts", 0) * (summary.get("mean_completion_length") or 0)
        return f"{tokens / seconds:,.0f} rollout tok/s (incl. training, load)"
    return f"{summary.get('rows', 0)} rows"


def stop_tokens(store: Path, model_key: str, gen_rows: list[dict]) -> list[str]:
    from transformers import AutoTokenizer, GenerationConfig

    from stages._chat import end_of_turn_id

    folder = store / "artifacts" / model_key / "model"
    tok = AutoTokenizer.from_pretrained(folder)
    saved = GenerationConfig.from_pretrained(folder).eos_token_id
    eot = end_of_turn_id(tok)
    finished = sum(bool(r["finished"]) for r in gen_rows)
    ended = sum(r["response"].endswith("</answer>") or r["finished"] for r in gen_rows)
    return [
        f"tokenizer EOS {tok.eos_token!r} = {tok.eos_token_id}; chat template end of turn = {eot} "
        f"({tok.convert_ids_to_tokens(eot) if eot is not None else None})",
        f"saved generation_config.eos_token_id = {saved} -> end of turn included: "
        f"{eot in (saved if isinstance(saved, list) else [saved])}",
        f"generate: {finished}/{len(gen_rows)} greedy responses stopped at a stop token; "
        f"{ended} ended with </answer> or a stop; sample: {gen_rows[0]['response'][:80]!r}",
    ]


def main() -> int:
    import torch

    from sdk import api
    from sdk.fit.check import GPU_MEMORY_GB, fit_stage
    from sdk.fit.estimate import GB
    from sdk.run.display import Display

    size = "tiny" if os.environ.get("GPU_CHECK_MODEL") == "tiny" else "0.5b"
    gpu = torch.cuda.is_available()
    found = versions()
    print("versions:", json.dumps(found))
    if gpu and not found["transformers"].startswith("5.17."):
        print(f"WARNING: transformers {found['transformers']} here; GPU nodes with the vllm extra get 5.17 "
              "(vLLM 0.31's bound): this run does not check the nodes' install")
    if importlib.util.find_spec("vllm") is None:
        print("vLLM: not installed here -> GRPO rollouts and generate use transformers (backend auto); "
              "the vLLM path (colocated rollouts, stop_token_ids, max_model_len, engine shutdown) is NOT exercised")
    n = SIZES[size]
    folder = Path(os.environ.get("GPU_CHECK_OUT") or "/tmp/gpu-check")
    shutil.rmtree(folder, ignore_errors=True)  # a rerun measures again instead of finding its stages cached
    folder.mkdir(parents=True)
    t0 = time.time()
    model = build_model(size, folder / "model")
    print(f"built {size} model in {time.time() - t0:.1f}s: {model}")
    short, long = write_data(folder, model, n["sft_len"])
    plan = api.compile(api.load(recipe(folder, model, short, long, n, gpu)))
    name = torch.cuda.get_device_name(0) if gpu else ""
    known = next((k for k in sorted(GPU_MEMORY_GB, key=len, reverse=True) if k in name.upper().replace(" ", "")),
                 None)
    accel = f"{known or 'H100'}:1" if gpu else None
    result = api.apply(plan, display=Display(stream=sys.stdout, live=False))
    rows = []
    for outcome in result.outcomes:
        stage = plan[outcome.id]
        if stage.kind in ("model", "dataset"):
            continue
        peak = outcome.summary.get("peak_memory", {})
        measured = peak.get("gpu_allocated_gb") if gpu else peak.get("rss_gb")
        fit = fit_stage(plan, stage, accel) if stage.kind in ("sft", "grpo") else None
        est = f"{fit.peak / GB:.2f} GB" if fit and fit.peak else "-"
        parts = f" ({fit.estimate.describe()})" if fit and fit.estimate else ""
        speed = tokens_per_second(stage.kind, outcome.summary, outcome.seconds)
        rows.append(f"{stage.id:9s} {outcome.seconds:7.1f}s  {speed}"
                    f"\n          peak {'GPU allocated' if gpu else 'RSS'} {measured} GB "
                    f"(reserved {peak.get('gpu_reserved_gb', '-')}), fit estimate {est}{parts}"
                    + memory_split(outcome.summary, fit))
    print("\n== results (" + ("GPU " + name if gpu else "CPU") + f", {size}) ==")
    print("\n".join(rows))
    staged = next(o for o in result.outcomes if o.id == "grpo")
    plain = plain_grpo(folder, Path(result["sft"].path) / "model", short, n, staged.summary.get("backend") == "vllm")
    if plain:
        stage_rate = staged.summary["rollouts"] * (staged.summary.get("mean_completion_length") or 0) / staged.seconds
        plain_rate = plain["rollouts"] * plain["mean_completion_length"] / plain["total_s"]
        print(f"== grpo stage vs plain TRL GRPOTrainer (same model, prompts, config; {staged.summary['backend']}) ==")
        print(f"stage {staged.seconds:.1f}s whole process, {stage_rate:,.0f} rollout tok/s; "
              f"plain {plain['total_s']:.1f}s ({plain['train_s']:.1f}s in train()), {plain_rate:,.0f} rollout tok/s; "
              "throughput ratio stage/plain "
              f"{stage_rate / plain_rate:.3f}x; wall ratio {staged.seconds / plain['total_s']:.3f}x; plain peak "
              f"{plain['peak_gb']} GB")
    print("== stop tokens ==")
    gen_rows = [json.loads(line) for line in (Path(result["generate"].path) / "data.jsonl").read_text().splitlines()]
    for line in stop_tokens(folder / "store", plan["sft"].key, gen_rows):
        print(line)
    print(f"run folder: {folder}; total {time.time() - t0:.0f}s")
    return 0


def keep_logs(folder: Path) -> None:
    """Copy every stage log into $OUT (the device tool brings that folder back), even after a failure."""
    out = os.environ.get("OUT")
    if not out:
        return
    for log in (folder / "store").rglob("log.txt"):
        shutil.copy(log, Path(out) / f"{log.parent.name}-log.txt")


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        keep_logs(Path(os.environ.get("GPU_CHECK_OUT") or "/tmp/gpu-check"))
