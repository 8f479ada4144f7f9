"""shared.text.sentiment (lexicons, thresholds, slices, bootstrap) and shared.text.topics (c-TF-IDF,
coherence) on small inputs with known answers."""
import numpy as np
import pytest
from scipy import sparse

from shared.text import sentiment, topics


def test_lexicons_read_the_sign_and_vader_handles_negation():
    vader, textblob, afinn = (make() for make in sentiment.LEXICONS.values())
    for scorer in (vader, textblob, afinn):
        assert scorer("A wonderful, brilliant film.") > 0 > scorer("A terrible, boring film.")
    assert vader("The film is not good.") < 0 < vader("The film is good.")   # VADER's negation rule
    assert vader("The film was not a good one.") < 0 < afinn("The film was not a good one.")  # AFINN: no rule
    assert afinn("The film is not good.") < 0          # ... only a few rated phrases ("not good")


def test_best_threshold_finds_the_separating_cut():
    scores = np.array([-0.5, 0.1, 0.2, 0.6, 0.7, 0.9])
    labels = np.array([0, 0, 0, 1, 1, 1])
    t = sentiment.best_threshold(scores, labels)
    assert 0.2 < t < 0.6
    assert np.all((scores > t) == labels)
    assert sentiment.best_threshold(np.array([-1.0, 1.0]), np.array([0, 1])) == 0.0   # ties go to 0


def test_phenomenon_slices():
    texts = ["It is not good.", "Good, but long.", "Very good!", "Oh great, another sequel.", "Fine."]
    s = sentiment.phenomenon_slices(texts, long_quantile=0.5)
    assert s["negation"].tolist() == [True, False, False, False, False]
    assert s["contrast"].tolist() == [False, True, False, False, False]
    assert s["intensifier"].tolist() == [False, False, True, False, False]
    assert s["sarcasm cue"].tolist() == [False, False, False, True, False]
    assert s["long"].sum() == 2
    assert sentiment.NEGATION.search("it doesn't work") and not sentiment.NEGATION.search("nothingness is a word")


def test_bootstrap_intervals():
    correct = np.r_[np.ones(80), np.zeros(20)]
    low, high = sentiment.bootstrap_interval(correct, seed=0)
    assert low < 0.8 < high and high - low < 0.2
    paired = np.column_stack([correct, correct])
    assert sentiment.bootstrap_interval(paired) == (0.0, 0.0)               # identical models: no difference
    labels = np.r_[np.ones(50), np.zeros(50)].astype(int)
    low, high = sentiment.bootstrap_f1_interval(labels, labels)
    assert low == high == 1.0


def test_c_tf_idf_matches_its_definition():
    counts = sparse.csr_matrix(np.array([[2, 0, 1], [1, 0, 0], [0, 3, 1], [0, 1, 0]]))  # 4 docs x 3 words
    clusters = np.array([5, 5, 7, 7])
    ids, weights = topics.c_tf_idf(counts, clusters)
    assert ids.tolist() == [5, 7]
    per_cluster = np.array([[3, 0, 1], [0, 4, 1]], dtype=float)
    A = per_cluster.sum() / 2
    expected = per_cluster / per_cluster.sum(1, keepdims=True) * np.log(1 + A / per_cluster.sum(0))
    np.testing.assert_allclose(weights, expected)
    assert topics.top_words(weights, ["a", "b", "c"], 1) == [["a"], ["b"]]


def test_coherence_prefers_words_that_occur_together():
    texts = [["cat", "dog", "pet", "vet"]] * 20 + [["stock", "market", "bank", "trade"]] * 20
    good = [["cat", "dog", "pet"], ["stock", "market", "bank"]]
    mixed = [["cat", "market", "vet"], ["stock", "dog", "trade"]]
    for measure in ("c_npmi", "u_mass"):
        assert topics.coherence(good, texts, measure) > topics.coherence(mixed, texts, measure)
    assert len(topics.coherence(good, texts, "c_npmi", per_topic=True)) == 2


def test_review_splits_are_disjoint_and_seeded():
    pytest.importorskip("datasets")
    try:
        a = sentiment.review_splits("rotten_tomatoes", 50, 20, 30, seed=0)
    except FileNotFoundError:
        pytest.skip("offline reviews not installed (journey assets)")
    b = sentiment.review_splits("rotten_tomatoes", 50, 20, 30, seed=0)
    assert a["train"]["text"] == b["train"]["text"]
    assert not set(a["train"]["text"]) & set(a["validation"]["text"])
    assert [len(a[s]) for s in ("train", "validation", "test")] == [50, 20, 30]
