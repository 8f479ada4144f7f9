"""EDA-style text augmentation: synonym replacement and random insertion (Wei & Zou, 2019).

    import random
    from shared.text.augment import random_insertion, synonym_replacement

    rng = random.Random(0)
    words = "a gripping and beautifully acted drama".split()
    synonym_replacement(words, n=2, rng=rng)  # two content words swapped for WordNet synonyms
    random_insertion(words, n=1, rng=rng)     # a synonym of a content word inserted somewhere

Every function takes a `random.Random` (same seed, same output), a `synonyms` lookup (WordNet by
default; tests pass a small dict) and a set of stop words, which are never replaced and never
used to pick an inserted synonym. Inputs are never modified; new lists are returned.
"""
import functools
import random
from collections.abc import Callable, Collection, Iterable

from ..assets import require

Synonyms = Callable[[str], tuple[str, ...]]  # word -> its synonyms (never the word itself)


@functools.cache
def english_stop_words() -> frozenset[str]:
    """NLTK's English stop-word list (the project's offline copy)."""
    require("stopwords")
    from nltk.corpus import stopwords

    return frozenset(stopwords.words("english"))


@functools.cache
def _wordnet():
    require("wordnet")  # checks the asset under a file lock: once per process, not per word
    from nltk.corpus import wordnet

    return wordnet


@functools.cache
def wordnet_synonyms(word: str) -> tuple[str, ...]:
    """Lower-case WordNet synonyms of `word` over all its senses, in WordNet's order.

    Multi-word lemmas keep their words ("trade_good" -> "trade good"); lemmas with characters
    other than letters and spaces are dropped, as in EDA.
    """
    lemmas = (lemma.name().replace("_", " ").lower()
              for synset in _wordnet().synsets(word) for lemma in synset.lemmas())
    clean = (lemma for lemma in lemmas if lemma != word and lemma.replace(" ", "").isalpha())
    return tuple(dict.fromkeys(clean))  # de-duplicated, order kept (a set's order varies by run)


def replaceable_positions(words: list[str], synonyms: Synonyms, stop_words: Collection[str]) -> list[int]:
    """Indices of the words that are not stop words and have at least one synonym."""
    return [i for i, word in enumerate(words) if word not in stop_words and synonyms(word)]


def synonym_replacement(words: list[str], n: int, rng: random.Random,
                        synonyms: Synonyms = wordnet_synonyms,
                        stop_words: Collection[str] | None = None) -> list[str]:
    """Replace `n` random content words (fewer if fewer qualify) by a random synonym each."""
    stop_words = english_stop_words() if stop_words is None else stop_words
    positions = replaceable_positions(words, synonyms, stop_words)
    out = list(words)
    for i in rng.sample(positions, min(n, len(positions))):
        out[i] = rng.choice(synonyms(words[i]))
    return out


def random_insertion(words: list[str], n: int, rng: random.Random,
                     synonyms: Synonyms = wordnet_synonyms,
                     stop_words: Collection[str] | None = None) -> list[str]:
    """Insert `n` words, each a random synonym of a random content word of the sentence, at a
    random position. A sentence without content words that have synonyms is returned unchanged."""
    stop_words = english_stop_words() if stop_words is None else stop_words
    positions = replaceable_positions(words, synonyms, stop_words)
    out = list(words)
    if not positions:
        return out
    for _ in range(n):
        source = words[rng.choice(positions)]
        out.insert(rng.randint(0, len(out)), rng.choice(synonyms(source)))
    return out


OPERATIONS = {"synonym_replacement": synonym_replacement, "random_insertion": random_insertion}


def augment(text: str, n_copies: int, rng: random.Random, alpha: float = 0.1,
            operations: Iterable[str] = tuple(OPERATIONS), **lookups) -> list[str]:
    """`n_copies` augmented versions of a whitespace-tokenized text.

    The operations take turns (copy 0 uses the first, copy 1 the second, ...); each changes
    n = max(1, round(alpha * number of words)) words, as in EDA. `lookups` may pass
    `synonyms=` and `stop_words=` on to the operations.
    """
    words = text.split()
    n = max(1, round(alpha * len(words)))
    chosen = [OPERATIONS[name] for name in operations]
    return [" ".join(chosen[k % len(chosen)](words, n, rng, **lookups)) for k in range(n_copies)]
