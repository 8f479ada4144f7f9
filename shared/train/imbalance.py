"""Learning from imbalanced classes: the decision rule of threshold moving, and the metrics that
say how a classifier does on the rare classes (module 6, notebook 03).

Resampling comes from `imbalanced-learn` (RandomOverSampler, RandomUnderSampler) and class
weights from scikit-learn (`class_weight="balanced"`); what they lack is here:

    predict_with_prior_shift(probabilities, priors, alpha)   # threshold moving for many classes
    imbalance_metrics(y_true, probabilities, minority)        # macro-F1, minority recall, PR-AUC, calibration
"""
import numpy as np
from sklearn.metrics import average_precision_score, f1_score, recall_score


def class_weights(labels, n_classes: int | None = None) -> np.ndarray:
    """scikit-learn's "balanced" weights, n_samples / (n_classes * count of the class): a class
    with half the average count weighs twice as much in the loss. (n_classes,)"""
    counts = np.bincount(np.asarray(labels), minlength=n_classes or 0)
    return len(labels) / (len(counts) * counts)


def predict_with_prior_shift(probabilities: np.ndarray, priors: np.ndarray, alpha: float) -> np.ndarray:
    """Threshold moving for several classes: argmax_c p(c | x) / prior_c ** alpha.

    alpha = 0 is the usual argmax (the decision that maximises accuracy under the training mix);
    alpha = 1 divides the training prior out, the Bayes decision as if every class were equally
    frequent (a rare class wins with less evidence). The probabilities are not changed, only where
    the boundaries lie, so ranking metrics (PR-AUC) and calibration stay those of the model.
    probabilities: (N, C), priors: (C,) -> (N,) predicted classes."""
    return np.argmax(np.asarray(probabilities) / np.asarray(priors) ** alpha, axis=1)


def expected_calibration_error(probabilities: np.ndarray, labels, n_bins: int = 10) -> float:
    """Top-label ECE: bin the examples by the model's confidence (its highest probability) into
    `n_bins` equal-width bins; the mean |accuracy - confidence| over the bins, weighted by the
    share of examples in each (Guo et al., 2017)."""
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    confidence = probabilities.max(1)                                    # (N,)
    correct = probabilities.argmax(1) == labels                          # (N,)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)     # bin index of each example
    error = 0.0
    for b in np.unique(bins):
        members = bins == b
        error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def reliability_curve(probabilities: np.ndarray, labels, n_bins: int = 10):
    """(mean confidence, accuracy, count) per non-empty confidence bin, for a reliability diagram."""
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    confidence = probabilities.max(1)
    correct = probabilities.argmax(1) == labels
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    rows = [(confidence[bins == b].mean(), correct[bins == b].mean(), int((bins == b).sum())) for b in np.unique(bins)]
    return tuple(np.array(column) for column in zip(*rows))


def imbalance_metrics(y_true, probabilities: np.ndarray, minority, predicted=None) -> dict:
    """What to report on imbalanced data, for an (N, C) matrix of class probabilities:
    accuracy; macro-F1; minority recall (mean recall over the `minority` classes); the recall of
    the rarest of them (minority[0]); macro PR-AUC (average precision of each class against the
    rest, averaged: threshold-free); the Brier score (mean squared error of the probability
    vector) and the expected calibration error. `predicted` overrides the argmax decision
    (threshold moving)."""
    y_true, probabilities = np.asarray(y_true), np.asarray(probabilities)
    n_classes = probabilities.shape[1]
    predicted = probabilities.argmax(1) if predicted is None else np.asarray(predicted)
    recalls = recall_score(y_true, predicted, labels=range(n_classes), average=None, zero_division=0)
    one_hot = np.eye(n_classes)[y_true]                                  # (N, C)
    return {"accuracy": float(np.mean(predicted == y_true)),
            "macro_f1": float(f1_score(y_true, predicted, average="macro", zero_division=0)),
            "minority_recall": float(recalls[list(minority)].mean()),
            "rarest_recall": float(recalls[minority[0]]),
            "macro_pr_auc": float(average_precision_score(one_hot, probabilities, average="macro")),
            "brier": float(np.mean(np.sum((probabilities - one_hot) ** 2, axis=1))),
            "ece": expected_calibration_error(probabilities, y_true)}
