"""GrpoStage: GRPO with TRL's GRPOTrainer; every rollout goes to a replay buffer beside the model.

Prompts are built by `stages._chat` (the same chat the model is evaluated with) and rewarded by
`stages.verify` (the same verdict as filter and evaluate), plus an optional reward model (input
`reward_model`) that TRL runs itself; the buffer's `reward` is the functions' weighted total, without
the reward model's score (TensorBoard's `train/reward` has it). Checkpoints every `save_steps` in
`ctx.checkpoints`; a killed run resumes from the last one, and the buffer is cut back to that step
so it never holds two rollouts for one step. With `rollout_scaling`, the run goes in segments, one
per rollout count N (stages/_grpo_scaling.py): a stall checkpoints it and it resumes with a larger N.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from schemas import Artifact, GrpoStage
from stages import _grpo_scaling, _replay_buffer
from stages._chat import has_template, messages, plain_prompt, prompt_text, stop_ids
from stages._checkpoints import callbacks, resume_point
from stages._context import StageContext, StageError
from stages._data import read_rows, write_rows
from stages._device import require_cuda
from stages._lineage import record_training
from stages._memory import lean_cpu_training
from stages._models import load_model, load_reward_model, load_tokenizer
from stages._rewards import Rewards
from stages._training import GPU_STATES, common_args, gpu_states_callback, lora_config, save_model, world_size


def use_vllm(spec: GrpoStage) -> bool:
    """Colocated vLLM rollouts when asked, or for `auto` when vLLM and a GPU are both present (and the stage is
    not `deterministic`: vLLM's batched sampling is not reproducible bit for bit)."""
    has_vllm = importlib.util.find_spec("vllm") is not None
    if spec.backend == "transformers" or (spec.backend == "auto" and spec.deterministic):
        return False
    import torch

    if spec.backend == "vllm":
        if not has_vllm:
            raise StageError(f"stage {spec.id!r}: backend 'vllm' needs vLLM: pip install 'recipe[vllm]' "
                             "(the `vllm` extra, GPU only), or set backend: transformers")
        if not torch.cuda.is_available():
            raise StageError(f"stage {spec.id!r}: backend 'vllm' needs a GPU for GRPO rollouts "
                             "(TRL cannot sync weights into vLLM on CPU); set backend: transformers")
        return True
    return has_vllm and torch.cuda.is_available()


def train_rows(spec: GrpoStage, rows: list[dict[str, Any]], tokenizer: Any) -> tuple[list[dict], int, int]:
    """TRL rows (prompt + `row_index` into `rows` + answer/id for custom rewards), how many were too
    long, and the longest kept prompt in tokens (what vLLM's context must hold besides the completion).

    TRL 1.16 has no prompt truncation, and cutting a chat from the left would drop its system
    prompt, so prompts longer than `max_prompt_tokens` are left out.
    """
    templated = has_template(tokenizer)
    out, dropped, longest = [], 0, 0
    for index, row in enumerate(rows):
        tokens = len(tokenizer(prompt_text(tokenizer, row), add_special_tokens=not templated)["input_ids"])
        if spec.max_prompt_tokens is not None and tokens > spec.max_prompt_tokens:
            dropped += 1
            continue
        longest = max(longest, tokens)
        prompt = messages(row) if templated else plain_prompt(row)
        answer = row.get("answer")
        out.append({"prompt": prompt, "row_index": index, "id": str(row.get("id", index)),
                    "answer": None if answer is None else str(answer)})
    return out, dropped, longest


def per_device_batch(spec: GrpoStage, generations: int, world: int) -> int:
    """Completions per device per micro-batch; refuses a split that would floor it (TRL would train on
    fewer completions than the recipe says, or refuse at launch)."""
    completions, parts = spec.prompts_per_step * generations, world * spec.grad_accum
    if completions % parts:
        raise StageError(f"stage {spec.id!r}: prompts_per_step x generations = {completions} completions per "
                         f"step do not divide over {world} processes x grad_accum {spec.grad_accum}; change "
                         "prompts_per_step, grad_accum or resources.processes")
    return completions // parts


def engine_batch(spec: GrpoStage, world: int) -> int:
    """Sequences one vLLM engine must hold at once at the largest N the run can reach: TRL sizes
    `max_num_seqs` as per-device batch x tensor parallel x steps per generation (= grad_accum)."""
    most = max(spec.generation_counts())
    return per_device_batch(spec, most, world) * spec.vllm.tensor_parallel * spec.grad_accum


def _config(spec: GrpoStage, ctx: StageContext, vllm: bool, weights: list[float], stops: list[int],
            generations: int, lr: float, longest_prompt: int, task_prompt: int = 0):
    from trl import GRPOConfig

    per_device = per_device_batch(spec, generations, world_size())
    extra: dict[str, Any] = {}
    if vllm:  # TRL's vLLM sampling params know only the checkpoint's EOS; the end of turn must stop it too
        prompt = spec.max_prompt_tokens or longest_prompt  # not the model's whole context (KV cache per sequence)
        prompt += task_prompt  # a task's sentence in the system prompt; its turns count in max_completion_tokens
        extra = {"vllm_mode": "colocate", "vllm_max_model_length": prompt + spec.max_completion_tokens,
                 "vllm_gpu_memory_utilization": spec.vllm.gpu_memory_utilization,
                 "vllm_enable_sleep_mode": spec.vllm.sleep, "vllm_tensor_parallel_size": spec.vllm.tensor_parallel,
                 "generation_kwargs": {"stop_token_ids": stops}}
    return GRPOConfig(
        **common_args(spec, ctx, spec.scheduler, spec.warmup_steps),
        max_steps=spec.steps, per_device_train_batch_size=per_device, gradient_accumulation_steps=spec.grad_accum,
        num_generations=generations, learning_rate=lr, beta=spec.beta, epsilon=spec.epsilon,
        temperature=spec.temperature, top_p=spec.top_p, max_completion_length=spec.max_completion_tokens,
        adam_beta1=spec.adam_beta1, reward_weights=weights, use_vllm=vllm, **loss_args(spec, vllm), **extra,
    )


LOSS_FIELDS = ("loss_type", "importance_sampling_level", "epsilon_high", "delta", "scale_rewards",
               "mask_truncated_completions", "top_entropy_quantile", "sapo_temperature_neg", "sapo_temperature_pos",
               "vespo_k_pos", "vespo_lambda_pos", "vespo_k_neg", "vespo_lambda_neg")
"""The policy-loss settings of the spec, which GRPOConfig takes under the same names."""


def loss_args(spec: GrpoStage, vllm: bool) -> dict[str, Any]:
    """The loss settings for GRPOConfig. VESPO on vLLM rollouts needs TRL's per-token importance sampling
    correction (TRL refuses its sequence-level default with `vespo`)."""
    args = {name: getattr(spec, name) for name in LOSS_FIELDS}
    if vllm and spec.loss_type == "vespo":
        args["vllm_importance_sampling_mode"] = "token_truncate"
    return args


def _progress_callback(ctx: StageContext):
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        """One progress line per step, with mean reward and completion length on logging steps."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs and "reward" in logs:
                ctx.progress(state.global_step, state.max_steps, "grpo steps", reward=float(logs["reward"]),
                             completion_length=float(logs.get("completions/mean_length", 0.0)))

        def on_step_end(self, args, state, control, **kwargs):
            if state.is_world_process_zero and state.global_step % args.logging_steps:
                ctx.progress(state.global_step, state.max_steps, "grpo steps")

    return Progress()


def rewards_for(spec: GrpoStage, rows: list[dict[str, Any]], ctx: StageContext, rank: int,
                stops: set[int]) -> Rewards:
    """The stage's rewards: every rank's rollouts gathered each step, rank 0 writing them to the buffer.

    Ranks on other nodes run against a private work folder (runners/skypilot/scripts.py), so a
    buffer file of their own would never reach the store.
    """
    from accelerate.utils import gather_object

    buffer = ctx.out / _replay_buffer.BUFFER if rank == 0 else None
    return Rewards(spec.reward, rows, buffer, spec.max_completion_tokens, stops, gather=gather_object, task=spec.task)


def run(spec: GrpoStage, inputs: Mapping[str, Artifact], ctx: StageContext) -> dict[str, Any]:
    """Train `inputs["model"]` on `inputs["data"]` prompts; save `model/`, `replay.jsonl`, `problems.jsonl`."""
    require_cuda(spec.id)
    lean_cpu_training()  # before the first forward, which reads the tile sizes
    GPU_STATES.clear()
    rows = read_rows(inputs["data"].rows)
    tokenizer = load_tokenizer(inputs["model"], padding_side="left")
    train, dropped, longest = train_rows(spec, rows, tokenizer)
    if len(train) < spec.prompts_per_step:
        raise StageError(f"stage {spec.id!r}: {len(train)} usable prompts in {spec.data!r}"
                         f"{f' ({dropped} over max_prompt_tokens)' if dropped else ''}, "
                         f"but prompts_per_step is {spec.prompts_per_step}")
    vllm = use_vllm(spec)
    checkpoint, resumed_from = _resume(ctx, rows)
    trainer, segment = _train_in_segments(spec, inputs, ctx, train, rows, vllm, checkpoint, longest)
    trainer.accelerator.wait_for_everyone()
    save_model(spec, trainer, tokenizer, inputs["model"], ctx.out / "model")  # every rank (FSDP/ZeRO gather)
    if not trainer.is_world_process_zero():
        return {}
    total = len(_replay_buffer.read(ctx.out / _replay_buffer.BUFFER))
    record_training(inputs["model"], ctx.out, rl_responses=total)
    summary = _summary(trainer.state.log_history, ctx.out, trainer.state.global_step, resumed_from, vllm,
                       total, len(train), dropped)
    if GPU_STATES:
        summary["gpu_states"] = dict(GPU_STATES)
    if spec.verdicts:
        summary["verdicts"] = True  # the report judges this run's curves (sdk/report/verdicts.py)
    if spec.rollout_scaling is not None:
        summary.update(generations=segment.generations, lr=segment.lr, generation_changes=segment.changes)
    return summary


def _resume(ctx: StageContext, rows: list[dict]) -> tuple[Path | None, int]:
    """The checkpoint to resume from (and its step); rank 0 cuts the buffer back to it and writes the problems."""
    rank = int(os.environ.get("RANK", "0"))
    checkpoint, resumed_from = resume_point(ctx.checkpoints, rank)
    if rank == 0:
        kept = _replay_buffer.truncate(ctx.out / _replay_buffer.BUFFER, resumed_from)  # later rollouts are redone
        write_rows(ctx.out / _replay_buffer.PROBLEMS, rows)
        if checkpoint is not None:
            print(f"resuming from checkpoint step {resumed_from} ({checkpoint.name}); "
                  f"replay buffer keeps {kept} rollouts of steps <= {resumed_from}", flush=True)
    return checkpoint, resumed_from


def _train_in_segments(spec: GrpoStage, inputs: Mapping[str, Artifact], ctx: StageContext, train: list[dict],
                       rows: list[dict], vllm: bool, checkpoint: Path | None, longest_prompt: int):
    """Train to `spec.steps`: one trainer per rollout count N (one in all without `rollout_scaling`).

    Returns the last trainer and its segment (N, lr and the changes made on the way). Between
    segments the old trainer and model are gone (and the GPU cache emptied) before the next model
    loads; only the vLLM engine, sized for the largest N, goes on.
    """
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*gradient_checkpointing_(en|dis)able.*", category=FutureWarning)
    rank = int(os.environ.get("RANK", "0"))
    rewards, engine = None, None
    while True:
        segment = _grpo_scaling.start(spec, checkpoint)
        trainer, rewards = _trainer(spec, inputs, ctx, train, rows, vllm, segment, rewards, engine, longest_prompt)
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
        if segment.stop is None:
            return trainer, segment
        if rank == 0:
            stop = segment.stop
            print(f"step {stop['step']}: {stop['reason']}; generations {stop['from']} -> {stop['to']}, "
                  f"lr {stop['lr']:.3g}", flush=True)
        engine = _grpo_scaling.detach_engine(trainer) if vllm else None
        trainer.accelerator.free_memory()
        del trainer
        _grpo_scaling.free_device_memory()
        checkpoint, _ = resume_point(ctx.checkpoints, rank)


def _trainer(spec: GrpoStage, inputs: Mapping[str, Artifact], ctx: StageContext, train: list[dict],
             rows: list[dict], vllm: bool, segment: _grpo_scaling.Segment, rewards: Rewards | None, engine: Any,
             longest_prompt: int = 0):
    """A GRPOTrainer for one segment (its N and lr), with the stage's rewards, callbacks and tokenizer."""
    from datasets import Dataset
    from trl import GRPOTrainer

    _grpo_scaling.free_device_memory()  # the previous segment's model and optimizer go before this one's are built
    tokenizer = load_tokenizer(inputs["model"], padding_side="left")
    model = load_model(inputs["model"], spec.dtype)
    # TRL stops rollouts at the model's generation-config EOS ids: add the chat template's end of turn.
    stops = stop_ids(tokenizer, model.generation_config.eos_token_id)
    model.generation_config.eos_token_id = stops
    rank = int(os.environ.get("RANK", "0"))
    rewards = rewards or rewards_for(spec, rows, ctx, rank, set(stops))
    rewards.generations = segment.generations
    funcs, weights, scorers = list(rewards.functions), list(rewards.weights), [None] * len(rewards.functions)
    if spec.reward.model is not None:  # TRL scores prompt + completion with it, beside the functions
        reward_model, reward_tokenizer = load_reward_model(inputs["reward_model"])
        funcs.append(reward_model)
        weights.append(spec.reward.model.weight)
        scorers.append(reward_tokenizer)
    episodes = _episode_hook(spec, tokenizer, train, rows, stops)
    watch = [_grpo_scaling.callback(spec, segment)] if spec.rollout_scaling else []
    rewards.observe = watch[0].observe if watch else None
    with _grpo_scaling.vllm_engine(engine, engine_batch(spec, world_size()) if vllm else None):
        trainer = GRPOTrainer(
            model=model, reward_funcs=funcs, reward_processing_classes=scorers,
            args=_config(spec, ctx, vllm, weights, stops, segment.generations, segment.lr, longest_prompt,
                         task_prompt_tokens(spec, tokenizer)),
            train_dataset=Dataset.from_list(train), processing_class=tokenizer, peft_config=lora_config(spec),
            rollout_func=episodes,
            callbacks=[_progress_callback(ctx), gpu_states_callback(), *callbacks(spec.save_minutes, asks=watch)],
        )
    return trainer, rewards


def task_prompt_tokens(spec: GrpoStage, tokenizer: Any) -> int:
    """Tokens a multi-turn task adds to every prompt (its attempts sentence, with a margin for the newline and
    the system turn it may open); 0 without a task."""
    if spec.task is None or not spec.task.attempts_prompt:
        return 0
    return len(tokenizer(spec.task.attempts_prompt, add_special_tokens=False)["input_ids"]) + 16


def _episode_hook(spec: GrpoStage, tokenizer: Any, train: list[dict], rows: list[dict], stops: list[int]):
    """TRL's `rollout_func` for a multi-turn `task` (None without one: TRL samples single completions)."""
    if spec.task is None:
        return None
    from stages._episode_backends import generate_for
    from stages._episodes import MultiAttempt, prompt_index, rollout_func

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # the hook is experimental in TRL 1.16; we pin it
    runner = MultiAttempt(spec.task, tokenizer, rows, prompt_index(train, rows), stops, spec.max_completion_tokens,
                          seed=spec.seed)
    runner.check_template()
    return rollout_func(runner, generate_for)


def _summary(history: list[dict[str, Any]], out: Path, steps: int, resumed_from: int, vllm: bool,
             rollouts: int, prompts: int, dropped: int) -> dict[str, Any]:
    logged = [entry for entry in history if "reward" in entry]
    lengths = [entry["completions/mean_length"] for entry in logged if "completions/mean_length" in entry]
    last_step = [row for row in _replay_buffer.read(out / _replay_buffer.BUFFER) if row["step"] == steps]
    return {
        "steps": steps, "rollouts": rollouts, "prompts": prompts, "dropped_long_prompts": dropped,
        "first_reward": logged[0]["reward"] if logged else None,
        "last_reward": logged[-1]["reward"] if logged else None,
        "final_mean_reward": sum(r["reward"] for r in last_step) / len(last_step) if last_step else None,
        "final_accuracy": sum(bool(r["correct"]) for r in last_step) / len(last_step) if last_step else None,
        "mean_completion_length": sum(lengths) / len(lengths) if lengths else None,
        "resumed_from_step": resumed_from, "backend": "vllm" if vllm else "transformers",
    }
