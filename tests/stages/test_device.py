"""The CUDA guard: a GPU machine whose torch cannot see its GPUs fails at once instead of training on CPU."""

from __future__ import annotations

import pytest

from schemas import Artifact, SftStage
from stages import sft
from stages._context import StageContext, StageError
from stages._device import machine_gpus, require_cuda


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("RECIPE_ALLOW_CPU", raising=False)


def test_a_stage_on_a_gpu_node_without_cuda_fails_before_loading_anything(monkeypatch, no_cuda, tmp_path,
                                                                          tiny_model: Artifact,
                                                                          arithmetic_data: Artifact) -> None:
    monkeypatch.setenv("SKYPILOT_NUM_GPUS_PER_NODE", "8")
    spec = SftStage(id="student", kind="sft", model="m", data="d", target="answer", max_steps=1, batch_size=2)
    with pytest.raises(StageError, match=r"stage 'student': this machine has 8 GPU\(s\) but torch .* cannot use "
                                         r"them .*nvidia-smi.*RECIPE_ALLOW_CPU=1"):
        sft.run(spec, {"model": tiny_model, "data": arithmetic_data}, StageContext(out=tmp_path))
    assert not (tmp_path / "model").exists()


def test_the_guard_stays_quiet_without_gpus_or_when_cpu_is_asked_for(monkeypatch, no_cuda) -> None:
    monkeypatch.delenv("SKYPILOT_NUM_GPUS_PER_NODE", raising=False)
    monkeypatch.setattr("stages._device.Path.is_dir", lambda self: False)
    assert machine_gpus() == 0
    require_cuda("s")
    monkeypatch.setenv("SKYPILOT_NUM_GPUS_PER_NODE", "1")
    monkeypatch.setenv("RECIPE_ALLOW_CPU", "1")
    require_cuda("s")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert machine_gpus() == 0
