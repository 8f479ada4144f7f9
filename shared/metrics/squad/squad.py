"""SQuAD v1.1 exact match and F1 through `shared.text.qa`, with the inputs of the hub `squad` metric."""
import datasets
import evaluate

from shared.text.qa import squad_scores

DESCRIPTION = """
Extractive question answering is scored against one or more gold answer strings per question,
after normalisation (lowercase; punctuation and the articles a/an/the removed). Exact match is
the share of predictions equal to a gold answer; F1 is the mean token-overlap F1 with the best
gold answer. Both are in percent.
"""

CITATION = """
@inproceedings{rajpurkar-etal-2016-squad,
  title = {{SQ}u{AD}: 100,000+ Questions for Machine Comprehension of Text},
  author = {Rajpurkar, Pranav and Zhang, Jian and Lopyrev, Konstantin and Liang, Percy},
  booktitle = {Proceedings of the 2016 Conference on Empirical Methods in Natural Language Processing},
  year = {2016},
  pages = {2383--2392},
}
"""

INPUTS = """
Args:
    predictions: list of {"id": str, "prediction_text": str}.
    references: list of {"id": str, "answers": {"text": list of str, "answer_start": list of int}},
        matched to the predictions by id.
Returns:
    {"exact_match": float in [0, 100], "f1": float in [0, 100]}
"""


class Squad(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=DESCRIPTION,
            citation=CITATION,
            inputs_description=INPUTS,
            features=datasets.Features({
                "predictions": {"id": datasets.Value("string"), "prediction_text": datasets.Value("string")},
                "references": {"id": datasets.Value("string"),
                               "answers": datasets.Sequence({"text": datasets.Value("string"),
                                                             "answer_start": datasets.Value("int32")})},
            }),
            codebase_urls=["https://rajpurkar.github.io/SQuAD-explorer/"],
            reference_urls=["https://aclanthology.org/D16-1264/"],
        )

    def _compute(self, predictions, references):
        gold = {ref["id"]: ref["answers"]["text"] for ref in references}
        if set(gold) != {pred["id"] for pred in predictions}:
            raise ValueError("predictions and references must cover the same question ids")
        return squad_scores([pred["prediction_text"] for pred in predictions],
                            [gold[pred["id"]] for pred in predictions])
