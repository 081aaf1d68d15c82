"""How a sampling stage spreads one model over the GPUs it is given: tensor parallel groups, one
vLLM engine each, and data parallel copies of that group over the rest (pure arithmetic, no torch).

A 32B teacher on one H100 leaves vLLM ~8 GB of KV cache, so it generates a few sequences at a time;
over two GPUs it has ~39 GB per GPU. A 0.5B model fits anywhere, so eight GPUs are eight copies.
The rule: the narrowest tensor parallel group whose weights take at most `WEIGHT_SHARE` of vLLM's
memory per GPU (the rest is KV cache), among the sizes vLLM accepts for the model's heads.
"""

from __future__ import annotations

from dataclasses import dataclass

VLLM_SHARE = 0.9
"""vLLM's default `gpu_memory_utilization` for a stand-alone engine (generate, evaluate, probe)."""
WEIGHT_SHARE = 0.6
"""At most this much of vLLM's memory per GPU goes to weights; the rest is KV cache for the batch."""


@dataclass(frozen=True)
class Layout:
    """`tensor` GPUs per engine, `data` engines side by side."""

    tensor: int = 1
    data: int = 1

    @property
    def gpus(self) -> int:
        return self.tensor * self.data


def tensor_sizes(gpus: int, heads: int, kv_heads: int) -> list[int]:
    """Tensor parallel sizes vLLM takes for these heads: dividing the attention heads, and dividing the
    KV heads or a multiple of them (vLLM then replicates each KV head)."""
    return [t for t in range(1, max(gpus, 1) + 1)
            if heads % t == 0 and (kv_heads % t == 0 or t % kv_heads == 0)]


def sampling_layout(gpus: int, heads: int, kv_heads: int, weight_bytes: float, gpu_bytes: float,
                    share: float = VLLM_SHARE) -> Layout:
    """The layout for `gpus` GPUs of `gpu_bytes` each (one engine on CPU or one GPU)."""
    if gpus <= 1:
        return Layout()
    sizes = tensor_sizes(gpus, heads, kv_heads)
    tensor = next((t for t in sizes if weight_bytes / t <= WEIGHT_SHARE * share * gpu_bytes), sizes[-1])
    return Layout(tensor, gpus // tensor)


def decoder_params(config: dict) -> int:
    """Parameters of a Llama/Qwen2-style decoder from its config.json fields (for a hub model whose
    files are not here yet)."""
    h, layers = int(config["hidden_size"]), int(config["num_hidden_layers"])
    heads = int(config["num_attention_heads"])
    kv = int(config.get("num_key_value_heads") or heads) * (h // heads)
    inter, vocab = int(config["intermediate_size"]), int(config["vocab_size"])
    embeddings = vocab * h * (1 if config.get("tie_word_embeddings", False) else 2)
    return embeddings + layers * (2 * h * h + 2 * h * kv + 3 * h * inter + 2 * h) + h
