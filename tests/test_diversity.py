"""distinct-n and the repetition rate on examples worked out by hand."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.text.diversity import distinct_n, ngrams, repetition_rate, words


def test_words_lowercases_and_splits_punctuation():
    assert words("The cat, the HAT.") == ["the", "cat", ",", "the", "hat", "."]
    assert words("don't") == ["don", "'", "t"]
    assert words("  ") == []


def test_ngrams():
    assert ngrams("abcd", 2) == [("a", "b"), ("b", "c"), ("c", "d")]
    assert ngrams("ab", 3) == []
    with pytest.raises(ValueError):
        ngrams("ab", 0)


def test_distinct_n_by_hand():
    sample = "the cat saw the cat".split()
    # unigrams: the cat saw the cat -> 3 unique of 5
    assert distinct_n([sample], 1) == pytest.approx(3 / 5)
    # bigrams: (the cat) (cat saw) (saw the) (the cat) -> 3 unique of 4
    assert distinct_n([sample], 2) == pytest.approx(3 / 4)
    # two different samples pool their n-grams: a b | a c -> unigrams a b a c: 3 of 4
    assert distinct_n([["a", "b"], ["a", "c"]], 1) == pytest.approx(3 / 4)


def test_identical_samples_score_one_over_k():
    sample = "one two three four".split()
    assert distinct_n([sample] * 4, 2) == pytest.approx(1 / 4)


def test_repetition_rate_by_hand():
    loop = "a b a b a b".split()          # bigrams ab ba ab ba ab: 2 unique of 5 -> 3 repeats
    assert repetition_rate([loop], 2) == pytest.approx(3 / 5)
    fresh = "a b c d".split()             # 3 bigrams, no repeats
    assert repetition_rate([loop, fresh], 2) == pytest.approx(3 / 8)
    # identical samples are not repetition within a sample
    assert repetition_rate([fresh, fresh], 2) == 0.0


def test_empty_inputs_score_zero():
    assert distinct_n([], 2) == 0.0
    assert distinct_n([["a"]], 2) == 0.0
    assert repetition_rate([["a"]], 2) == 0.0


@given(st.lists(st.lists(st.integers(0, 5), max_size=12), max_size=4), st.integers(1, 3))
def test_bounds_and_complement(samples, n):
    """For one sample, distinct-n and the repetition rate add up to 1 (when it has n-grams)."""
    assert 0.0 <= distinct_n(samples, n) <= 1.0
    assert 0.0 <= repetition_rate(samples, n) <= 1.0
    for sample in samples:
        if len(sample) >= n:
            assert distinct_n([sample], n) + repetition_rate([sample], n) == pytest.approx(1.0)
