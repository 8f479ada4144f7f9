"""The `summarization` dataset of the tiny profile: a news article without its lead sentence ->
the lead (module 4, notebook 03)."""
import pytest

from shared import data
from shared.data.tasks import _lead_and_rest


@pytest.fixture(scope="module")
def pairs():
    return data.load_dataset("summarization", profile="tiny")


def test_sizes(pairs):
    # 300 training articles, 48 of the 50 test articles (two have a single sentence)
    assert {split: len(ds) for split, ds in pairs.items()} == {"train": 300, "test": 48}


def test_lead_and_rest_rebuild_the_article(pairs):
    news = data.load_dataset("news", profile="tiny")["train"]["text"]
    for article, row in zip(news, pairs["train"]):  # equal up to whitespace (sentences are re-joined by spaces)
        assert "".join(article.split()) == "".join((row["summary"] + row["document"]).split())


def test_summary_is_one_sentence_and_not_in_the_document(pairs):
    import nltk

    for row in pairs["test"]:
        assert len(nltk.sent_tokenize(row["summary"])) == 1
        assert row["summary"] not in row["document"]


def test_articles_with_one_sentence_are_dropped():
    assert _lead_and_rest("Only one sentence here.") is None
    assert _lead_and_rest("First one. Second one.") == {"document": "Second one.", "summary": "First one."}


def test_test_articles_are_not_in_the_t5_pretraining_text(pairs):
    """The tiny T5 pretrains on wikipedia + news/train; the test leads must be new to it."""
    train_news = "\n".join(data.load_dataset("news", profile="tiny")["train"]["text"])
    assert not any(row["summary"] in train_news for row in pairs["test"])
