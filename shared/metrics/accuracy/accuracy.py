"""Accuracy through scikit-learn, as the hub `accuracy` metric."""
import datasets
import evaluate
from sklearn.metrics import accuracy_score

DESCRIPTION = """
Accuracy is the fraction of predictions equal to their reference label:
(TP + TN) / (TP + TN + FP + FN) for binary labels.
"""

CITATION = """
@article{scikit-learn,
  title = {Scikit-learn: Machine Learning in {P}ython},
  author = {Pedregosa, F. and others},
  journal = {Journal of Machine Learning Research},
  volume = {12},
  pages = {2825--2830},
  year = {2011},
}
"""

INPUTS = """
Args:
    predictions: list of int labels.
    references: list of int labels.
    normalize: True (default) for the fraction correct, False for the count.
    sample_weight: optional list of weights.
Returns:
    {"accuracy": float}
"""


class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=DESCRIPTION,
            citation=CITATION,
            inputs_description=INPUTS,
            features=datasets.Features({"predictions": datasets.Value("int32"),
                                        "references": datasets.Value("int32")}),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.accuracy_score.html"],
        )

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        score = accuracy_score(references, predictions, normalize=normalize, sample_weight=sample_weight)
        return {"accuracy": float(score)}
