import numpy as np

from shared.text.baselines import tfidf_logistic_regression


def test_tfidf_logistic_regression_learns_sentiment_words():
    texts = ["a great film", "great acting, great plot", "a wonderful great story",
             "a terrible film", "terrible acting, awful plot", "an awful terrible story"]
    labels = [1, 1, 1, 0, 0, 0]
    model = tfidf_logistic_regression(texts, labels)
    assert model.score(texts, labels) == 1.0
    assert list(model.predict(["great", "terrible"])) == [1, 0]
    vocabulary = model.named_steps["tfidfvectorizer"].vocabulary_
    assert "great" in vocabulary and "film" in vocabulary and "wonderful" not in vocabulary  # min_df=2


def test_tfidf_logistic_regression_is_deterministic():
    texts = ["good movie", "bad movie", "good plot", "bad plot"] * 3
    labels = np.array([1, 0, 1, 0] * 3)
    first = tfidf_logistic_regression(texts, labels).predict_proba(texts)
    second = tfidf_logistic_regression(texts, labels).predict_proba(texts)
    np.testing.assert_array_equal(first, second)
