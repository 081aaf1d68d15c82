"""Hugging Face datasets, read once for every source that names one (`source: hf`, `source: mcq` with `id`):
from the hub, or from a folder saved with `datasets`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stages._context import StageError


def _check_hub_dataset(name: str) -> None:
    """When online, ask the hub once (10 s timeout) instead of letting `datasets` retry for a minute."""
    import os

    from huggingface_hub import HfApi, constants

    flags = (os.environ.get(k, "0").lower() in {"1", "true", "yes", "on"} for k in ("HF_DATASETS_OFFLINE",
                                                                                      "HF_HUB_OFFLINE"))
    if any(flags) or constants.HF_HUB_OFFLINE:
        return
    try:
        HfApi().dataset_info(name, timeout=10)
    except Exception as err:  # connection, 404, gated
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise StageError(f"cannot reach dataset {name!r} on the Hugging Face hub ({first}); check the id and "
                         "network, or set HF_DATASETS_OFFLINE=1 to use only the local cache") from err


def load_hub(ref: str, name: str | None, split: str, limit: int | None = None) -> Any:
    """A Hugging Face dataset split, from the hub or a local `save_to_disk` folder (first `limit` rows)."""
    import datasets

    try:
        if Path(ref).expanduser().is_dir():
            loaded = datasets.load_from_disk(str(Path(ref).expanduser()))
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise StageError(f"dataset folder {ref} has no split {split!r}; splits: {', '.join(loaded)}")
                loaded = loaded[split]
        else:
            _check_hub_dataset(ref)
            loaded = datasets.load_dataset(ref, name, split=split)
    except (OSError, ValueError, ConnectionError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise StageError(f"cannot load dataset {ref!r} (split {split!r}): {first}; "
                         "offline runs need it in the local cache (HF_DATASETS_OFFLINE)") from err
    if limit is not None:
        loaded = loaded.select(range(min(limit, len(loaded))))
    return loaded
