"""The two merges we do ourselves, streaming: `linear` (sum of w_i * m_i) and `task_arithmetic`
(base + sum of w_i * (m_i - base)).

Every output tensor is computed in row chunks of at most `CHUNK_BYTES`, read through `safe_open`
(a fresh handle per chunk, so no file stays mapped and resident) and written straight into the
output shard, whose header was written first. Peak memory is a few chunks, not a model.
Arithmetic is in float32 (float64 when an input is), in the same order as mergekit's, so the two
agree to rounding. numpy does the work; torch is imported only to read bfloat16 files.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from stages._safetensors import DTYPE_CODES, FLOATS, ShardWriter, TensorInfo, plan_shards, shard_names, write_index

CHUNK_BYTES = 32 << 20
"""Bytes of one input chunk in float32."""


def merge_tensors(tables: Sequence[dict[str, TensorInfo]], weights: Sequence[float], out: Path, *,
                  base: dict[str, TensorInfo] | None = None, normalize: bool = False, dtype: str = "auto",
                  shard_bytes: int = 5 << 30) -> dict[str, Any]:
    """Write the merge of `tables` (one tensor table per model, same names and shapes) into `out`.

    With `base`, task arithmetic: base + sum of w_i * (m_i - base); without, linear: sum of w_i * m_i.
    `normalize` divides the weighted sum (of models or of deltas) by the sum of the weights, as mergekit.
    `dtype` is `auto` (each tensor keeps the first model's dtype) or float32 | bfloat16 | float16.
    """
    first = base or tables[0]
    names = sorted(first)
    out_dtype = {name: _out_dtype(first[name], dtype) for name in names}
    sizes = {name: TensorInfo(first[name].file, out_dtype[name], first[name].shape).nbytes for name in names}
    shards = plan_shards(sizes, shard_bytes)
    files = shard_names(len(shards))
    weight_map: dict[str, str] = {}
    for shard, file in zip(shards, files, strict=True):
        writer = ShardWriter(out / file, {n: (out_dtype[n], first[n].shape) for n in shard}, {"format": "pt"})
        for name in shard:
            infos = [table[name] for table in tables]
            for chunk in _merged_chunks(name, infos, base[name] if base else None, weights, normalize):
                writer.write(_encode(chunk, out_dtype[name]))
            weight_map[name] = file
        writer.close()
    if len(files) > 1:
        write_index(out, weight_map, sum(sizes.values()))
    return {"tensors": len(names), "shards": len(files), "bytes": sum(sizes.values()),
            "params": sum(_count(first[n]) for n in names)}


def _count(info: TensorInfo) -> int:
    total = 1
    for dim in info.shape:
        total *= dim
    return total


def _out_dtype(info: TensorInfo, dtype: str) -> str:
    if info.dtype not in FLOATS or dtype == "auto":
        return info.dtype
    return DTYPE_CODES[dtype]


def _merged_chunks(name: str, infos: Sequence[TensorInfo], base: TensorInfo | None, weights: Sequence[float],
                   normalize: bool) -> Iterator[Any]:
    import numpy as np

    lead = base or infos[0]
    if lead.dtype not in FLOATS:  # integer buffers are not averaged: the first model's are kept
        yield from (_read(lead, name, rows) for rows in _row_ranges(lead))
        return
    wide = any(i.dtype == "F64" for i in (*infos, *([base] if base else [])))
    ftype = np.float64 if wide else np.float32
    coefficients = [ftype(w) for w in weights]
    for rows in _row_ranges(lead):
        acc = np.zeros(_chunk_shape(lead, rows), dtype=ftype)
        origin = _read(base, name, rows).astype(ftype, copy=False) if base else None
        for info, weight in zip(infos, coefficients, strict=True):
            part = _read(info, name, rows).astype(ftype, copy=False)
            acc += (part - origin if origin is not None else part) * weight
        if normalize:
            total = sum(coefficients)
            if abs(total) >= 1e-8:
                acc /= total
        yield acc if origin is None else origin + acc


def _row_ranges(info: TensorInfo) -> Iterator[slice | None]:
    """Slices of the first dimension, each about CHUNK_BYTES in float32 (None: a 0-d tensor, read whole)."""
    if not info.shape:
        yield None
        return
    row = 4
    for dim in info.shape[1:]:
        row *= dim
    step = max(1, CHUNK_BYTES // max(row, 1))
    for start in range(0, info.shape[0], step):
        yield slice(start, min(start + step, info.shape[0]))
    if info.shape[0] == 0:
        yield slice(0, 0)


def _chunk_shape(info: TensorInfo, rows: slice | None) -> tuple[int, ...]:
    if rows is None:
        return info.shape
    return (rows.stop - rows.start, *info.shape[1:])


def _read(info: TensorInfo, name: str, rows: slice | None) -> Any:
    """Rows of one tensor as a numpy array (bfloat16 comes back as float32)."""
    from safetensors import safe_open

    framework = "pt" if info.dtype == "BF16" else "np"
    with safe_open(str(info.file), framework=framework) as handle:
        part = handle.get_tensor(name) if rows is None else handle.get_slice(name)[rows]
    return part.float().numpy() if framework == "pt" else part


def _encode(array: Any, dtype: str) -> memoryview:
    """The bytes of `array` in safetensors dtype `dtype` (bfloat16 rounded to nearest even, as torch)."""
    import numpy as np

    if dtype == "BF16":
        bits = np.ascontiguousarray(array, dtype=np.float32).view(np.uint32)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
        rounded[np.isnan(array)] = 0x7FC0
        return memoryview(rounded.reshape(-1)).cast("B")
    numpy_type = {"F64": np.float64, "F32": np.float32, "F16": np.float16}.get(dtype)
    data = np.ascontiguousarray(array if numpy_type is None else array.astype(numpy_type, copy=False))
    return memoryview(data.reshape(-1)).cast("B")
