"""EDA-style augmentation (shared.text.augment): determinism, counts, stop words, WordNet lookups.

Most tests use a small hand-made thesaurus, so they run in milliseconds and state exactly what
may change; the last ones use the real offline WordNet.
"""
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.assets import AssetMissing
from shared.text.augment import augment, random_insertion, replaceable_positions, synonym_replacement, wordnet_synonyms

THESAURUS = {"good": ("fine", "decent"), "movie": ("film", "picture"), "plot": ("story",),
             "acting": ("performance",), "the": ("definite article",)}
STOP = {"the", "a", "was", "and", "not"}
SENTENCE = "the movie was not good and the plot was good".split()


def synonyms(word):
    return THESAURUS.get(word, ())


def sr(words, n, seed):
    return synonym_replacement(words, n, random.Random(seed), synonyms=synonyms, stop_words=STOP)


def ri(words, n, seed):
    return random_insertion(words, n, random.Random(seed), synonyms=synonyms, stop_words=STOP)


def changed_positions(before, after):
    return [i for i, (a, b) in enumerate(zip(before, after)) if a != b]


def is_subsequence(short, long):
    remaining = iter(long)
    return all(word in remaining for word in short)


def test_replaceable_positions_skip_stop_words_and_words_without_synonyms():
    assert replaceable_positions(SENTENCE, synonyms, STOP) == [1, 4, 7, 9]  # movie, good, plot, good


@pytest.mark.parametrize("operation", [sr, ri])
def test_same_seed_same_output_and_seeds_differ(operation):
    assert operation(SENTENCE, 2, seed=7) == operation(SENTENCE, 2, seed=7)
    outputs = {tuple(operation(SENTENCE, 2, seed)) for seed in range(20)}
    assert len(outputs) > 1


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4])
def test_synonym_replacement_changes_exactly_n_words_into_synonyms(n):
    out = sr(SENTENCE, n, seed=0)
    positions = changed_positions(SENTENCE, out)
    assert len(out) == len(SENTENCE) and len(positions) == n
    assert all(out[i] in synonyms(SENTENCE[i]) for i in positions)


def test_synonym_replacement_caps_n_at_the_number_of_candidates():
    out = sr(SENTENCE, 50, seed=0)
    assert changed_positions(SENTENCE, out) == [1, 4, 7, 9]


def test_stop_words_are_never_replaced_even_when_they_have_synonyms():
    for seed in range(30):
        out = sr(SENTENCE, 4, seed)
        assert [w for w, o in zip(SENTENCE, out) if w in STOP] == [o for w, o in zip(SENTENCE, out) if w in STOP]
        assert "definite article" not in ri(SENTENCE, 3, seed)


@pytest.mark.parametrize("n", [0, 1, 3, 6])
def test_random_insertion_adds_n_synonyms_and_keeps_the_original_order(n):
    out = ri(SENTENCE, n, seed=1)
    assert len(out) == len(SENTENCE) + n
    assert is_subsequence(SENTENCE, out)
    inserted = list(out)
    for word in SENTENCE:  # remove the original words, left to right; the rest were inserted
        inserted.remove(word)
    allowed = {s for w in SENTENCE if w not in STOP for s in synonyms(w)}
    assert len(inserted) == n and set(inserted) <= allowed


@pytest.mark.parametrize("operation", [sr, ri])
def test_sentences_without_candidates_are_returned_unchanged(operation):
    words = "the cat was not here".split()
    assert operation(words, 3, seed=0) == words
    assert operation([], 3, seed=0) == []


@pytest.mark.parametrize("operation", [sr, ri])
def test_the_input_list_is_not_modified(operation):
    words = list(SENTENCE)
    operation(words, 3, seed=0)
    assert words == SENTENCE


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(sorted(THESAURUS) + sorted(STOP) + ["cat", "very"]), max_size=25),
       st.integers(0, 10), st.integers(0, 2**32 - 1))
def test_properties_on_random_sentences(words, n, seed):
    candidates = len(replaceable_positions(words, synonyms, STOP))
    replaced = sr(words, n, seed)
    assert len(changed_positions(words, replaced)) == min(n, candidates)
    assert all(a == b for a, b in zip(words, replaced) if a in STOP)
    inserted = ri(words, n, seed)
    assert len(inserted) == len(words) + (n if candidates else 0)
    assert is_subsequence(words, inserted)


def test_augment_makes_n_copies_alternating_operations_deterministically():
    text = " ".join(SENTENCE)
    copies = augment(text, 4, random.Random(3), alpha=0.2, synonyms=synonyms, stop_words=STOP)
    assert copies == augment(text, 4, random.Random(3), alpha=0.2, synonyms=synonyms, stop_words=STOP)
    n = round(0.2 * len(SENTENCE))  # 2 words per operation
    lengths = [len(c.split()) for c in copies]
    assert lengths[0::2] == [len(SENTENCE)] * 2          # synonym replacement keeps the length
    assert lengths[1::2] == [len(SENTENCE) + n] * 2      # random insertion adds n words


def test_augment_changes_at_least_one_word_of_a_short_sentence():
    (copy,) = augment("good movie", 1, random.Random(0), alpha=0.1, synonyms=synonyms, stop_words=STOP)
    assert copy != "good movie"


@pytest.fixture(scope="module")
def wordnet():
    try:
        wordnet_synonyms("good")
    except AssetMissing as missing:
        pytest.skip(f"offline WordNet not installed: {missing}")
    return wordnet_synonyms


def test_wordnet_synonyms_are_clean_and_exclude_the_word(wordnet):
    good = wordnet("good")
    assert {"beneficial", "estimable", "commodity"} <= set(good)
    assert "good" not in good and len(good) == len(set(good))
    assert all(s == s.lower() and s.replace(" ", "").isalpha() for s in good)
    assert "motion picture" in wordnet("movie")  # multi-word lemma, underscore replaced
    assert wordnet("qwzxv") == ()


def test_real_wordnet_replacement_on_a_review_sentence(wordnet):
    words = "a gripping and beautifully acted drama that never loses its nerve".split()
    out = synonym_replacement(words, 3, random.Random(0))
    positions = changed_positions(words, out)
    assert len(positions) == 3
    assert all(out[i] in wordnet(words[i]) for i in positions)
    assert all(words[i] not in {"a", "and", "that", "never", "its"} for i in positions)
