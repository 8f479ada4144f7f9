"""The local `evaluate` metrics give the reference libraries' numbers, offline."""
import numpy as np
import pytest
import sacrebleu
from rouge_score import rouge_scorer
from sklearn.metrics import accuracy_score, f1_score

from shared import metrics

PREDICTIONS = [
    "The cat sat on the mat and looked at the birds.",
    "Police arrested two men after the robbery on Friday.",
    "Stocks fell sharply as investors worried about rates.",
]
REFERENCES = [
    "A cat was sitting on the mat, watching birds.",
    "Two men were arrested by police following Friday's robbery.",
    "Shares dropped steeply on worries about interest rates.",
]
LABELS = [0, 1, 1, 0, 1, 0, 0, 1, 1, 1]
GUESSES = [0, 1, 0, 0, 1, 1, 0, 1, 0, 1]
ROUGE_TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


@pytest.fixture(scope="module")
def loaded():
    """Each metric loaded once: evaluate.load costs about a second."""
    return {name: metrics.load(name) for name in ["rouge", "accuracy", "f1", "sacrebleu", "squad"]}


def test_every_local_metric_is_listed():
    assert {"rouge", "accuracy", "f1", "precision", "recall", "sacrebleu", "squad"} <= set(metrics.available())


def test_unknown_metric_lists_the_known_ones():
    with pytest.raises(KeyError, match="rouge"):
        metrics.load("bleurt")


@pytest.mark.parametrize("use_stemmer", [False, True])
def test_rouge_is_the_mean_rouge_score_f_measure(loaded, use_stemmer):
    result = loaded["rouge"].compute(predictions=PREDICTIONS, references=REFERENCES, use_stemmer=use_stemmer)
    scorer = rouge_scorer.RougeScorer(ROUGE_TYPES, use_stemmer=use_stemmer)
    scores = [scorer.score(ref, pred) for pred, ref in zip(PREDICTIONS, REFERENCES)]
    assert set(result) == set(ROUGE_TYPES)
    for key in ROUGE_TYPES:
        assert result[key] == pytest.approx(np.mean([s[key].fmeasure for s in scores]), abs=1e-12)
    assert 0.1 < result["rouge1"] < 0.9  # the sentences overlap, but not completely


def test_rouge_per_example_and_multiple_references(loaded):
    references = [[ref, pred] for pred, ref in zip(PREDICTIONS, REFERENCES)]  # 2nd ref = the prediction
    result = loaded["rouge"].compute(predictions=PREDICTIONS, references=references,
                                     rouge_types=["rouge1"], use_aggregator=False)
    assert result == {"rouge1": [1.0, 1.0, 1.0]}  # the best reference counts


def test_accuracy_matches_sklearn(loaded):
    result = loaded["accuracy"].compute(predictions=GUESSES, references=LABELS)
    assert result == {"accuracy": pytest.approx(accuracy_score(LABELS, GUESSES))}
    assert result["accuracy"] == pytest.approx(0.7)


@pytest.mark.parametrize("average", ["binary", "macro", "micro", "weighted"])
def test_f1_matches_sklearn(loaded, average):
    result = loaded["f1"].compute(predictions=GUESSES, references=LABELS, average=average)
    assert result["f1"] == pytest.approx(f1_score(LABELS, GUESSES, average=average))


def test_f1_per_class_for_three_classes(loaded):
    labels, guesses = [0, 1, 2, 2, 1, 0], [0, 2, 2, 2, 1, 1]
    result = loaded["f1"].compute(predictions=guesses, references=labels, average=None)
    assert result["f1"] == pytest.approx(list(f1_score(labels, guesses, average=None)))


def test_sacrebleu_matches_corpus_bleu(loaded):
    result = loaded["sacrebleu"].compute(predictions=PREDICTIONS, references=[[r] for r in REFERENCES])
    expected = sacrebleu.corpus_bleu(PREDICTIONS, [REFERENCES])
    assert result["score"] == pytest.approx(expected.score)
    assert result["counts"] == expected.counts and result["ref_len"] == expected.ref_len


def test_squad_takes_the_hub_metric_inputs_and_matches_shared_qa(loaded):
    answers = {"q1": ["Denver Broncos"], "q2": ["Lyon", "Paris"], "q3": ["Panthers"]}
    guesses = {"q1": "the Denver Broncos", "q2": "in Paris, France", "q3": "Carolina"}
    references = [{"id": i, "answers": {"text": a, "answer_start": [0] * len(a)}} for i, a in answers.items()]
    predictions = [{"id": i, "prediction_text": guesses[i]} for i in ["q3", "q1", "q2"]]  # matched by id
    result = loaded["squad"].compute(predictions=predictions, references=references)
    assert result == {"exact_match": pytest.approx(100 / 3), "f1": pytest.approx(100 * (1 + 0.5 + 0) / 3)}


@pytest.mark.parametrize("name", ["precision", "recall"])
@pytest.mark.parametrize("average", ["binary", "macro", "micro", "weighted", None])
def test_precision_and_recall_match_sklearn(name, average):
    from sklearn.metrics import precision_score, recall_score

    reference = {"precision": precision_score, "recall": recall_score}[name]
    labels, guesses = [0, 1, 2, 2, 1, 0, 2, 2], [0, 2, 2, 2, 1, 1, 0, 2]
    if average == "binary":
        labels, guesses = LABELS, GUESSES
    result = metrics.load(name).compute(predictions=guesses, references=labels, average=average)
    expected = reference(labels, guesses, average=average)
    assert result[name] == pytest.approx(expected.tolist() if average is None else expected)


def test_micro_precision_recall_and_f1_equal_accuracy_for_single_label_classes():
    labels, guesses = [0, 1, 2, 2, 1, 0, 2, 2], [0, 2, 2, 2, 1, 1, 0, 2]
    accuracy = metrics.load("accuracy").compute(predictions=guesses, references=labels)["accuracy"]
    for name in ["precision", "recall", "f1"]:
        assert metrics.load(name).compute(predictions=guesses, references=labels, average="micro")[name] == pytest.approx(accuracy)
