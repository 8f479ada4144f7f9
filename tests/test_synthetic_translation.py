"""shared.text.synthetic_translation: number words, date wordings, the generated pairs, the vocabulary."""
import datetime
import random

import pytest

from shared.text.synthetic_translation import (
    MONTHS,
    WordVocab,
    cardinal,
    date_to_words,
    ordinal,
    tokenize,
    translation_pairs,
    year_words,
)


@pytest.mark.parametrize("n, words", [(7, "seven"), (13, "thirteen"), (20, "twenty"), (42, "forty-two"),
                                      (99, "ninety-nine")])
def test_cardinal(n, words):
    assert cardinal(n) == words


@pytest.mark.parametrize("n, words", [(1, "first"), (2, "second"), (3, "third"), (5, "fifth"),
                                      (8, "eighth"), (12, "twelfth"), (20, "twentieth"),
                                      (23, "twenty-third"), (30, "thirtieth"), (31, "thirty-first")])
def test_ordinal(n, words):
    assert ordinal(n) == words


@pytest.mark.parametrize("year, choices", [
    (1900, {"nineteen hundred"}), (1905, {"nineteen oh five"}), (1998, {"nineteen ninety-eight"}),
    (2000, {"two thousand"}), (2005, {"two thousand and five", "two thousand five"}),
    (2012, {"twenty twelve", "two thousand and twelve", "two thousand twelve"}),
])
def test_year_words(year, choices):
    rng = random.Random(0)
    seen = {year_words(year, rng) for _ in range(50)}
    assert seen == choices


def test_date_wordings():
    date, rng = datetime.date(1998, 3, 23), random.Random(0)
    assert date_to_words(date, rng, form=0) == "the twenty-third of march nineteen ninety-eight"
    assert date_to_words(date, rng, form=2) == "twenty-three march nineteen ninety-eight"
    assert date_to_words(date, rng, form=3) == "march twenty-third , nineteen ninety-eight"


def test_pairs_are_real_dates_disjoint_and_reproducible():
    pairs = translation_pairs(500, 100, seed=1)
    assert translation_pairs(500, 100, seed=1) == pairs != translation_pairs(500, 100, seed=2)
    train_dates = {row["target"] for row in pairs["train"]}
    assert len(pairs["train"]) == len(train_dates) == 500 and len(pairs["test"]) == 100
    assert train_dates.isdisjoint(row["target"] for row in pairs["test"])
    for row in pairs["train"]:
        date = datetime.date.fromisoformat(row["target"])            # a valid calendar date
        assert MONTHS[date.month - 1] in row["source"].split()


def test_every_month_and_wording_occurs():
    sources = [row["source"] for row in translation_pairs(2000, 0)["train"]]
    assert all(any(m in s.split() for s in sources) for m in MONTHS)
    assert any(s.startswith("the ") for s in sources) and any(s.split()[0] in MONTHS for s in sources)


def test_tokenize_splits_digits_and_punctuation():
    assert tokenize("1998-03-23") == ["1", "9", "9", "8", "-", "0", "3", "-", "2", "3"]
    assert tokenize("The twenty-third, ok") == ["the", "twenty", "-", "third", ",", "ok"]


def test_vocab_round_trip_and_unknown_words():
    vocab = WordVocab(["a man rides a horse", "a dog"], min_count=1)
    ids = vocab.encode("a dog rides a cat")
    assert ids[0] == WordVocab.BOS and ids[-1] == WordVocab.EOS
    assert WordVocab.UNK in ids
    assert vocab.decode(vocab.encode("a horse")) == "a horse"
    assert vocab.decode(ids[1:3] + [WordVocab.EOS, 5]) == "a dog"     # stops at <eos>
    assert len(WordVocab(["a man rides a horse", "a dog"], min_count=2)) == 4 + 1  # only "a"


def test_registered_as_the_tiny_translation_dataset():
    from shared.data import load_dataset

    dataset = load_dataset("translation", profile="tiny")
    assert {split: len(ds) for split, ds in dataset.items()} == {"train": 20_000, "test": 1_000}
    assert dataset["train"][0] == translation_pairs(20_000, 1_000, seed=0)["train"][0]
    assert set(dataset["test"].column_names) == {"source", "target"}
