"""safetensors without loading models: read a folder's tensor table from headers, write shards by streaming.

The format is an 8-byte little-endian header length, a JSON header (name -> dtype, shape, byte
offsets) and the raw bytes. Reading the headers needs only the stdlib, so the plan can compare
models without torch; writing the header first and then each tensor's bytes in order lets a merge
hold a few tensors at a time instead of a whole model.

    model.safetensors                          one file, or
    model-00001-of-00002.safetensors ...       shards, plus
    model.safetensors.index.json               {"metadata": {"total_size": N}, "weight_map": {name: file}}
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

SINGLE = "model.safetensors"
INDEX = "model.safetensors.index.json"

ITEM_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
FLOATS = frozenset({"F64", "F32", "F16", "BF16"})
DTYPE_CODES = {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}
"""Recipe dtype names -> safetensors dtype codes."""


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lies and what it is, read from a header."""

    file: Path
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * ITEM_SIZE[self.dtype]


def read_header(path: Path) -> dict[str, dict]:
    """The JSON header of one safetensors file (tensor name -> dtype, shape, data_offsets)."""
    with open(path, "rb") as fh:
        (size,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(size))
    header.pop("__metadata__", None)
    return header


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a model folder (the index's shards, or the single file); [] if none."""
    folder = Path(folder)
    if (folder / INDEX).is_file():
        weight_map = json.loads((folder / INDEX).read_text())["weight_map"]
        return [folder / name for name in sorted(set(weight_map.values()))]
    return [folder / SINGLE] if (folder / SINGLE).is_file() else sorted(folder.glob("*.safetensors"))


def tensor_table(folder: Path) -> dict[str, TensorInfo]:
    """Every tensor of a model folder, by name, from the headers only."""
    table: dict[str, TensorInfo] = {}
    for file in weight_files(folder):
        for name, entry in read_header(file).items():
            table[name] = TensorInfo(file, entry["dtype"], tuple(entry["shape"]))
    return table


def plan_shards(sizes: dict[str, int], max_bytes: int) -> list[list[str]]:
    """Tensor names grouped into shards of at most `max_bytes` (a bigger tensor gets a shard of its own)."""
    shards: list[list[str]] = [[]]
    used = 0
    for name, size in sizes.items():
        if shards[-1] and used + size > max_bytes:
            shards.append([])
            used = 0
        shards[-1].append(name)
        used += size
    return shards


def shard_names(count: int) -> list[str]:
    return [SINGLE] if count == 1 else [f"model-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]


class ShardWriter:
    """Writes one safetensors file whose tensors (names, dtypes, shapes) are known before any data.

    `write(bytes)` must be called with each tensor's bytes in the order given, chunks allowed.
    """

    def __init__(self, path: Path, tensors: dict[str, tuple[str, tuple[int, ...]]], metadata: dict[str, str]):
        header: dict[str, object] = {"__metadata__": metadata}
        offset = 0
        for name, (dtype, shape) in tensors.items():
            end = offset + math.prod(shape) * ITEM_SIZE[dtype]
            header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, end]}
            offset = end
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)  # data starts 8-byte aligned
        self.path, self.expected, self.written = path, offset, 0
        self._fh: BinaryIO = open(path, "wb")
        self._fh.write(struct.pack("<Q", len(text)) + text)

    def write(self, data: bytes | memoryview) -> None:
        self._fh.write(data)
        self.written += len(data)

    def close(self) -> None:
        self._fh.close()
        if self.written != self.expected:
            raise ValueError(f"{self.path}: wrote {self.written} bytes of tensor data, header says {self.expected}")


def write_index(folder: Path, weight_map: dict[str, str], total_size: int) -> None:
    (folder / INDEX).write_text(json.dumps({"metadata": {"total_size": total_size}, "weight_map": weight_map},
                                           indent=2, sort_keys=True) + "\n")
