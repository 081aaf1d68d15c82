"""What a stage costs over plain TRL: sft and grpo through `sdk.api.apply` vs the same training as a bare script.

Both sides run as a fresh Python process started from this script (the stage through the local
runner, the script with `python -c`), train the same tiny model on the same rows for the same
steps, and save the model; the recipe's inputs are built once first and are cached during timing.
Tracking is off on both sides, and both score rollouts with reasoning-gym's own verifier (its import alone
is 1.3 s, which a baseline scoring by regex would leave out). Prints the median and the best of N
interleaved runs and their ratios (target <= 1.10x); on a shared 2-core machine single runs vary by 2x,
so trust the best.

    python bench/stage_overhead.py [--runs 3] [--sft-steps 20] [--grpo-steps 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RECIPE = """
recipe: pipeline
name: overhead
tracking: {{backend: none}}
models:
  base: tiny:qwen2
data:
  train: {{source: reasoning_gym, task: basic_arithmetic, size: 64, seed: 1,
          config: {{min_terms: 2, max_terms: 2, min_digits: 1, max_digits: 1, operators: ["+"]}}}}
stages:
  - {{id: sft, kind: sft, model: base, data: train, target: answer, max_steps: {sft}, batch_size: 8,
     lr: 1.0e-3, max_length: 96, save_steps: 1000}}
  - {{id: grpo, kind: grpo, model: base, data: train, steps: {grpo}, prompts_per_step: 4, generations: 4,
     max_completion_tokens: 16, lr: 1.0e-4, backend: transformers, save_steps: 1000}}
"""

PLAIN_COMMON = """
import dataclasses, json, re, sys, torch, transformers
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
NAMES = {f.name for f in dataclasses.fields(transformers.TrainingArguments)}  # 5.17 lacks the new name
CHECKPOINTING = "activation_checkpointing" if "activation_checkpointing" in NAMES else "gradient_checkpointing"
model_dir, data, out, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rows = [json.loads(line) for line in open(data)]
"""

PLAIN_SFT = PLAIN_COMMON + """
from trl import SFTConfig, SFTTrainer
tok = AutoTokenizer.from_pretrained(model_dir)
tok.padding_side = "right"
ds = Dataset.from_list([{"messages": [{"role": "user", "content": r["prompt"]},
                                      {"role": "assistant", "content": f"<answer>{r['answer']}</answer>"}]}
                        for r in rows])
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
cfg = SFTConfig(output_dir=out + "/ckpt", max_steps=steps, per_device_train_batch_size=8, learning_rate=1e-3,
                max_length=96, lr_scheduler_type="cosine", bf16=False, seed=0, save_strategy="no", report_to="none",
                use_cpu=True, assistant_only_loss=True, disable_tqdm=True, **{CHECKPOINTING: False})
trainer = SFTTrainer(model=model, args=cfg, train_dataset=ds, processing_class=tok)
trainer.train()
trainer.model.save_pretrained(out + "/model"); tok.save_pretrained(out + "/model")
"""

PLAIN_GRPO = PLAIN_COMMON + """
from trl import GRPOConfig, GRPOTrainer
tok = AutoTokenizer.from_pretrained(model_dir)
tok.padding_side = "left"
ds = Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}], "answer": r["answer"],
                         "entry": json.dumps(r["meta"]["entry"])} for r in rows])
from reasoning_gym import get_score_answer_fn  # the task's own verifier, as the stage scores

score_answer = get_score_answer_fn("basic_arithmetic")

def correct(completions, entry, **kw):
    found = [re.findall(r"<answer>(.*?)</answer>", c[0]["content"]) for c in completions]
    return [float(score_answer(answer=f[-1].strip(), entry=json.loads(e))) if f else 0.0 for f, e in zip(found, entry)]

model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
cfg = GRPOConfig(output_dir=out + "/ckpt", max_steps=steps, per_device_train_batch_size=16, num_generations=4,
                 max_completion_length=16, learning_rate=1e-4, beta=0.0, loss_type="grpo", bf16=False, seed=0,
                 lr_scheduler_type="constant",
                 save_strategy="no", report_to="none", use_cpu=True, **{CHECKPOINTING: False},
                 disable_tqdm=True)
trainer = GRPOTrainer(model=model, reward_funcs=[correct], args=cfg, train_dataset=ds, processing_class=tok)
trainer.train()
trainer.model.save_pretrained(out + "/model"); tok.save_pretrained(out + "/model")
"""


def main() -> None:
    from sdk import api
    from sdk.run.store import Store

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sft-steps", type=int, default=20)
    parser.add_argument("--grpo-steps", type=int, default=8)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    os.environ.update(env)
    with tempfile.TemporaryDirectory() as tmp:
        recipe = Path(tmp) / "overhead.yaml"
        recipe.write_text(textwrap.dedent(RECIPE.format(sft=args.sft_steps, grpo=args.grpo_steps)).lstrip())
        plan = api.compile(api.load(recipe))
        store = Store(Path(tmp) / "store")
        api.apply(plan, store=store.root, until=("base", "train"))
        model_dir = store.artifact(plan["base"].key).model
        data = str(store.artifact(plan["train"].key).rows)
        print(f"tiny:qwen2, {sys.executable}, {os.cpu_count()} CPUs, median of {args.runs} runs")
        for stage, script, steps in (("sft", PLAIN_SFT, args.sft_steps), ("grpo", PLAIN_GRPO, args.grpo_steps)):
            staged, plain = [], []
            for run in range(args.runs):
                start = time.perf_counter()
                result = api.apply(plan, store=store.root, only=(stage,), force=(stage,) if run else ())
                staged.append(time.perf_counter() - start)
                assert result[stage].state == "ran"
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", script, model_dir, data, f"{tmp}/plain-{stage}", str(steps)],
                               check=True, capture_output=True, env=env, cwd=tmp)
                plain.append(time.perf_counter() - start)
            s, p = statistics.median(staged), statistics.median(plain)
            print(f"{stage:<5} {steps:3d} steps  median: stage via apply {s:6.2f} s, plain TRL {p:6.2f} s, "
                  f"ratio {s / p:5.3f}x   best: {min(staged):6.2f} s vs {min(plain):6.2f} s, "
                  f"ratio {min(staged) / min(plain):5.3f}x")
            print(f"      runs: stage {', '.join(f'{t:.2f}' for t in staged)}; "
                  f"plain {', '.join(f'{t:.2f}' for t in plain)}")


if __name__ == "__main__":
    main()
