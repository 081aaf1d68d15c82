"""SftStage: supervised fine-tuning with TRL's SFTTrainer, full or LoRA, loss on the response only.

Rows become chats through `stages._chat`, so the model is trained on the very prompt format that
generation and evaluation use. Checkpoints go to `ctx.checkpoints`, so a killed stage resumes.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from schemas import Artifact, SftStage
from stages._chat import has_generation_markers, has_template, messages, plain_prompt
from stages._context import StageContext, StageError
from stages._data import read_rows
from stages._models import BASE_NOTE, load_model, load_tokenizer


def _response(spec: SftStage, row: Mapping[str, Any], index: int) -> str:
    if spec.target == "answer":
        if row.get("answer") is None:
            raise StageError(f"stage {spec.id!r}: row {index} has no answer (target: answer needs one)")
        return spec.answer_format.format(answer=row["answer"])
    if not row.get("response"):
        raise StageError(f"stage {spec.id!r}: row {index} has no `response`; "
                         "train on generated/filtered rows or set `target: answer`")
    return str(row["response"])


def training_rows(spec: SftStage, rows: list[dict[str, Any]], tokenizer: Any) -> tuple[list[dict], bool]:
    """TRL rows and whether to use `assistant_only_loss` (template with `{% generation %}` markers).

    Otherwise prompt/completion rows, for which TRL masks the prompt (completion-only loss); with no
    chat template at all, the same in plain text.
    """
    pairs = [(row, _response(spec, row, i)) for i, row in enumerate(rows)]
    if has_generation_markers(tokenizer):
        return [{"messages": messages(row, response)} for row, response in pairs], True
    if has_template(tokenizer):
        return [{"prompt": messages(row), "completion": [{"role": "assistant", "content": response}]}
                for row, response in pairs], False
    return [{"prompt": plain_prompt(row), "completion": response} for row, response in pairs], False


def _config(spec: SftStage, ctx: StageContext, assistant_only: bool):
    import torch
    from trl import SFTConfig

    backend = ctx.tracking.get("backend", "none")
    report_to = backend if backend in {"tensorboard", "wandb"} else "none"
    if report_to == "tensorboard":
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(ctx.out / "tensorboard")
    if report_to == "wandb" and ctx.tracking.get("project"):
        os.environ.setdefault("WANDB_PROJECT", str(ctx.tracking["project"]))
    # A float warmup in [0, 1) is a ratio of the total steps in transformers 5 (`warmup_ratio` is gone).
    scheduler = spec.scheduler
    if scheduler == "constant" and spec.warmup_ratio:
        scheduler = "constant_with_warmup"
    return SFTConfig(
        output_dir=str(ctx.checkpoints), run_name=f"{ctx.recipe}/{spec.id}", report_to=report_to,
        num_train_epochs=spec.epochs, max_steps=spec.max_steps or -1, learning_rate=spec.lr,
        per_device_train_batch_size=spec.batch_size // (_world_size() * spec.grad_accum),
        gradient_accumulation_steps=spec.grad_accum,
        max_length=spec.max_length, lr_scheduler_type=scheduler, warmup_steps=spec.warmup_ratio,
        weight_decay=spec.weight_decay, bf16=spec.bf16, fp16=False, seed=spec.seed, data_seed=spec.seed,
        logging_steps=spec.logging_steps, save_strategy="steps", save_steps=spec.save_steps,
        save_total_limit=1, activation_checkpointing=False, use_cpu=not torch.cuda.is_available(),
        assistant_only_loss=assistant_only, disable_tqdm=True, dataloader_num_workers=0,
    )


def _world_size() -> int:
    """Processes sharing the global batch (set by torchrun / accelerate)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _lora(spec: SftStage):
    if spec.lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(r=spec.lora.r, lora_alpha=spec.lora.alpha, lora_dropout=spec.lora.dropout,
                      target_modules=spec.lora.target_modules, task_type="CAUSAL_LM")


def _progress_callback(ctx: StageContext):
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """One progress line per optimizer step, with the loss on logging steps (logs come after step end)."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs and "loss" in logs:
                ctx.progress(state.global_step, state.max_steps, "sft steps", loss=float(logs["loss"]))

        def on_step_end(self, args, state, control, **kwargs):
            if state.is_world_process_zero and state.global_step % args.logging_steps:
                ctx.progress(state.global_step, state.max_steps, "sft steps")

    return Progress()


def run(spec: SftStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Train `inputs["model"]` on `inputs["data"]`; save the model and tokenizer to `ctx.out/model`."""
    from datasets import Dataset
    from trl import SFTTrainer

    rows = read_rows(inputs["data"].rows)
    if not rows:
        raise StageError(f"stage {spec.id!r}: training data {spec.data!r} has no rows")
    tokenizer = load_tokenizer(inputs["model"], padding_side="right")
    train, assistant_only = training_rows(spec, rows, tokenizer)
    model = load_model(inputs["model"], "float32")
    # PEFT still asks `is_gradient_checkpointing`, which transformers 5 flags on every run.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    trainer = SFTTrainer(
        model=model, args=_config(spec, ctx, assistant_only), train_dataset=Dataset.from_list(train),
        processing_class=tokenizer, peft_config=_lora(spec), callbacks=[_progress_callback(ctx)],
    )
    resume = ctx.checkpoints.is_dir() and any(ctx.checkpoints.glob("checkpoint-*"))
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    if trainer.is_world_process_zero():
        _save(spec, trainer, tokenizer, inputs["model"], ctx.out / "model")
        shutil.rmtree(ctx.checkpoints, ignore_errors=True)
    return {"train_loss": result.training_loss, "steps": trainer.state.global_step, "rows": len(train),
            "lora": spec.lora is not None, "resumed": resume}


def _save(spec: SftStage, trainer: Any, tokenizer: Any, base: Artifact, out: Path) -> None:
    """Full weights (LoRA merged), or the adapter with a note of its base model."""
    model = trainer.model
    if spec.lora is not None and spec.lora.merge:
        model = model.merge_and_unload()
    model.save_pretrained(out)
    tokenizer.padding_side = "left"  # what generation wants from a saved model
    tokenizer.save_pretrained(out)
    if spec.lora is not None and not spec.lora.merge:
        (out / BASE_NOTE).write_text(json.dumps({"ref": base.model, "revision": base.revision}))
