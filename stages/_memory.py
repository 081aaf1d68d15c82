"""Keep a CPU training process's peak resident memory near its live tensors.

Two costs come on top of weights, gradients and optimizer states when a trainer runs on CPU
(measured on the quickstart's GRPO stage, SmolLM2-135M, 16 sequences of ~60 tokens):

- TRL's fused LM head scores [4096 tokens x 32768 vocabulary] tiles of logits. On GPU a Triton
  kernel folds each tile in place; its torch fallback makes about eight tile-sized fp32 temporaries
  in the backward, 1.1 GB here. Smaller tiles give the same sums (an online log-sum-exp over the
  vocabulary) for a fraction of that.
- glibc raises its mmap threshold up to 32 MB as tensors are freed, so later tensors below it come
  from the heap, where freed holes are kept rather than returned: 0.36 GB here. Fixing the threshold
  at glibc's starting value keeps every tensor of 128 KB or more in its own mapping, returned when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

TILE_TOKENS = 1024
"""Tokens per logit tile of TRL's fused LM head on CPU (TRL's own: 4096)."""
TILE_VOCAB = 4096
"""Vocabulary entries per logit tile on CPU (TRL's own: 32768): a 1024 x 4096 fp32 tile is 16 MB."""
TILE_COPIES = 8
"""Tile-sized fp32 temporaries alive at once in the torch fallback's backward (`_backward_tile`)."""
MMAP_THRESHOLD = 128 * 1024
"""Bytes from which glibc serves an allocation with its own mapping (its starting value, kept from growing)."""
_M_MMAP_THRESHOLD = -3
"""`mallopt` parameter number from glibc's malloc.h."""


def small_logit_tiles() -> None:
    """Make TRL's fused LM head score `TILE_TOKENS x TILE_VOCAB` tiles (it reads both at every call)."""
    import trl.kernels.chunked_logprob as kernel
    import trl.trainer.utils as trainer_utils

    kernel.TOKEN_CHUNK_SIZE = TILE_TOKENS
    trainer_utils._CHUNKED_LOGPROB_CHUNK_SIZE = TILE_VOCAB


def fixed_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at `MMAP_THRESHOLD` (this also stops it growing); False off glibc."""
    if platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def lean_cpu_training() -> None:
    """Both settings, for a process that trains on CPU (a GPU run keeps TRL's tiles and glibc's defaults)."""
    import torch

    if torch.cuda.is_available():
        return
    small_logit_tiles()
    fixed_mmap_threshold()
