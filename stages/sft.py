"""SftStage: supervised fine-tuning with TRL's SFTTrainer, full or LoRA, loss on the response only.

Rows become chats through `stages._chat`, so the model is trained on the very prompt format that
generation and evaluation use. Checkpoints go to `ctx.checkpoints`, so a killed stage resumes.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from typing import Any

from schemas import Artifact, SftStage
from stages._chat import has_generation_markers, has_template, messages, plain_prompt
from stages._checkpoints import callbacks, resume_point
from stages._context import StageContext, StageError
from stages._data import read_rows
from stages._device import require_cuda
from stages._lineage import record_training
from stages._memory import lean_cpu_training
from stages._models import load_model, load_tokenizer
from stages._sft_masks import FORGETTING_FILE, forgetting_callback, mask_callback
from stages._training import GPU_STATES, common_args, gpu_states_callback, lora_config, save_model, world_size


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


def optimizer_choice(spec: SftStage):
    """`optimizer_cls_and_kwargs` for the trainer, or None to keep its default AdamW."""
    import torch

    if spec.optimizer == "adamw":
        return None
    if spec.optimizer == "adam":
        return torch.optim.Adam, {"lr": spec.lr}
    momentum = spec.momentum if spec.optimizer == "momentum" else 0.0
    return torch.optim.SGD, {"lr": spec.lr, "momentum": momentum}


def _config(spec: SftStage, ctx: StageContext, assistant_only: bool):
    from trl import SFTConfig

    # A float warmup in [0, 1) is a ratio of the total steps in transformers 5 (`warmup_ratio` is gone).
    return SFTConfig(
        **common_args(spec, ctx, spec.scheduler, spec.warmup_ratio),
        num_train_epochs=spec.epochs, max_steps=spec.max_steps or -1, learning_rate=spec.lr,
        per_device_train_batch_size=spec.batch_size // (world_size() * spec.grad_accum),
        gradient_accumulation_steps=spec.grad_accum, max_length=spec.max_length,
        weight_decay=spec.weight_decay, assistant_only_loss=assistant_only,
        per_device_eval_batch_size=spec.cnl.ref_batch_size if spec.cnl else 8,
    )


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
    require_cuda(spec.id)
    from datasets import Dataset
    from trl import SFTTrainer

    lean_cpu_training()  # before the first forward, which reads the tile sizes
    GPU_STATES.clear()
    rows = read_rows(inputs["data"].rows)
    if not rows:
        raise StageError(f"stage {spec.id!r}: training data {spec.data!r} has no rows")
    tokenizer = load_tokenizer(inputs["model"], padding_side="right")
    train, assistant_only = training_rows(spec, rows, tokenizer)
    model = load_model(inputs["model"], spec.dtype)
    sets = {name: read_rows(inputs[name].rows) for name in ("mastered", "heldout") if name in inputs}
    mastered = {"mastered": Dataset.from_list(training_rows(spec, sets["mastered"], tokenizer)[0])} if (
        spec.cnl and sets.get("mastered")) else None
    if spec.cnl and not mastered:
        raise StageError(f"stage {spec.id!r}: cnl needs mastered rows, and {spec.mastered!r} has none")
    # PEFT still asks `is_gradient_checkpointing`, which transformers 5 flags on every run.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing_(en|dis)able.*", category=FutureWarning)
    trainer = SFTTrainer(
        model=model, args=_config(spec, ctx, assistant_only), train_dataset=Dataset.from_list(train),
        eval_dataset=mastered, processing_class=tokenizer, peft_config=lora_config(spec),
        callbacks=[_progress_callback(ctx), gpu_states_callback(), *callbacks(spec.save_minutes)],
        optimizer_cls_and_kwargs=optimizer_choice(spec),
    )
    masks = mask_callback(spec, trainer)
    for callback in (masks, sets and forgetting_callback(spec, trainer, ctx, {"injection": rows, **sets},
                                                         tokenizer, masks)):
        if callback:
            trainer.add_callback(callback)
    checkpoint, step = resume_point(ctx.checkpoints, int(os.environ.get("RANK", "0")))
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    save_model(spec, trainer, tokenizer, inputs["model"], ctx.out / "model")  # every rank (FSDP/ZeRO gather)
    if trainer.is_world_process_zero():
        record_training(inputs["model"], ctx.out, sft_examples=len(train))
    summary = {"train_loss": result.training_loss, "steps": trainer.state.global_step, "rows": len(train),
               "lora": spec.lora is not None, "resumed": checkpoint is not None, "resumed_from_step": step}
    if GPU_STATES:
        summary["gpu_states"] = dict(GPU_STATES)
    if (ctx.out / FORGETTING_FILE).is_file():
        summary["forgetting"] = json.loads((ctx.out / FORGETTING_FILE).read_text())[-1]
    return summary
