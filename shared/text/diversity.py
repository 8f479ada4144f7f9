"""How varied and how repetitive generated text is: distinct-n and the repetition rate.

    from shared.text.diversity import distinct_n, repetition_rate, words
    samples = [words(text) for text in generated_texts]      # list of token lists
    distinct_n(samples, 2)       # unique bigrams / all bigrams, pooled over the samples
    repetition_rate(samples, 3)  # share of trigrams that repeat one earlier in the same sample

distinct-n is Li et al. (2016), "A Diversity-Promoting Objective Function for Neural
Conversation Models". Both work on any token sequences (words, subword ids, characters).
"""
import re
from collections.abc import Sequence

_WORD = re.compile(r"\w+|[^\w\s]")  # a word, or one punctuation mark


def words(text: str) -> list[str]:
    """Lower-cased words and punctuation marks: 'The cat, the hat.' -> the cat , the hat ."""
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence, n: int) -> list[tuple]:
    """All n-grams of one sequence, in order: ngrams('abc', 2) -> [('a','b'), ('b','c')]."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(samples: Sequence[Sequence], n: int) -> float:
    """Unique n-grams / all n-grams, pooled over every sample (0 when there are none).

    1.0: no n-gram occurs twice anywhere; k identical samples score at most 1/k.
    """
    grams = [gram for sample in samples for gram in ngrams(sample, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repetition_rate(samples: Sequence[Sequence], n: int) -> float:
    """Share of n-grams that repeat an n-gram seen earlier in the *same* sample, over all samples.

    0.0: no sample repeats itself; a sample stuck in a loop approaches 1.0. Unlike distinct-n,
    identical samples do not count as repetition: this measures loops, not lack of variety.
    """
    repeats = total = 0
    for sample in samples:
        grams = ngrams(sample, n)
        repeats += len(grams) - len(set(grams))
        total += len(grams)
    return repeats / total if total else 0.0
