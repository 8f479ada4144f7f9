import json

import pytest

from shared.ledger import ExpectationFailed, Ledger


@pytest.fixture
def ledger(tmp_path):
    return Ledger("module00/test.ipynb", "tiny", path=tmp_path / "results.json")


def test_record_returns_the_value_and_writes_json(ledger):
    assert ledger.record("perplexity", 41.2) == 41.2
    saved = json.loads(ledger.path.read_text())
    assert saved["results"] == {"perplexity": 41.2} and saved["profile"] == "tiny"


def test_numpy_and_torch_scalars_become_plain_numbers(ledger):
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    ledger.record("a", np.float32(0.5))
    ledger.record("b", torch.tensor(3))
    assert json.loads(ledger.path.read_text())["results"] == {"a": 0.5, "b": 3}


def test_passing_expectations(ledger):
    ledger.record("acc", 0.9)
    ledger.expect("acc", above=0.8)
    ledger.expect("acc", below=1.0)
    ledger.expect("acc", equals=0.9, tol=1e-9)
    assert all(e["passed"] for e in ledger.expectations)


@pytest.mark.parametrize("rule, fragment", [
    (dict(above=0.95), "> 0.95"),
    (dict(below=0.5), "< 0.5"),
    (dict(equals=1.0, tol=0.01), "== 1 (±0.01)"),
])
def test_failed_expectation_says_what_was_expected_and_what_came_out(ledger, rule, fragment):
    ledger.record("acc", 0.9)
    with pytest.raises(ExpectationFailed) as error:
        ledger.expect("acc", **rule)
    assert fragment in str(error.value) and "got 0.9" in str(error.value)
    assert json.loads(ledger.path.read_text())["expectations"][-1]["passed"] is False


def test_bounds_are_strict(ledger):
    ledger.record("x", 1.0)
    with pytest.raises(ExpectationFailed):
        ledger.expect("x", above=1.0)


def test_nan_never_passes(ledger):
    ledger.record("loss", float("nan"))
    with pytest.raises(ExpectationFailed):
        ledger.expect("loss", below=10)


def test_expectation_for_another_profile_is_skipped(ledger):
    ledger.record("ppl", 500.0)
    ledger.expect("ppl", below=30, profile="full")  # tiny run: not checked
    with pytest.raises(ExpectationFailed):
        ledger.expect("ppl", below=30, profile="tiny")


def test_unrecorded_result_fails(ledger):
    with pytest.raises(ExpectationFailed, match="never recorded"):
        ledger.expect("missing", above=0)


def test_expect_needs_a_rule(ledger):
    ledger.record("x", 1)
    with pytest.raises(ValueError):
        ledger.expect("x")


def test_record_keeps_how_to_show_the_result(ledger, capsys):
    ledger.record("rouge1", 17.2734, fmt=".1f", unit="points", published="lead-3: 40.3 (See et al., 2017)")
    assert "[ledger] rouge1 = 17.3 points  (published: lead-3: 40.3 (See et al., 2017))" in capsys.readouterr().out
    saved = json.loads(ledger.path.read_text())
    assert saved["meta"]["rouge1"] == {"fmt": ".1f", "unit": "points", "published": "lead-3: 40.3 (See et al., 2017)"}
