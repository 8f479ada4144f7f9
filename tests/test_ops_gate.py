import math

import pytest

from shared.ops.gate import quality_gate, read_baseline, write_baseline


def test_within_tolerance_passes_and_reports_deltas():
    r = quality_gate({"ppl": 12.4, "acc": 0.79}, {"ppl": 12.0, "acc": 0.80},
                     tolerance={"ppl": 0.5, "acc": 0.02}, higher_is_better={"ppl": False, "acc": True})
    assert r.passed and bool(r) and r.reasons == []
    assert r.deltas["ppl"] == pytest.approx(0.4) and r.deltas["acc"] == pytest.approx(-0.01)
    assert [c.name for c in r.checks] == ["ppl", "acc"]


def test_regression_beyond_tolerance_fails_in_the_right_direction():
    lower = quality_gate({"ppl": 13.0}, {"ppl": 12.0}, tolerance=0.5, higher_is_better=False)
    assert not lower.passed and "ppl rose" in lower.reasons[0]
    higher = quality_gate({"acc": 0.70}, {"acc": 0.80}, tolerance=0.05, higher_is_better=True)
    assert not higher.passed and "acc fell" in higher.reasons[0]


def test_improvement_never_fails():
    assert quality_gate({"ppl": 2.0}, {"ppl": 12.0}, tolerance=0.0, higher_is_better=False).passed
    assert quality_gate({"acc": 1.0}, {"acc": 0.5}, tolerance=0.0).passed


def test_exact_tolerance_passes():
    assert quality_gate({"acc": 0.75}, {"acc": 0.80}, tolerance=0.05).passed


def test_missing_or_nan_metric_fails():
    r = quality_gate({"acc": 0.9}, {"acc": 0.8, "f1": 0.7}, tolerance=0.1)
    assert not r.passed and "f1" in r.reasons[0] and "missing" in r.reasons[0]
    r = quality_gate({"ppl": math.nan}, {"ppl": 10.0}, tolerance=1.0, higher_is_better=False)
    assert not r.passed


def test_extra_candidate_metrics_are_ignored():
    assert quality_gate({"acc": 0.8, "new": 0.0}, {"acc": 0.8}, tolerance=0.0).passed


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="empty"):
        quality_gate({"a": 1.0}, {}, tolerance=0.1)
    with pytest.raises(ValueError, match="no entry"):
        quality_gate({"a": 1.0}, {"a": 1.0}, tolerance={"b": 0.1})
    with pytest.raises(ValueError, match=">= 0"):
        quality_gate({"a": 1.0}, {"a": 1.0}, tolerance=-1.0)


def test_baseline_round_trip(tmp_path):
    path = write_baseline(tmp_path / "b" / "baseline.json", {"ppl": 12.5}, model="x")
    assert read_baseline(path) == {"ppl": 12.5}
    with pytest.raises(FileNotFoundError, match="write_baseline"):
        read_baseline(tmp_path / "none.json")


def test_summary_and_rows():
    r = quality_gate({"ppl": 13.0}, {"ppl": 12.0}, tolerance=0.5, higher_is_better=False)
    assert "FAILED" in r.summary() and "REGRESSED" in r.summary()
    assert r.rows()[0]["name"] == "ppl" and r.rows()[0]["passed"] is False
