"""Extractive summaries: lead-k, random-k and TextRank (Mihalcea & Tarau, 2004).

TextRank builds a graph whose nodes are the document's sentences and whose edge weights are their
word overlap, normalised by length so that long sentences do not win by size alone:

    similarity(S_i, S_j) = |words(S_i) & words(S_j)| / (log |S_i| + log |S_j|)

then ranks the nodes with weighted PageRank (damping d = 0.85): a sentence is central when it
shares words with many sentences that are themselves central. The summary is the k best
sentences, put back in document order.

    sentences = split_sentences(article)
    textrank_summary(sentences, k=2)          # the two most central sentences
    lead_summary(sentences, k=2)              # the first two: the news baseline
"""
import math
import re

import networkx as nx
import numpy as np

DAMPING = 0.85  # Mihalcea & Tarau (2004), as in PageRank (Brin & Page, 1998)


def split_sentences(text: str) -> list[str]:
    """Sentences of `text` with NLTK's Punkt splitter (the project's offline `punkt_tab`)."""
    import nltk

    from ..assets import require

    require("punkt_tab")
    return [s.strip() for s in nltk.sent_tokenize(text) if s.strip()]


def content_words(sentence: str) -> set[str]:
    """Lower-case words of a sentence, without English stop words (scikit-learn's list)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return {w for w in re.findall(r"[a-z0-9]+", sentence.lower()) if w not in ENGLISH_STOP_WORDS}


def overlap_similarity(a: set[str], b: set[str]) -> float:
    """Mihalcea & Tarau's similarity of two sentences given as word sets. Two one-word sentences have
    a zero denominator: they score 1 if they share their word, else 0."""
    common = len(a & b)
    if common == 0:
        return 0.0
    denominator = math.log(len(a)) + math.log(len(b))
    return common / denominator if denominator > 0 else 1.0


def sentence_graph(sentences: list[str]) -> nx.Graph:
    """Undirected graph: one node per sentence (its index), an edge weighted by `overlap_similarity`
    between every two sentences that share a content word."""
    words = [content_words(s) for s in sentences]
    graph = nx.Graph()
    graph.add_nodes_from(range(len(sentences)))
    for i in range(len(sentences)):
        for j in range(i + 1, len(sentences)):
            weight = overlap_similarity(words[i], words[j])
            if weight > 0:
                graph.add_edge(i, j, weight=weight)
    return graph


def pagerank_power(weights: np.ndarray, damping: float = DAMPING, tol: float = 1e-12, max_iter: int = 1000) -> np.ndarray:
    """Weighted PageRank by power iteration, written out (networkx.pagerank computes the same).

    weights: (n, n) symmetric, zero diagonal. A node with no edges ("dangling") spreads its score
    evenly over all nodes, as networkx does."""
    n = len(weights)
    out_weight = weights.sum(axis=1)                            # (n,) total edge weight of each node
    dangling = out_weight == 0
    transition = np.divide(weights, out_weight[:, None], out=np.zeros_like(weights, dtype=float),
                           where=~dangling[:, None])             # (n, n) row i: where i sends its score
    scores = np.full(n, 1.0 / n)                                 # (n,) start uniform
    for _ in range(max_iter):
        spread = scores @ transition + scores[dangling].sum() / n  # what each node receives
        new = (1 - damping) / n + damping * spread
        if np.abs(new - scores).sum() < tol:
            return new
        scores = new
    return scores


def textrank_scores(sentences: list[str], damping: float = DAMPING) -> list[float]:
    """PageRank of each sentence in the sentence graph (networkx), summing to 1."""
    if not sentences:
        raise ValueError("textrank_scores needs at least one sentence; got an empty document")
    ranks = nx.pagerank(sentence_graph(sentences), alpha=damping, weight="weight", tol=1e-10, max_iter=1000)
    return [ranks[i] for i in range(len(sentences))]


def _in_order(sentences: list[str], chosen) -> str:
    return " ".join(sentences[i] for i in sorted(chosen))


def textrank_summary(sentences: list[str], k: int) -> str:
    """The k highest-ranked sentences, in document order (ties: the earlier sentence)."""
    scores = textrank_scores(sentences)
    best = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))[:k]
    return _in_order(sentences, best)


def lead_summary(sentences: list[str], k: int) -> str:
    """The first k sentences: news puts the essentials first, so this is the baseline to beat."""
    return _in_order(sentences, range(min(k, len(sentences))))


def random_summary(sentences: list[str], k: int, rng: np.random.Generator) -> str:
    """k sentences drawn at random (without replacement), in document order: the floor."""
    return _in_order(sentences, rng.choice(len(sentences), size=min(k, len(sentences)), replace=False))
