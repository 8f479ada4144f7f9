"""shared.train.imbalance against scikit-learn and hand-computed cases."""
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, recall_score
from sklearn.utils.class_weight import compute_class_weight

from shared.train.imbalance import (
    class_weights,
    expected_calibration_error,
    imbalance_metrics,
    predict_with_prior_shift,
    reliability_curve,
)

rng = np.random.default_rng(0)
LABELS = np.array([0] * 70 + [1] * 20 + [2] * 10)
PROBABILITIES = rng.dirichlet(np.ones(3), size=len(LABELS))
PROBABILITIES[np.arange(len(LABELS)), LABELS] += 0.6
PROBABILITIES /= PROBABILITIES.sum(1, keepdims=True)


def test_class_weights_are_sklearn_balanced():
    expected = compute_class_weight("balanced", classes=np.arange(3), y=LABELS)
    np.testing.assert_allclose(class_weights(LABELS), expected)
    assert np.sum(class_weights(LABELS)[LABELS]) == pytest.approx(len(LABELS))  # total weight unchanged


def test_prior_shift_alpha_zero_is_argmax_and_alpha_one_favours_rare_classes():
    priors = np.bincount(LABELS) / len(LABELS)
    np.testing.assert_array_equal(predict_with_prior_shift(PROBABILITIES, priors, 0.0), PROBABILITIES.argmax(1))
    close_call = np.array([[0.5, 0.2, 0.3]])                         # the common class wins by argmax...
    assert predict_with_prior_shift(close_call, priors, 0.0)[0] == 0
    assert predict_with_prior_shift(close_call, priors, 1.0)[0] == 2  # ... 0.3 / 0.1 > 0.5 / 0.7


def test_ece_hand_computed():
    probabilities = np.array([[0.95, 0.05], [0.95, 0.05], [0.65, 0.35], [0.35, 0.65]])
    labels = np.array([0, 1, 0, 0])
    # bin 9: confidence 0.95, accuracy 1/2 -> |0.5 - 0.95| = 0.45, weight 2/4
    # bin 6: confidences 0.65, 0.65, accuracy 1/2 -> 0.15, weight 2/4
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.5 * 0.45 + 0.5 * 0.15)
    confidence, accuracy, count = reliability_curve(probabilities, labels)
    np.testing.assert_allclose(confidence, [0.65, 0.95])
    np.testing.assert_allclose(accuracy, [0.5, 0.5])
    np.testing.assert_array_equal(count, [2, 2])


def test_perfectly_calibrated_predictions_have_small_ece():
    confidence = rng.uniform(0.5, 1.0, size=20_000)
    labels = (rng.uniform(size=confidence.size) > confidence).astype(int)  # right with probability = confidence
    probabilities = np.stack([confidence, 1 - confidence], axis=1)
    assert expected_calibration_error(probabilities, labels) < 0.02


def test_imbalance_metrics_match_sklearn():
    scores = imbalance_metrics(LABELS, PROBABILITIES, minority=[2, 1])
    predicted = PROBABILITIES.argmax(1)
    recalls = recall_score(LABELS, predicted, average=None)
    assert scores["accuracy"] == pytest.approx(np.mean(predicted == LABELS))
    assert scores["macro_f1"] == pytest.approx(f1_score(LABELS, predicted, average="macro"))
    assert scores["minority_recall"] == pytest.approx((recalls[1] + recalls[2]) / 2)
    assert scores["rarest_recall"] == pytest.approx(recalls[2])
    assert scores["macro_pr_auc"] == pytest.approx(np.mean([average_precision_score(LABELS == c, PROBABILITIES[:, c])
                                                            for c in range(3)]))
    one_hot = np.eye(3)[LABELS]
    assert scores["brier"] == pytest.approx(np.mean(((PROBABILITIES - one_hot) ** 2).sum(1)))
    always_common = imbalance_metrics(LABELS, PROBABILITIES, minority=[2, 1], predicted=np.zeros_like(LABELS))
    assert always_common["minority_recall"] == 0 and always_common["accuracy"] == pytest.approx(0.7)
    assert always_common["macro_pr_auc"] == scores["macro_pr_auc"]  # the decision does not change the ranking
