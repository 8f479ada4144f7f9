"""The evaluation sets written for the project (data/qa_eval.jsonl, data/translation_en_de.jsonl):
sizes, fixed ids, extractive answers, and contexts that really come from the Wikipedia sample."""
import re

import pytest

from shared import data


@pytest.fixture(scope="module")
def qa():
    return data.load_dataset("qa", profile="tiny")["test"]


@pytest.fixture(scope="module")
def pairs():
    return data.load_dataset("translation_en_de", profile="tiny")["test"]


def letters_and_digits(text):
    return re.sub(r"\W+", "", text)


def test_qa_size_and_ids(qa):
    assert len(qa) == 36
    assert qa["id"] == [f"qa-{i:03d}" for i in range(1, 37)]
    assert len(set(qa["context"])) == 12  # 12 paragraphs, 3 questions each
    assert len(set(qa["question"])) == 36


def test_qa_answers_are_spans_of_the_context(qa):
    for row in qa:
        assert row["answers"], row["id"]
        for answer in row["answers"]:
            assert answer in row["context"], (row["id"], answer)


def test_qa_contexts_are_sentences_of_the_wikipedia_sample(qa):
    """Each context sentence occurs in its article (up to whitespace, punctuation and the empty
    brackets that markup removal left behind, which the set drops)."""
    articles = {row["title"]: letters_and_digits(row["text"])
                for row in data.load_dataset("wikipedia", profile="tiny")["train"]}
    for row in qa:
        for sentence in re.split(r"(?<=\.) (?=[A-Z])", row["context"]):
            assert letters_and_digits(sentence) in articles[row["title"]], (row["id"], sentence)


def test_translation_pairs(pairs):
    assert len(pairs) == 36
    assert pairs["id"] == [f"en-de-{i:03d}" for i in range(1, 37)]
    assert len(set(pairs["source"])) == 36
    for source, target in zip(pairs["source"], pairs["target"]):
        assert source.isascii() and source != target
        assert source[-1] == target[-1]  # same final punctuation: one sentence each


@pytest.mark.parametrize("name", ["qa", "translation_en_de"])
def test_full_profile_fails_fast_without_the_hub(monkeypatch, name):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConnectionError, match="JOURNEY_PROFILE=tiny"):
        data.load_dataset(name, profile="full")
