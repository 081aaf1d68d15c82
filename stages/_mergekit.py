"""Merge methods we do not implement (ties, dare_ties, slerp, della, ...), delegated to mergekit's Python API.

mergekit is the `merge` extra; it is imported only here, only when such a method is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stages._context import StageError

TAKES_WEIGHT = frozenset({"linear", "task_arithmetic", "ties", "dare_ties", "dare_linear", "breadcrumbs",
                          "breadcrumbs_ties", "della", "della_linear", "multislerp", "nuslerp"})
"""Methods with a per-model `weight` parameter (the others take only `parameters`)."""


def mergekit_config(method: str, models: Sequence[Path], weights: Sequence[float] | None, base: Path | None,
                    parameters: dict[str, Any], dtype: str) -> dict[str, Any]:
    """The mergekit YAML (as a dict) for one merge; `weights` go to each model when the method takes them."""
    entries = []
    for index, model in enumerate(models):
        entry: dict[str, Any] = {"model": str(model)}
        if weights is not None and method in TAKES_WEIGHT:
            entry["parameters"] = {"weight": float(weights[index])}
        entries.append(entry)
    config: dict[str, Any] = {"merge_method": method, "models": entries,
                              "dtype": "float32" if dtype == "auto" else dtype}
    if base is not None:
        config["base_model"] = str(base)
    if parameters:
        config["parameters"] = dict(parameters)
    return config


def run_mergekit(config: dict[str, Any], out: Path, shard_bytes: int) -> None:
    """Run one merge through `mergekit.merge.run_merge` into `out` (weights and config only)."""
    try:
        from mergekit.config import MergeConfiguration
        from mergekit.merge import run_merge
        from mergekit.options import MergeOptions
    except ImportError as err:
        raise StageError(f"merge method {config['merge_method']!r} runs through mergekit: "
                         "pip install 'recipe[merge]' (or use method linear / task_arithmetic)") from err
    try:
        merge_config = MergeConfiguration.model_validate(config)
        options = MergeOptions(copy_tokenizer=False, lazy_unpickle=False, quiet=True, write_model_card=False,
                               out_shard_size=shard_bytes)
        run_merge(merge_config, str(out), options=options)
    except (RuntimeError, ValueError) as err:  # mergekit reports bad parameters as either
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise StageError(f"mergekit {config['merge_method']!r} failed: {first}") from err
