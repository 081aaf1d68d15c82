"""Probe: a problem's pass rate is its correct samples over n, graded by the rows' own verifier."""

from __future__ import annotations

from stages import probe


def test_pass_rate_counts_correct_samples_per_row_in_order():
    rows = [{"id": i, "prompt": "q", "answer": str(i), "meta": {"extract": "answer_tag"}} for i in range(2)]
    texts = ["<answer>0</answer>", "<answer>9</answer>", "<answer>0</answer>", "nothing",
             "<answer>1</answer>", "<answer>1</answer>", "<answer>1</answer>", "<answer>1</answer>"]
    samples = [{"response": t} for t in texts]
    out = probe.pass_rates(rows, samples, 4)
    assert [(r["correct"], r["pass_rate"]) for r in out] == [(2, 0.5), (4, 1.0)]
    assert out[0]["answer"] == "0" and out[0]["samples"] == 4
