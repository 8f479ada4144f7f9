"""Word n-gram language models: maximum likelihood, add-k (Lidstone) and interpolated Kneser-Ney.

    lm = NGramLM(3, smoothing="kneser_ney").fit(train_sentences)  # sentences: lists of tokens
    lm.perplexity(test_sentences)
    lm.with_smoothing("add_k", k=0.01).perplexity(test_sentences)  # same counts, other estimator
    lm.generate(max_words=20, temperature=0.8, seed=0)

Conventions (Jurafsky & Martin, *Speech and Language Processing*, 3rd ed., ch. 3):
- every sentence is padded with n-1 `<s>` on the left and one `</s>` on the right; `</s>` is
  predicted like a word (so the model knows where sentences end), `<s>` never is;
- the vocabulary V is fixed by `fit`: training words seen at least `min_count` times, plus `</s>`
  and `<unk>`; every other word (in training or later) is read as `<unk>`;
- for every context h, the sum over w in V of P(w | h) is 1 (for MLE: every context seen in training);
- `<unk>` gets its probability from the training words rarer than `min_count`: with none (e.g.
  `min_count=1`), MLE and Kneser-Ney give an unknown word probability 0, as nltk.lm does.

Kneser-Ney follows Chen & Goodman (1998) and `nltk.lm.KneserNeyInterpolated`: the highest order
discounts raw counts, each lower order discounts *continuation* counts (how many distinct words
precede an n-gram), and the unigram level is the continuation distribution itself.

Implementation: words are integer ids, a context (w1..wj) is one int64 code w1*B^(j-1) + ... + wj
with B = |V| + 1, and an m-gram is keyed by (rank of its context, last word); counting is
`np.unique` and look-up is `np.searchsorted`. Every probability (one word, a whole test set, a
full next-word distribution) goes through the same vectorised `_probs`.
"""
import copy
import math
import re
from collections import Counter
from dataclasses import dataclass
from itertools import chain, repeat

import numpy as np

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
SMOOTHINGS = ("mle", "add_k", "kneser_ney")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")                # split after . ! ? and a space
_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|[.,;:!?]")  # words (o'er, reliev'd) and punctuation


def sentences_of(text):
    """Lower-cased sentences of word and punctuation tokens; paragraphs are split by blank lines.

    A deliberately simple, fast tokenizer: a sentence ends after . ! or ?, a word is a run of
    letters with inner apostrophes (' or ’), and . , ; : ! ? are tokens of their own.
    """
    return [tokens
            for paragraph in text.lower().split("\n\n")
            for sentence in _SENTENCE_END.split(paragraph)
            if (tokens := _TOKEN.findall(sentence))]


def padded(sentence, n):
    """['a', 'b'] -> ['<s>'] * (n - 1) + ['a', 'b', '</s>']."""
    return [BOS] * (n - 1) + list(sentence) + [EOS]


@dataclass
class OrderCounts:
    """The distinct m-grams of one order m and what follows each (m-1)-word context h."""
    grams: np.ndarray           # (G, m) word ids, one row per distinct m-gram, sorted by key
    keys: np.ndarray            # (G,) int64, sorted: rank of the m-gram's context * B + its last word
    counts: np.ndarray          # (G,) raw counts (highest order) or continuation counts (lower orders)
    context_codes: np.ndarray   # (C,) int64, sorted codes of the distinct contexts h
    context_totals: np.ndarray  # (C,) sum over w of count(h, w)
    context_types: np.ndarray   # (C,) number of distinct w with count(h, w) > 0


class NGramLM:
    """An n-gram language model over words; see the module docstring for the conventions."""

    def __init__(self, n, smoothing="kneser_ney", k=1.0, discount=0.75, min_count=2):
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.n = n                  # order: 1 = unigram, 2 = bigram, ...
        self.smoothing = _checked(smoothing)  # read at query time, see `with_smoothing`
        self.k = k                  # add-k pseudo-count
        self.discount = discount    # Kneser-Ney absolute discount d, 0 < d < 1
        self.min_count = min_count  # rarer training words become <unk>

    # --- training ---------------------------------------------------------------------------

    def fit(self, sentences):
        """Count the n-grams of `sentences` (an iterable of token lists). Returns self."""
        sentences = list(sentences)
        if not sentences:
            raise ValueError("fit() needs at least one sentence")
        word_counts = Counter(chain.from_iterable(sentences))
        kept = sorted(w for w, c in word_counts.items() if c >= self.min_count and w not in (BOS, EOS, UNK))
        self.vocab = kept + [EOS, UNK]                         # V: what the model can predict
        self.index = {w: i for i, w in enumerate(self.vocab)}  # word -> id
        self._ids_with_bos = {**self.index, BOS: len(self.vocab)}  # <s> gets id |V|
        self.base = len(self.vocab) + 1                        # B in the context codes
        if self.base ** (self.n - 1) >= 2 ** 63:
            raise ValueError(f"|V|={len(self.vocab)} is too large for int64 {self.n - 1}-word context codes: "
                             "raise min_count")
        self.orders = {self.n: self._count(self._windows(sentences))}  # order m -> OrderCounts
        for m in range(self.n - 1, 0, -1):
            # continuation count of an m-gram g = number of distinct (m+1)-grams (v, g) = how often
            # g occurs among the (m+1)-gram types with their first word dropped
            self.orders[m] = self._count(self.orders[m + 1].grams[:, 1:])
        unigrams = self.orders[1]  # raw counts if n == 1, continuation counts otherwise
        self.unigram = np.bincount(unigrams.grams[:, 0], unigrams.counts, minlength=self.base)[:-1]  # (|V|,)
        self.unigram /= self.unigram.sum()
        return self

    def _count(self, rows):
        """OrderCounts of the m-gram occurrences `rows` (N, m): distinct m-grams and how often each occurs."""
        context_codes, context_rank = np.unique(self._encode(rows[:, :-1]), return_inverse=True)
        keys, first, counts = np.unique(context_rank * self.base + rows[:, -1], return_index=True, return_counts=True)
        ranks = keys // self.base  # sorted: each context's m-grams form one run
        starts = np.flatnonzero(np.diff(ranks, prepend=-1))  # (C,) where each run begins
        types = np.diff(starts, append=len(ranks))           # (C,) run lengths
        return OrderCounts(rows[first], keys, counts, context_codes, np.add.reduceat(counts, starts), types)

    def ids(self, tokens):
        """Token ids: out-of-vocabulary words -> <unk>, <s> -> |V| (a context symbol only)."""
        return list(map(self._ids_with_bos.get, tokens, repeat(self.index[UNK])))

    def _windows(self, sentences):
        """(N, n) ids: each predicted token (every word and each </s>) with its n-1 context ids."""
        flat = np.array(self.ids(chain.from_iterable(padded(s, self.n) for s in sentences)), dtype=np.int64)
        windows = np.lib.stride_tricks.sliding_window_view(flat, self.n)  # (len(flat) - n + 1, n)
        return windows[windows[:, -1] != len(self.vocab)]  # keep windows that end on a predicted token

    def _encode(self, contexts):
        """(N, j) ids -> (N,) int64 codes, w1*B^(j-1) + ... + wj (0 when j = 0)."""
        codes = np.zeros(len(contexts), dtype=np.int64)
        for column in np.asarray(contexts, dtype=np.int64).T:
            codes = codes * self.base + column
        return codes

    def with_smoothing(self, smoothing, **params):
        """A copy that shares the counts but uses another estimator, e.g. ("add_k", k=0.1)."""
        unknown = set(params) - {"k", "discount"}
        if unknown:
            raise TypeError(f"unknown parameters {sorted(unknown)}: use k= or discount=")
        other = copy.copy(self)
        other.smoothing = _checked(smoothing)
        other.__dict__.update(params)
        return other

    @property
    def vocab_size(self):
        return len(self.vocab)

    # --- probabilities ------------------------------------------------------------------------

    def prob(self, word, context=()):
        """P(word | context); only the last n-1 context tokens are used."""
        if word == BOS:
            return 0.0  # a context symbol, never predicted
        return float(self._probs(self._context_ids(context)[None, :], np.array(self.ids([word])))[0])

    def logprob(self, word, context=()):
        """Natural log of P(word | context); -inf when the probability is 0."""
        p = self.prob(word, context)
        return math.log(p) if p > 0 else -math.inf

    def distribution(self, context=()):
        """(|V|,) P(w | context) for every w in `self.vocab`: the same formulas as `_probs`, computed
        for one context from the words that follow it (fast enough to generate with)."""
        h = self._context_ids(context)
        if self.smoothing == "kneser_ney":
            p = self.unigram.copy()  # (|V|,)
            for m in range(2, self.n + 1):
                words, counts, total, types = self._followers(m, h)
                if total:  # unseen context: gamma = 1, p unchanged
                    p *= self.discount * types / total
                    p[words] += np.maximum(counts - self.discount, 0) / total
            return p
        words, counts, total, _ = self._followers(self.n, h)
        p = np.zeros(self.vocab_size)  # (|V|,)
        p[words] = counts
        if self.smoothing == "add_k":
            return (p + self.k) / (total + self.k * self.vocab_size)
        return p / total if total else p  # MLE

    def _context_ids(self, context):
        """(n-1,) ids of the last n-1 context tokens, left-padded with <s> when shorter."""
        context = list(context)[max(len(context) - self.n + 1, 0):] if self.n > 1 else []
        return np.array(self.ids([BOS] * (self.n - 1 - len(context)) + context), dtype=np.int64)

    def _probs(self, contexts, words):
        """(N,) P(words[i] | contexts[i]) for contexts (N, n-1) and word ids (N,)."""
        if self.smoothing == "kneser_ney":
            return self._kneser_ney(contexts, words)
        count, total, _ = self._lookup(self.n, contexts, words)
        if self.smoothing == "add_k":
            return (count + self.k) / (total + self.k * self.vocab_size)
        return np.divide(count, total, out=np.zeros(len(words)), where=total > 0)  # MLE; unseen context -> 0

    def _kneser_ney(self, contexts, words):
        p = self.unigram[words]  # (N,)
        for m in range(2, self.n + 1):  # interpolate upwards: P_m = alpha + gamma * P_(m-1)
            count, total, types = self._lookup(m, contexts, words)
            seen = total > 0  # an unseen context keeps the lower-order estimate (gamma = 1)
            safe_total = np.where(seen, total, 1)
            alpha = np.maximum(count - self.discount, 0) / safe_total
            gamma = self.discount * types / safe_total  # the probability mass the discount freed
            p = np.where(seen, alpha + gamma * p, p)
        return p

    def _lookup(self, m, contexts, words):
        """For order m: count(h, w), total(h) and types(h), where h = the last m-1 context ids."""
        order = self.orders[m]
        rank, seen = _find(order.context_codes, self._encode(contexts[:, contexts.shape[1] - m + 1:]))
        position, found = _find(order.keys, rank * self.base + words)
        count = np.where(seen & found, order.counts[position], 0)  # (N,)
        total = np.where(seen, order.context_totals[rank], 0)      # (N,)
        types = np.where(seen, order.context_types[rank], 0)       # (N,)
        return count, total, types

    def _followers(self, m, context):
        """For order m and one context (n-1 ids): the ids and counts of the words seen after its
        last m-1 ids, their total and how many there are (all zero for an unseen context)."""
        order = self.orders[m]
        rank, seen = _find(order.context_codes, self._encode(context[None, len(context) - m + 1:]))
        if not seen[0]:
            return np.zeros(0, dtype=np.int64), np.zeros(0), 0, 0
        start, stop = np.searchsorted(order.keys, [rank[0] * self.base, (rank[0] + 1) * self.base])
        words = order.keys[start:stop] % self.base  # this context's run of (rank * B + word) keys
        return words, order.counts[start:stop], order.context_totals[rank[0]], order.context_types[rank[0]]

    # --- evaluation and generation ------------------------------------------------------------

    def token_probs(self, sentences):
        """(N,) P(token | its n-1 predecessors) for every predicted token (each word and each </s>)."""
        windows = self._windows(sentences)  # (N, n)
        return self._probs(windows[:, :-1], windows[:, -1])

    def perplexity(self, sentences):
        """exp(mean negative log-likelihood per predicted token), `</s>` included; inf if any P = 0."""
        with np.errstate(divide="ignore"):
            return math.exp(-np.log(self.token_probs(sentences)).mean())

    def generate(self, max_words=30, temperature=1.0, seed=None, prefix=()):
        """Sample words until `</s>` or `max_words`; temperature 0 = always the most likely word.

        Temperature T rescales the distribution to p ** (1 / T), renormalised: T < 1 sharpens it
        towards the likeliest words, T > 1 flattens it towards uniform.
        """
        rng = np.random.default_rng(seed)
        words = list(prefix)
        while len(words) < max_words:
            p = self.distribution(words)  # (|V|,)
            choice = int(np.argmax(p)) if temperature == 0 else rng.choice(len(p), p=_sharpen(p, temperature))
            if self.vocab[choice] == EOS:
                break
            words.append(self.vocab[choice])
        return words


def _checked(smoothing):
    if smoothing not in SMOOTHINGS:
        raise ValueError(f"smoothing must be one of {SMOOTHINGS}, got {smoothing!r}")
    return smoothing


def _find(keys, queries):
    """(position, found): where each query sits in the sorted, non-empty array `keys`."""
    order = np.argsort(queries, kind="stable")  # sorted queries make searchsorted several times faster
    position = np.empty(len(queries), dtype=np.int64)
    position[order] = np.searchsorted(keys, queries[order])
    position = position.clip(max=len(keys) - 1)
    return position, keys[position] == queries


def _sharpen(p, temperature):
    """p ** (1 / T), renormalised (computed in log space so a small T does not underflow)."""
    with np.errstate(divide="ignore"):
        logits = np.log(p) / temperature
    weights = np.exp(logits - logits.max())
    return weights / weights.sum()
