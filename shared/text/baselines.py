"""Strong classical baselines that later notebooks must beat."""
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline


def tfidf_logistic_regression(texts: list[str], labels, C: float = 4.0) -> Pipeline:
    """The module 1 text classifier: TF-IDF of unigrams and bigrams (seen in >= 2 documents,
    sublinear term frequency) + logistic regression, fitted on `texts`.

    `.predict(new_texts)` and `.score(new_texts, new_labels)` take raw strings."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    classifier = LogisticRegression(C=C, solver="liblinear")
    return make_pipeline(vectorizer, classifier).fit(list(texts), list(labels))
