"""The `summarization` dataset of the tiny profile: a news article's lead sentence -> its headline,
split by publication date (module 4, notebook 03)."""
import pytest

from shared import data
from shared.data.tasks import (
    HEADLINE_TEST_FROM,
    HEADLINE_VALIDATION_FROM,
    headline_pair,
)


@pytest.fixture(scope="module")
def pairs():
    return data.load_dataset("summarization", profile="tiny")


def test_sizes_and_columns(pairs):
    sizes = {split: len(ds) for split, ds in pairs.items()}
    assert sizes["train"] > 1500 and sizes["validation"] > 200 and sizes["test"] > 200
    assert all(ds.column_names == ["document", "summary", "date"] for ds in pairs.values())


def test_split_by_date(pairs):
    assert max(pairs["train"]["date"]) < HEADLINE_VALIDATION_FROM <= min(pairs["validation"]["date"])
    assert max(pairs["validation"]["date"]) < HEADLINE_TEST_FROM <= min(pairs["test"]["date"])


def test_every_pair_is_a_lead_and_its_headline(pairs):
    import nltk

    articles = {row["title"]: row["text"] for row in data.load_dataset("news_articles")["train"]}
    for row in pairs["test"]:
        assert nltk.sent_tokenize(articles[row["summary"]])[0] == row["document"]  # the lead sentence
        assert 8 <= len(row["document"].split()) <= 60


def test_pairs_without_a_shared_content_word_are_dropped():
    text = "Test your knowledge of the past twelve months with our questions and answers today. More."
    assert headline_pair("Quiz: how well do you know 2016?", text) is None
    lead = "Nicole Kidman has finally revealed why she appeared to be clapping like a seal at the Oscars."
    assert headline_pair("Kidman explains her Oscars 'seal hands' clapping", lead + " She said more.") == {
        "document": lead, "summary": "Kidman explains her Oscars 'seal hands' clapping"}
    assert headline_pair("Kidman speaks", "Too short a lead. It goes on.") is None


def test_test_articles_are_not_in_the_t5_pretraining_text(pairs):
    """The tiny T5 pretrains on text from the training period only: test leads are new to it."""
    from shared.train.tiny_t5 import corpus_texts

    pretraining = "\n".join(corpus_texts()[0])
    assert not any(row["document"] in pretraining for row in pairs["test"])
    assert any(row["document"] in pretraining for row in pairs["train"].select(range(20)))  # the check can fail
