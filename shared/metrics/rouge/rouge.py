"""ROUGE F-measures (Lin 2004) through Google's rouge_score package, as the hub `rouge` metric."""
import datasets
import evaluate
import numpy as np
from rouge_score import rouge_scorer

DESCRIPTION = """
ROUGE counts the n-grams (rouge1, rouge2) or longest common subsequence (rougeL; rougeLsum
splits the text into sentences at newlines) that a prediction shares with its reference(s),
and reports the F-measure of that overlap.
"""

CITATION = """
@inproceedings{lin-2004-rouge,
  title = {{ROUGE}: A Package for Automatic Evaluation of Summaries},
  author = {Lin, Chin-Yew},
  booktitle = {Text Summarization Branches Out},
  year = {2004},
  pages = {74--81},
}
"""

INPUTS = """
Args:
    predictions: list of strings.
    references: list of strings, or a list of lists of strings (several references each;
        the best-scoring reference counts).
    rouge_types: subset of ["rouge1", "rouge2", "rougeL", "rougeLsum"] (default: all four).
    use_aggregator: True (default) returns the mean F-measure over examples; False a list.
    use_stemmer: Porter-stem words before matching (default False).
    tokenizer: an object with `tokenize(text) -> list[str]` (default: rouge_score's).
Returns:
    {rouge_type: F-measure} (floats in [0, 1], or lists when use_aggregator=False).
    The hub metric reports the bootstrap median of the mean; this one the mean itself, so
    the result does not depend on a random resample.
"""

ROUGE_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


class Rouge(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=DESCRIPTION,
            citation=CITATION,
            inputs_description=INPUTS,
            features=[
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Sequence(datasets.Value("string"))}),
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Value("string")}),
            ],
            codebase_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
            reference_urls=["https://aclanthology.org/W04-1013/"],
        )

    def _compute(self, predictions, references, rouge_types=None, use_aggregator=True,
                 use_stemmer=False, tokenizer=None):
        rouge_types = rouge_types or ROUGE_TYPES
        scorer = rouge_scorer.RougeScorer(rouge_types, use_stemmer=use_stemmer, tokenizer=tokenizer)
        scores = []  # one {rouge_type: Score(precision, recall, fmeasure)} per example
        for prediction, reference in zip(predictions, references):
            if isinstance(reference, str):
                scores.append(scorer.score(reference, prediction))
            else:
                scores.append(scorer.score_multi(reference, prediction))
        per_example = {key: [score[key].fmeasure for score in scores] for key in rouge_types}
        if not use_aggregator:
            return per_example
        return {key: float(np.mean(values)) for key, values in per_example.items()}
