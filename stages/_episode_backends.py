"""How a multi-turn episode's attempts are generated, as `Generate` callables (stages/_episodes.py).

In training, inside TRL's GRPOTrainer: the trainer's own model through transformers (as TRL's single-turn
path does it), or the trainer's colocated vLLM engine (weights synced by TRL before the hook is called).
In evaluation: a loaded model through transformers, or one vLLM engine, with the stage's sampling."""

from __future__ import annotations

import copy
from typing import Any

from stages._episodes import Generate


def generate_for(trainer: Any) -> Generate:
    """vLLM when the trainer has it, else transformers."""
    return _vllm(trainer) if getattr(trainer, "use_vllm", False) else _transformers(trainer)


def _left_padded(sequences: list[list[int]], pad: int, device: Any) -> tuple[Any, Any, int]:
    """input_ids and attention_mask of token lists padded on the left, and their width."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.tensor([[pad] * (width - len(s)) + s for s in sequences], device=device)
    mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in sequences], device=device)
    return ids, mask, width


def _until_stop(rows: list[list[int]], stops: set[int]) -> list[tuple[list[int], list[float] | None]]:
    """Each generated row up to and with its first stop token (what follows is padding)."""
    return [(row[:next((i + 1 for i, t in enumerate(row) if t in stops), len(row))], None) for row in rows]


def _pad_id(tokenizer: Any) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def _transformers(trainer: Any) -> Generate:
    import torch
    from trl.models.utils import unwrap_model_for_generation

    pad, stops = _pad_id(trainer.processing_class), set(trainer.eos_token_ids)

    def generate(sequences: list[list[int]], max_tokens: int) -> list[tuple[list[int], list[float] | None]]:
        ids, mask, width = _left_padded(sequences, pad, trainer.accelerator.device)
        config = copy.copy(trainer.generation_config)  # TRL's sampling settings, this attempt's budget
        config.max_new_tokens = max_tokens
        with (unwrap_model_for_generation(trainer.model_wrapped, trainer.accelerator,
                                          gather_deepspeed3_params=trainer.args.ds3_gather_for_generation,
                                          generation_kwargs=trainer.generation_kwargs) as model,
              torch.no_grad()):
            out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
        return _until_stop(out[:, width:].tolist(), stops)

    return generate


def _vllm(trainer: Any) -> Generate:
    engine = trainer.vllm_generation

    def generate(sequences: list[list[int]], max_tokens: int) -> list[tuple[list[int], list[float] | None]]:
        full = engine.max_completion_length  # VLLMGeneration reads it at each call as the request's max_tokens
        engine.max_completion_length = max_tokens
        try:
            _, completions, logprobs, _ = engine.generate(prompts=sequences, images=None, num_generations=1)
        finally:
            engine.max_completion_length = full
        return [(list(c), [lp[0] for lp in lps]) for c, lps in zip(completions, logprobs, strict=True)]

    return generate


def loaded(model: Any, tokenizer: Any, sampling: Any, stops: list[int]) -> Generate:
    """A model in memory (evaluation), `sampling.batch_size` sequences per generate call."""
    import torch
    from transformers import GenerationConfig

    greedy = sampling.temperature == 0
    torch.manual_seed(sampling.seed)  # sampled evaluations repeat
    device = next(model.parameters()).device
    pad, stop_set = _pad_id(tokenizer), set(stops)

    def generate(sequences: list[list[int]], max_tokens: int) -> list[tuple[list[int], list[float] | None]]:
        config = GenerationConfig(max_new_tokens=max_tokens, do_sample=not greedy,
                                  temperature=None if greedy else sampling.temperature,
                                  top_p=None if greedy else sampling.top_p, top_k=None if greedy else 0,
                                  eos_token_id=sorted(stop_set), pad_token_id=pad)
        results: list[tuple[list[int], list[float] | None]] = []
        for start in range(0, len(sequences), sampling.batch_size):
            ids, mask, width = _left_padded(sequences[start:start + sampling.batch_size], pad, device)
            with torch.no_grad():
                out = model.generate(input_ids=ids, attention_mask=mask, generation_config=config)
            results += _until_stop(out[:, width:].tolist(), stop_set)
        return results

    return generate


def engine(llm: Any, sampling: Any, stops: list[int]) -> Generate:
    """One vLLM engine (evaluation): every sequence of the round in one `generate` call."""
    from vllm import SamplingParams

    def generate(sequences: list[list[int]], max_tokens: int) -> list[tuple[list[int], list[float] | None]]:
        # one request per sequence, each seeded apart: copies of a prompt (samples > 1) must not decode alike
        params = [SamplingParams(n=1, temperature=sampling.temperature, top_p=sampling.top_p, max_tokens=max_tokens,
                                 seed=sampling.seed + i, stop_token_ids=stops) for i in range(len(sequences))]
        results = llm.generate([{"prompt_token_ids": s} for s in sequences], params, use_tqdm=False)
        return [(list(r.outputs[0].token_ids), None) for r in results]

    return generate
