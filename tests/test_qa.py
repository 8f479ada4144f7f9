"""shared.text.qa: SQuAD answer scoring on examples worked out by hand from the SQuAD v1.1 rules, and\nextractive span decoding with a stand-in model whose best span is known."""
from types import SimpleNamespace

import pytest
import torch

from shared.text.qa import (
    best_span,
    exact_match,
    extract_answers,
    normalize_answer,
    short_answer,
    squad_scores,
    token_f1,
)


@pytest.mark.parametrize("text, normalized", [
    ("The Denver Broncos", "denver broncos"),         # lowercase, article dropped
    ("  an apple,  a DAY! ", "apple day"),            # punctuation, articles, extra spaces
    ("theater of the absurd", "theater of absurd"),   # articles only as whole words
    ("1,541 communes", "1541 communes"),              # ASCII punctuation inside numbers too
    ("384–322 BC", "384–322 bc"),                     # non-ASCII dashes are kept, as in SQuAD
    ("\"amp\"", "amp"),
])
def test_normalize_answer(text, normalized):
    assert normalize_answer(text) == normalized


def test_exact_match_takes_any_gold_answer():
    assert exact_match("the Denver Broncos.", ["Broncos", "Denver Broncos"]) == 1.0
    assert exact_match("Denver", ["Denver Broncos"]) == 0.0


@pytest.mark.parametrize("prediction, answers, f1", [
    ("Denver Broncos won", ["Denver Broncos"], 0.8),          # P = 2/3, R = 1
    ("Denver", ["Denver Broncos"], 2 / 3),                    # P = 1, R = 1/2
    ("in Paris, France", ["Lyon", "Paris"], 0.5),             # best gold answer: P = 1/3, R = 1
    ("cat cat", ["the cat"], 2 / 3),                          # shared tokens counted with multiplicity
    ("Carolina Panthers", ["Denver Broncos"], 0.0),
    ("", ["Paris"], 0.0),                                     # an empty answer scores nothing
    ("The", ["the"], 1.0),                                    # both normalise to empty
])
def test_token_f1(prediction, answers, f1):
    assert token_f1(prediction, answers) == pytest.approx(f1)


def test_squad_scores_are_means_in_percent():
    scores = squad_scores(["Denver Broncos", "Denver Broncos won", "Carolina"],
                          [["Denver Broncos"], ["Denver Broncos"], ["Panthers"]])
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 0.8 + 0) / 3)


def test_squad_scores_needs_one_prediction_per_question():
    with pytest.raises(ValueError):
        squad_scores(["a"], [["a"], ["b"]])


@pytest.mark.parametrize("reply, answer", [
    ("The answer is: Michael Collins.", "Michael Collins"),
    ("The correct answer is: July 21, 1969.", "July 21, 1969"),
    ("The answer to this question is: 12 years\nBecause ...", "12 years"),
    ('"Animal Farm: A Fairy Story."', "Animal Farm: A Fairy Story"),
    ("The official language of Andorra is Catalan.", "The official language of Andorra is Catalan"),  # kept
    ("", ""),
])
def test_short_answer(reply, answer):
    assert short_answer(reply) == answer


def test_best_span_respects_order_length_and_context():
    start = torch.tensor([9.0, 5.0, 1.0, 0.0])   # token 0 scores highest but is not context
    end = torch.tensor([9.0, 0.0, 4.0, 6.0])
    context = torch.tensor([False, True, True, True])
    assert best_span(start, end, context, max_tokens=2) == (1, 2)   # 5 + 4; (1, 3) is 3 tokens long
    assert best_span(start, end, context, max_tokens=3) == (1, 3)   # 5 + 6


class PointAtTokens(torch.nn.Module):
    """A stand-in QA model whose start and end logits peak at given token ids."""
    def __init__(self, start_id, end_id):
        super().__init__()
        self.start_id, self.end_id = start_id, end_id
        self.device = torch.device("cpu")

    def forward(self, input_ids, **_):
        return SimpleNamespace(start_logits=(input_ids == self.start_id).float(),
                               end_logits=(input_ids == self.end_id).float())


@pytest.fixture(scope="module")
def bert_tokenizer():
    from transformers import AutoTokenizer

    from shared.assets import require
    return AutoTokenizer.from_pretrained(require("minilm"))  # all-MiniLM-L6-v2's WordPiece tokenizer


def test_extract_answers_cuts_the_span_out_of_the_context(bert_tokenizer):
    ids = bert_tokenizer.convert_tokens_to_ids
    questions = ["Where is Paris?", "What is Paris the capital of?"]
    contexts = ["Paris is the capital of France.", "In 1900, Paris hosted the Olympic Games."]
    # "paris" is in both the question and the context: only the context's copy may be chosen,
    # and the answer keeps the context's spelling ("Paris", not the lowercased token)
    assert extract_answers(PointAtTokens(ids("paris"), ids("paris")), bert_tokenizer, questions, contexts) == [
        "Paris", "Paris"]
    assert extract_answers(PointAtTokens(ids("capital"), ids("france")), bert_tokenizer, questions[:1],
                           contexts[:1]) == ["capital of France"]
