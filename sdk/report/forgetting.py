"""CNL's learned / forgotten counts per model, as the report's section and the table `apply` prints.

It reads a `forgetting` stage's `report.json` only.
"""

from __future__ import annotations

from typing import Any

FORGETTING_HEAD = ["model", "learned", "forgotten (in-set)", "forgotten (held-out)"]
_COUNTS = (("learned", "injection"), ("forgotten", "mastered"), ("heldout_forgotten", "heldout"))


def forgetting_note(report: dict[str, Any]) -> str:
    return ("learned: injection questions (wrong before training) now answered right; forgotten: mastered "
            "questions (right before training) now answered wrong, in-set (their gradient guarded CNL) and "
            f"held-out (no training gradient saw them); each as count / questions, scored by {report.get('scorer')}.")


def forgetting_rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per model: each count as `count / questions`, blank where the report has none."""
    return [[name, *(f"{m[k]} / {m[f'{part}_rows']}" if m.get(k) is not None else "" for k, part in _COUNTS)]
            for name, m in report.get("models", {}).items()]


def epoch_lines(report: dict[str, Any]) -> list[str]:
    """Each trained model's counts after every epoch (0: before training)."""
    return [f"{name} per epoch (learned / forgotten / held-out forgotten): " + ", ".join(
                f"{e['epoch']}: {e.get('learned')}/{e.get('forgotten')}/{e.get('heldout_forgotten')}"
                for e in m["epochs"])
            for name, m in report.get("models", {}).items() if m.get("epochs")]
