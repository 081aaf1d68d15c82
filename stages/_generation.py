"""Sampling responses for rows, with transformers (always) or vLLM (GPU, optional), behind one function.

`generate(...)` returns one output row per (input row, sample): the input fields plus `response`,
`sample`, `finished` (EOS before the token limit) and `response_tokens`.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from schemas import Artifact
from stages._chat import has_template, prompt_text, stop_ids
from stages._context import StageError
from stages._device import require_cuda
from stages._models import adapter_base, load_model, load_tokenizer
from stages._parallel import Layout, decoder_params, sampling_layout

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Sampling:
    """How to sample: the `_Sampling` fields of a generate/evaluate spec plus `n` samples per prompt."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    batch_size: int = 16
    seed: int = 0
    backend: Literal["auto", "transformers", "vllm"] = "auto"

    @classmethod
    def of(cls, spec: Any, n: int) -> Sampling:
        """Sampling settings from a GenerateStage/EvaluateStage spec."""
        return cls(n=n, temperature=spec.temperature, top_p=spec.top_p, max_new_tokens=spec.max_new_tokens,
                   batch_size=spec.batch_size, seed=spec.seed, backend=spec.backend)


def pick_backend(backend: str, model: Artifact | str | Path) -> Literal["transformers", "vllm"]:
    """`vllm` when asked (error if missing) or, for `auto`, when vLLM and a GPU are both present."""
    has_vllm = importlib.util.find_spec("vllm") is not None
    if backend == "vllm":
        if not has_vllm:
            raise StageError("backend 'vllm' needs vLLM: pip install 'recipe[vllm]' (GPU only), "
                             "or set backend: transformers")
        return "vllm"
    if backend == "auto" and has_vllm:
        import torch

        folder = model.model if isinstance(model, Artifact) else str(model)
        is_adapter = Path(folder).exists() and adapter_base(folder) is not None
        if torch.cuda.is_available() and not is_adapter:
            return "vllm"
    return "transformers"


def _output(row: Mapping[str, Any], sample: int, text: str, finished: bool, tokens: int) -> dict[str, Any]:
    return {**row, "response": text, "sample": sample, "finished": finished, "response_tokens": tokens}


def generate(model: Artifact | str | Path, rows: Sequence[Mapping[str, Any]], sampling: Sampling,
             progress: Progress | None = None) -> list[dict[str, Any]]:
    """Sample `sampling.n` responses for every row; output order is row by row, sample by sample."""
    if not rows:
        return []
    require_cuda("generation")
    backend = pick_backend(sampling.backend, model)
    run = _generate_vllm if backend == "vllm" else _generate_transformers
    return run(model, rows, sampling, progress)


def _generate_transformers(model_ref: Artifact | str | Path, rows: Sequence[Mapping[str, Any]],
                           sampling: Sampling, progress: Progress | None) -> list[dict[str, Any]]:
    import torch

    tok = load_tokenizer(model_ref, padding_side="left")
    model = load_model(model_ref, "auto")
    model.to("cuda" if torch.cuda.is_available() else "cpu").eval()
    return generate_loaded(model, tok, rows, sampling, progress)


def generate_loaded(model: Any, tok: Any, rows: Sequence[Mapping[str, Any]], sampling: Sampling,
                    progress: Progress | None = None) -> list[dict[str, Any]]:
    """`generate` with a model already in memory (e.g. one being trained); `tok` must pad on the left."""
    import torch
    from transformers import GenerationConfig

    device = next(model.parameters()).device
    eos_ids = set(stop_ids(tok, model.generation_config.eos_token_id))
    greedy = sampling.temperature == 0
    # Greedy samples are all the same: decode once, copy n times.
    per_prompt = 1 if greedy else sampling.n
    config = GenerationConfig(
        max_new_tokens=sampling.max_new_tokens, do_sample=not greedy, num_return_sequences=per_prompt,
        temperature=None if greedy else sampling.temperature, top_p=None if greedy else sampling.top_p,
        top_k=None if greedy else 0, eos_token_id=sorted(eos_ids), pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(sampling.seed)
    templated = has_template(tok)
    outputs: list[dict[str, Any]] = []
    batches = range(0, len(rows), sampling.batch_size)
    for number, start in enumerate(batches, 1):
        batch = rows[start : start + sampling.batch_size]
        texts = [prompt_text(tok, row) for row in batch]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=not templated).to(device)
        with torch.no_grad():
            out = model.generate(**enc, generation_config=config)
        new = out[:, enc["input_ids"].shape[1] :].tolist()
        for index, row in enumerate(batch):
            for sample in range(per_prompt):
                ids = new[index * per_prompt + sample]
                stop = next((i for i, t in enumerate(ids) if t in eos_ids), None)
                kept = ids if stop is None else ids[: stop + 1]
                text = tok.decode(kept, skip_special_tokens=True)
                copies = range(sampling.n) if greedy else [sample]
                outputs.extend(_output(row, s, text, stop is not None, len(kept)) for s in copies)
        if progress:
            progress(number, len(batches))
    return outputs


def _generate_vllm(model_ref: Artifact | str | Path, rows: Sequence[Mapping[str, Any]],
                   sampling: Sampling, progress: Progress | None) -> list[dict[str, Any]]:
    """vLLM over every GPU this process sees: one engine per tensor parallel group (stages/_parallel.py),
    each group's engine in a process of its own when there are several, rows split between them in
    order. Each request is seeded alike whatever the layout, so the split does not change the samples."""
    if isinstance(model_ref, Artifact):
        name, revision = model_ref.model, model_ref.revision
    else:
        name, revision = str(model_ref), None
    if Path(name).exists() and adapter_base(name) is not None:
        raise StageError(f"{name} holds an unmerged LoRA adapter; use backend: transformers or lora.merge")
    tok = load_tokenizer(model_ref, padding_side="left")
    templated = has_template(tok)
    prompts = [{"prompt_token_ids": tok(prompt_text(tok, row), add_special_tokens=not templated)["input_ids"]}
               for row in rows]
    layout = vllm_layout(name, revision)
    stops = stop_ids(tok)
    if layout.data == 1:
        return vllm_shard(name, revision, prompts, rows, sampling, layout.tensor, stops, progress)
    return _data_parallel(name, revision, prompts, rows, sampling, layout, stops, progress)


def visible_gpus() -> list[str]:
    """The CUDA device ids this process may use (CUDA_VISIBLE_DEVICES, else all the driver has)."""
    import torch

    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    count = torch.cuda.device_count()
    if given is not None:
        return [d.strip() for d in given.split(",") if d.strip()][:count]
    return [str(i) for i in range(count)]


def vllm_layout(name: str, revision: str | None) -> Layout:
    """Tensor x data parallel for this model on the GPUs this process sees (one engine without GPUs)."""
    gpus = visible_gpus()
    if len(gpus) <= 1:
        return Layout()
    import torch
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(name, revision=revision).to_dict()
    config = config.get("text_config", config)
    heads = int(config["num_attention_heads"])
    weights = 2.0 * decoder_params(config)  # vLLM serves a float32 checkpoint in half precision too
    return sampling_layout(len(gpus), heads, int(config.get("num_key_value_heads") or heads), weights,
                           torch.cuda.get_device_properties(0).total_memory)


def _data_parallel(name: str, revision: str | None, prompts: list[dict], rows: Sequence[Mapping[str, Any]],
                   sampling: Sampling, layout: Layout, stops: list[int],
                   progress: Progress | None) -> list[dict[str, Any]]:
    """One fresh engine process per tensor parallel group (CUDA_VISIBLE_DEVICES only counts before CUDA
    starts, so no process serves two groups), each on a contiguous share of the rows."""
    import json
    import multiprocessing
    import tempfile

    gpus = visible_gpus()
    groups = [",".join(gpus[g * layout.tensor:(g + 1) * layout.tensor]) for g in range(layout.data)]
    bounds = [len(rows) * g // layout.data for g in range(layout.data + 1)]
    spawn = multiprocessing.get_context("spawn")
    outputs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vllm-shards-") as folder:
        shares = [(devices, a, b, Path(folder) / f"{g}.json")
                  for g, (devices, a, b) in enumerate(zip(groups, bounds, bounds[1:], strict=False)) if b > a]
        workers = [spawn.Process(target=_engine_process, args=(
            devices, name, revision, prompts[a:b], [dict(r) for r in rows[a:b]], sampling, layout.tensor, stops,
            str(out))) for devices, a, b, out in shares]
        for worker in workers:
            worker.start()
        for number, worker in enumerate(workers, 1):  # in row order
            worker.join()
            if worker.exitcode != 0:
                for other in workers:
                    other.kill()
                raise StageError(f"a vLLM engine process (GPUs {shares[number - 1][0]}) failed with exit code "
                                 f"{worker.exitcode}; its log is above")
            if progress:
                progress(number, len(workers))
        for *_, out in shares:
            outputs.extend(json.loads(out.read_text()))
    return outputs


def _engine_process(devices: str, name: str, revision: str | None, prompts: list[dict], rows: list[dict],
                    sampling: Sampling, tensor: int, stops: list[int], out: str) -> None:
    """A data parallel worker: pinned to its group's GPUs before vLLM (and CUDA) start in it."""
    import json

    os.environ["CUDA_VISIBLE_DEVICES"] = devices
    Path(out).write_text(json.dumps(vllm_shard(name, revision, prompts, rows, sampling, tensor, stops, None)))


def vllm_shard(name: str, revision: str | None, prompts: list[dict], rows: Sequence[Mapping[str, Any]],
               sampling: Sampling, tensor: int, stops: list[int], progress: Progress | None) -> list[dict[str, Any]]:
    """Sample with one vLLM engine spanning `tensor` GPUs."""
    from vllm import LLM, SamplingParams

    longest = max(len(p["prompt_token_ids"]) for p in prompts) + sampling.max_new_tokens
    llm = LLM(model=name, revision=revision, seed=sampling.seed, dtype="auto", max_model_len=longest,
              tensor_parallel_size=tensor)
    greedy = sampling.temperature == 0  # one greedy decode, copied n times (as with transformers)
    params = SamplingParams(n=1 if greedy else sampling.n, temperature=sampling.temperature,
                            top_p=sampling.top_p, max_tokens=sampling.max_new_tokens, seed=sampling.seed,
                            stop_token_ids=stops)
    outputs: list[dict[str, Any]] = []
    chunk = max(sampling.batch_size, 512)  # vLLM batches continuously; small chunks only cost throughput
    batches = range(0, len(rows), chunk)
    try:
        for number, start in enumerate(batches, 1):
            results = llm.generate(prompts[start : start + chunk], params, use_tqdm=False)
            for row, result in zip(rows[start : start + chunk], results, strict=True):
                completions = result.outputs * sampling.n if greedy else result.outputs
                for sample, completion in enumerate(completions):
                    outputs.append(_output(row, sample, completion.text, completion.finish_reason == "stop",
                                           len(completion.token_ids)))
            if progress:
                progress(number, len(batches))
    finally:
        shutdown_vllm(llm)
    return outputs


def shutdown_vllm(llm: Any) -> None:
    """Stop a vLLM engine and free its GPU memory before the next one starts (evaluate loads one per model)."""
    import gc

    engine = getattr(llm, "llm_engine", None)
    core = getattr(engine, "engine_core", None)
    for stop in (getattr(core, "shutdown", None), getattr(engine, "shutdown", None)):
        if callable(stop):
            try:
                stop()
            except Exception:  # an engine already down, or an older vLLM without this call
                pass
            break
    try:
        from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

        destroy_model_parallel()
        destroy_distributed_environment()
    except Exception:  # not initialised (single GPU), or the module moved in this vLLM version
        pass
    del llm
    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
