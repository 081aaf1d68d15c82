"""What the training stages (sft, grpo) set up the same way: processes, tracking, schedule, checkpoints."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

from schemas import Artifact
from stages._chat import stop_ids
from stages._context import StageContext, StageError
from stages._models import BASE_NOTE, base_note, load_model


def world_size() -> int:
    """Processes sharing the global batch (set by torchrun / accelerate)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def report_to(ctx: StageContext) -> str:
    """The transformers `report_to` for the recipe's tracking, pointing TensorBoard into the artifact."""
    backend = ctx.tracking.get("backend", "none")
    target = backend if backend in {"tensorboard", "wandb"} else "none"
    if target == "tensorboard":
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(ctx.out / "tensorboard")
    if target == "wandb" and importlib.util.find_spec("wandb") is None:
        raise StageError("tracking.backend is wandb, but the wandb package is not installed on this machine "
                         "(pip install wandb, or set tracking.backend: tensorboard)")
    if target == "wandb" and ctx.tracking.get("project"):
        os.environ.setdefault("WANDB_PROJECT", str(ctx.tracking["project"]))
    return target


def common_args(spec: Any, ctx: StageContext, scheduler: str, warmup: float) -> dict[str, Any]:
    """TrainingArguments both trainers take alike: output, tracking, schedule, seeds, device, checkpoints.

    `save_total_limit=2`: the previous checkpoint stays until the new one is complete (_checkpoints.py).
    """
    import torch

    if scheduler == "constant" and warmup:
        scheduler = "constant_with_warmup"
    return dict(
        output_dir=str(ctx.checkpoints), run_name=f"{ctx.recipe}/{spec.id}", report_to=report_to(ctx),
        lr_scheduler_type=scheduler, warmup_steps=warmup, bf16=spec.bf16, fp16=False, seed=spec.seed,
        data_seed=spec.seed, use_cpu=not torch.cuda.is_available(), max_grad_norm=spec.max_grad_norm,
        **checkpointing_arg(spec.activation_checkpointing),
        logging_steps=spec.logging_steps, save_strategy="steps", save_steps=spec.save_steps, save_total_limit=2,
        disable_tqdm=True, dataloader_num_workers=0, full_determinism=spec.deterministic,
    )


def checkpointing_arg(enabled: bool) -> dict[str, bool]:
    """Activation checkpointing under the name the installed transformers knows.

    transformers 5.23 calls it `activation_checkpointing` (`gradient_checkpointing` a deprecated alias);
    5.17, the newest vLLM 0.31 accepts and so what every GPU node with the `vllm` extra gets, knows
    only `gradient_checkpointing` and refuses the new name with a TypeError.
    """
    from transformers import TrainingArguments

    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    return {"activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing": enabled}


def lora_config(spec: Any):
    """PEFT LoraConfig from a stage's `lora:` block, or None for full fine-tuning."""
    if spec.lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(r=spec.lora.r, lora_alpha=spec.lora.alpha, lora_dropout=spec.lora.dropout,
                      target_modules=spec.lora.target_modules, task_type="CAUSAL_LM")


def sharded(trainer: Any) -> bool:
    """Whether the trained weights are split over the processes (FSDP, DeepSpeed ZeRO)."""
    return bool(getattr(trainer, "is_fsdp_enabled", False) or getattr(trainer, "is_deepspeed_enabled", False))


def save_model(spec: Any, trainer: Any, tokenizer: Any, base: Artifact, out: Path) -> None:
    """Full weights (LoRA merged), or the adapter with a note of its base model. Called on every rank.

    Sharded weights are saved through the trainer, which gathers the full state dict on all ranks
    and writes it on rank 0 (a rank-0 `save_pretrained` would hang or write one shard). The saved
    generation config stops at the chat template's end of turn as well as at EOS.
    """
    stops = stop_ids(tokenizer, trainer.model.generation_config.eos_token_id)
    if sharded(trainer):
        trainer.save_model(str(out))
    if not trainer.is_world_process_zero():
        return
    if sharded(trainer):
        _finish_sharded_save(spec, base, out, stops)
    else:
        model = trainer.model
        if spec.lora is not None and spec.lora.merge:
            model = model.merge_and_unload()
        model.generation_config.eos_token_id = stops
        model.save_pretrained(out)
    tokenizer.padding_side = "left"  # what generation wants from a saved model
    tokenizer.save_pretrained(out)
    if spec.lora is not None and not spec.lora.merge:
        (out / BASE_NOTE).write_text(json.dumps(base_note(base)))


def _finish_sharded_save(spec: Any, base: Artifact, out: Path, stops: list[int]) -> None:
    """On rank 0 after a gathered save: merge a LoRA adapter if asked, and write the stop ids."""
    from transformers import GenerationConfig

    if spec.lora is not None and spec.lora.merge:
        from peft import PeftModel

        merged = PeftModel.from_pretrained(load_model(base), str(out)).merge_and_unload()  # base + gathered adapter
        for leftover in ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin"):
            (out / leftover).unlink(missing_ok=True)
        merged.generation_config.eos_token_id = stops
        merged.save_pretrained(out)
        return
    config = GenerationConfig.from_pretrained(out) if (out / "generation_config.json").is_file() else GenerationConfig()
    config.eos_token_id = stops
    config.save_pretrained(out)


GPU_STATES: dict[str, float] = {}
"""GPU memory the torch allocator holds between steps, measured by `gpu_states_callback` (GB)."""


def gpu_states_callback():
    """Record `torch.cuda.memory_allocated()` when training starts (weights, reference model, a colocated
    vLLM engine) and after the first optimizer step (plus the optimizer states: gradients are freed by
    then), so the stage's peak splits into what stays between steps and what one step's batch adds."""
    from transformers import TrainerCallback

    class GpuStates(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            import torch

            if torch.cuda.is_available():
                GPU_STATES["at_start_gb"] = round(torch.cuda.memory_allocated() / 1e9, 3)

        def on_step_end(self, args, state, control, **kwargs):
            import torch

            if torch.cuda.is_available() and "after_first_step_gb" not in GPU_STATES:
                GPU_STATES["after_first_step_gb"] = round(torch.cuda.memory_allocated() / 1e9, 3)

    return GpuStates()
