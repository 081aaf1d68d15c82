"""Shared test setup: offline Hugging Face, the repo on sys.path, one tiny model and one dataset per session.

The environment is set at import, before any test imports huggingface_hub (which reads it once).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from schemas import Artifact  # noqa: E402
from stages._context import StageContext  # noqa: E402

ARITHMETIC = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1, "operators": ["+"]}
"""1-digit addition: tiny prompts, so generation and training stay fast."""


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    """A `tiny:qwen2` model artifact (seed 0), built once per session."""
    from stages._models import build_tiny

    folder = tmp_path_factory.mktemp("tiny-model")
    build_tiny("qwen2", 0, folder / "model")
    return Artifact(type="model", path=str(folder))


@pytest.fixture(scope="session")
def arithmetic_data(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    """A dataset artifact of 6 reasoning-gym 1-digit additions."""
    from schemas import DatasetStage
    from stages import dataset

    folder = tmp_path_factory.mktemp("arithmetic")
    spec = DatasetStage(id="data", data={"source": "reasoning_gym", "task": "basic_arithmetic", "size": 6,
                                         "seed": 1, "config": ARITHMETIC})
    dataset.run(spec, {}, StageContext(out=folder))
    return Artifact(type="dataset", path=str(folder))


@pytest.fixture
def ctx(tmp_path: Path) -> StageContext:
    """A fresh stage context whose `out` folder exists."""
    out = tmp_path / "out"
    out.mkdir()
    return StageContext(out=out, stage_id="test", recipe="test")


@pytest.fixture(autouse=True)
def _loaded_recipes_pass_the_shipped_json_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every recipe a test loads and validates must also pass `schemas/recipe.schema.json`, as written
    (the file) and as loaded (overrides, interpolation): an editor must never underline a working recipe.
    Skipped in the venvs without `jsonschema` (cloud, vLLM); the main suite has it (`test` extra)."""
    try:
        import jsonschema
    except ImportError:
        return
    import sdk.api
    from sdk.recipe.json_schema import REGENERATE, SCHEMA_FILE
    from sdk.recipe.loader import read

    validator = _schema_validator(jsonschema, SCHEMA_FILE)
    real = sdk.api.validate

    def validate_and_check(doc):  # type: ignore[no-untyped-def]
        recipe = real(doc)
        written = read(doc.file).data if Path(doc.file).is_file() else doc.data
        for what, data in (("as written", written), ("as loaded", doc.data)):
            error = jsonschema.exceptions.best_match(validator.iter_errors(data))
            assert error is None, (
                f"{doc.file} ({what}) is a valid recipe, but {SCHEMA_FILE.name} rejects it at "
                f"{'/'.join(map(str, error.absolute_path)) or 'the top'}: {error.message}\n"
                f"if schemas/ changed, regenerate the schema: {REGENERATE}")
        return recipe

    monkeypatch.setattr(sdk.api, "validate", validate_and_check)


_VALIDATORS: dict[str, object] = {}


def _schema_validator(jsonschema, path: Path):  # type: ignore[no-untyped-def]
    """One validator per session (building one resolves the whole schema)."""
    import json

    if "v" not in _VALIDATORS:
        _VALIDATORS["v"] = jsonschema.Draft7Validator(json.loads(path.read_text()))
    return _VALIDATORS["v"]
