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


def test_tfidf_logistic_regression_handles_many_classes_as_sklearn_multinomial():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = ["rockets and orbits", "orbits of planets", "planets and rockets",
             "hockey and goals", "goals in hockey", "hockey teams score goals",
             "cars and engines", "engines of cars", "fast cars engines"]
    labels = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    model = tfidf_logistic_regression(texts, labels)
    assert model.score(texts, labels) == 1.0
    features = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True).fit_transform(texts)
    reference = LogisticRegression(C=4.0, max_iter=1000).fit(features, labels)
    np.testing.assert_allclose(model.predict_proba(texts), reference.predict_proba(features), atol=1e-6)
    balanced = tfidf_logistic_regression(texts[:7], labels[:7], class_weight="balanced")
    assert balanced.named_steps["logisticregression"].class_weight == "balanced"
