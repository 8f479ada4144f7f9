"""Recall through scikit-learn, as the hub `recall` metric."""
import datasets
import evaluate
from sklearn.metrics import recall_score

DESCRIPTION = """
Recall is the share of the examples of a class that are predicted as that class: TP / (TP + FN).
For more than two classes, `average` says how per-class scores combine: "macro" (plain mean over
classes), "micro" (from the pooled counts; for single-label tasks it equals accuracy), "weighted"
(mean weighted by class frequency), or None (one score each).
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
    average: "binary" (default), "macro", "micro", "weighted" or None.
    labels: the labels to include (default: all that occur).
    pos_label: the positive class when average="binary" (default 1).
    sample_weight: optional list of weights.
    zero_division: the score of a class with an empty denominator (default "warn": 0 with a warning).
Returns:
    {"recall": float}, or {"recall": list} when average=None.
"""


class Recall(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=DESCRIPTION,
            citation=CITATION,
            inputs_description=INPUTS,
            features=datasets.Features({"predictions": datasets.Value("int32"),
                                        "references": datasets.Value("int32")}),
            reference_urls=["https://scikit-learn.org/stable/modules/generated/sklearn.metrics.recall_score.html"],
        )

    def _compute(self, predictions, references, average="binary", labels=None, pos_label=1, sample_weight=None,
                 zero_division="warn"):
        score = recall_score(references, predictions, labels=labels, pos_label=pos_label, average=average,
                             sample_weight=sample_weight, zero_division=zero_division)
        return {"recall": score.tolist() if average is None else float(score)}
