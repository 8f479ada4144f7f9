"""Strong classical baselines that later notebooks must beat."""
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline


def tfidf_logistic_regression(texts: list[str], labels, C: float = 4.0, class_weight=None) -> Pipeline:
    """The module 1 text classifier: TF-IDF of unigrams and bigrams (seen in >= 2 documents,
    sublinear term frequency) + logistic regression, fitted on `texts`.

    Two classes: liblinear, as in module 1. More classes: a multinomial (softmax) regression with
    lbfgs, since scikit-learn's liblinear is binary only. `class_weight="balanced"` weighs each
    class's loss by n_samples / (n_classes * its count) (module 6, imbalanced data).

    `.predict(new_texts)` and `.score(new_texts, new_labels)` take raw strings."""
    labels = list(labels)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    if len(set(labels)) <= 2:
        classifier = LogisticRegression(C=C, solver="liblinear", class_weight=class_weight)
    else:
        classifier = LogisticRegression(C=C, solver="lbfgs", max_iter=1000, class_weight=class_weight)
    return make_pipeline(vectorizer, classifier).fit(list(texts), labels)
