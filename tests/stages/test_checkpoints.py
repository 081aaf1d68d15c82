"""Checkpoints: resume only from a complete one, keep the previous until the next is complete, save on a clock,
none after the last step unless asked."""

from __future__ import annotations

from pathlib import Path

from schemas import Artifact, SftStage
from stages import sft
from stages._checkpoints import MARK, mark, problem, resume_point
from stages._context import StageContext


def _checkpoint(root: Path, step: int, files: dict[str, int], marked: bool = True) -> Path:
    folder = root / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    for name, size in files.items():
        (folder / name).write_bytes(b"x" * size)
    if marked:
        mark(folder)
    return folder


FULL = {"model.safetensors": 64, "optimizer.pt": 32, "scheduler.pt": 4, "rng_state.pth": 4, "trainer_state.json": 8}


def test_complete_checkpoint_needs_its_mark_every_listed_file_and_the_optimizer(tmp_path: Path) -> None:
    assert problem(_checkpoint(tmp_path, 1, FULL)) is None
    assert "did not finish" in problem(_checkpoint(tmp_path, 2, FULL, marked=False))
    truncated = _checkpoint(tmp_path, 3, FULL)
    (truncated / "optimizer.pt").write_bytes(b"x" * 5)
    assert problem(truncated) == "optimizer.pt is missing or incomplete"
    no_optimizer = _checkpoint(tmp_path, 4, {k: v for k, v in FULL.items() if k != "optimizer.pt"})
    assert "would restart the optimizer" in problem(no_optimizer)
    broken_mark = _checkpoint(tmp_path, 5, FULL)
    (broken_mark / MARK).write_text('{"files": {"model.saf')
    assert "did not finish" in problem(broken_mark)


def test_resume_skips_and_deletes_newer_incomplete_checkpoints(tmp_path: Path, capsys) -> None:
    from transformers.trainer_utils import get_last_checkpoint

    good = _checkpoint(tmp_path, 20, FULL)
    torn = _checkpoint(tmp_path, 25, FULL)
    (torn / "model.safetensors").write_bytes(b"x")
    assert get_last_checkpoint(str(tmp_path)) == str(torn)  # what `resume_from_checkpoint=True` would take
    assert resume_point(tmp_path, rank=1) == (good, 20) and torn.is_dir()  # only rank 0 deletes
    assert resume_point(tmp_path) == (good, 20) and not torn.exists()
    line = "checkpoint checkpoint-25 is incomplete (model.safetensors is missing or incomplete); deleting it"
    assert line in capsys.readouterr().out
    assert resume_point(tmp_path / "none") == (None, 0)


def _spec(**options) -> SftStage:
    base = {"id": "sft", "kind": "sft", "model": "m", "data": "d", "target": "answer", "max_steps": 3,
            "lr": 1e-2, "batch_size": 2, "max_length": 96, "save_steps": 1}
    return SftStage(**{**base, **options})


def test_trainer_keeps_two_marked_checkpoints_and_resumes_past_a_truncated_optimizer(
        ctx: StageContext, tiny_model: Artifact, arithmetic_data: Artifact) -> None:
    inputs = {"model": tiny_model, "data": arithmetic_data}
    sft.run(_spec(), inputs, ctx)  # killed before the commit: the checkpoints stay
    kept = sorted(p.name for p in ctx.checkpoints.glob("checkpoint-*"))
    assert kept == ["checkpoint-2", "checkpoint-3"]  # save_total_limit=2: the previous survives the next save
    assert all(problem(ctx.checkpoints / name) is None for name in kept)
    optimizer = ctx.checkpoints / "checkpoint-3" / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[:100])  # the preemption hit the upload
    summary = sft.run(_spec(max_steps=4), inputs, ctx)
    assert summary["resumed_from_step"] == 2 and summary["steps"] == 4


def test_save_minutes_checkpoints_on_the_clock_between_save_steps(ctx: StageContext, tiny_model: Artifact,
                                                                  arithmetic_data: Artifact) -> None:
    inputs = {"model": tiny_model, "data": arithmetic_data}
    sft.run(_spec(max_steps=3, save_steps=100, save_minutes=1e-6), inputs, ctx)
    assert sorted(p.name for p in ctx.checkpoints.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    assert problem(ctx.checkpoints / "checkpoint-2") is None


def test_no_checkpoint_after_the_last_step_unless_save_steps_falls_on_it(ctx: StageContext, tiny_model: Artifact,
                                                                         arithmetic_data: Artifact) -> None:
    """The Trainer's own last-step checkpoint (optimizer included) is skipped: the model is written right after."""
    inputs = {"model": tiny_model, "data": arithmetic_data}
    summary = sft.run(_spec(max_steps=3, save_steps=2), inputs, ctx)
    assert summary["steps"] == 3 and (ctx.out / "model" / "model.safetensors").is_file()
    assert sorted(p.name for p in ctx.checkpoints.glob("checkpoint-*")) == ["checkpoint-2"]
    assert resume_point(ctx.checkpoints)[1] == 2  # a kill while the model is written redoes one step
