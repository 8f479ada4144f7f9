"""Sentiment analysis without training data: three lexicons behind one interface, the phenomenon
slices that error analysis counts, and a paired bootstrap for intervals.

    scorer = LEXICONS["vader"]()          # a callable: text -> polarity score (> 0 leans positive)
    scores = score_texts(scorer, texts)   # (N,) float array
    slices = phenomenon_slices(texts)     # {"negation": (N,) bool, "contrast": ..., ...}

The lexicons are the published ones, used as their packages ship them:
- VADER (Hutto & Gilbert, 2014): 7,500 rated words and emoticons plus rules for negation,
  "but", intensifiers, capitals and "!"; `compound` is the normalised sum in [-1, 1].
- TextBlob's pattern analyser (De Smedt & Daelemans, 2012): adjectives rated from -1 to +1,
  averaged, with negation and intensifier rules; `polarity` in [-1, 1].
- AFINN (Nielsen, 2011): 2,477 words rated -5..+5, summed, no rules at all.
"""
import re

import numpy as np

from ..assets import register_derived


def vader_scorer():
    """text -> VADER compound score in [-1, 1]."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return lambda text: analyzer.polarity_scores(text)["compound"]


def textblob_scorer():
    """text -> TextBlob (pattern) polarity in [-1, 1]."""
    from textblob import TextBlob

    return lambda text: TextBlob(text).sentiment.polarity


def afinn_scorer():
    """text -> sum of the AFINN valences of its words (-5..+5 each), divided by the number of words,
    so that long and short texts share one scale (the sign, and so a threshold at 0, is unchanged)."""
    from afinn import Afinn

    afinn = Afinn(language="en")
    return lambda text: afinn.score(text) / max(1, len(text.split()))


LEXICONS = {"VADER": vader_scorer, "TextBlob": textblob_scorer, "AFINN": afinn_scorer}


def score_texts(scorer, texts) -> np.ndarray:
    """(N,) scores of `scorer` over `texts`."""
    return np.array([scorer(text) for text in texts], dtype=float)


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The cut t (predict positive when score > t) with the highest accuracy on (scores, labels):
    a lexicon's single free parameter, chosen on labelled validation data. Candidates are the
    midpoints between consecutive distinct scores (and 0); ties go to the cut closest to 0."""
    values = np.unique(scores)
    candidates = np.concatenate([[0.0], (values[:-1] + values[1:]) / 2])
    accuracy = np.array([np.mean((scores > t) == labels) for t in candidates])
    best = np.flatnonzero(accuracy == accuracy.max())
    return float(candidates[best[np.argmin(np.abs(candidates[best]))]])


# --- phenomenon slices: the linguistic cases that trip word-counting methods ---------------------
NEGATION = re.compile(r"\b(?:not|no|never|nothing|nobody|none|neither|nor|cannot|without)\b|n't\b", re.I)
CONTRAST = re.compile(r"\b(?:but|however|although|though|yet|nevertheless|whereas)\b", re.I)
INTENSIFIER = re.compile(r"\b(?:very|really|extremely|so|too|absolutely|totally|incredibly|utterly|"
                         r"completely|highly|truly|remarkably|thoroughly)\b", re.I)
# Sarcasm is not detectable by a pattern; these are the surface cues that often come with it:
# "yeah right", "oh great", "so-called", praise in scare quotes, "supposed to be", "what a ... !"
SARCASM_CUE = re.compile(r"\b(?:yeah,? right|oh,? (?:great|joy|wonderful|brilliant)|so-called|supposed to be|"
                         r"as if|big deal|thanks a lot)\b|[\"'](?:great|brilliant|masterpiece|funny|scary|"
                         r"good|best|classic|comedy|thriller|horror)[\"']|\bwhat an? \w+(?: \w+)?!", re.I)
SLICE_PATTERNS = {"negation": NEGATION, "contrast": CONTRAST, "intensifier": INTENSIFIER, "sarcasm cue": SARCASM_CUE}


def phenomenon_slices(texts, long_quantile: float | None = None) -> dict[str, np.ndarray]:
    """{slice name: (N,) bool} for each pattern in SLICE_PATTERNS, plus, with `long_quantile`,
    "long": texts with more words than that quantile of these texts' word counts."""
    texts = list(texts)
    slices = {name: np.array([bool(pattern.search(text)) for text in texts]) for name, pattern in SLICE_PATTERNS.items()}
    if long_quantile is not None:
        words = np.array([len(text.split()) for text in texts])
        slices["long"] = words > np.quantile(words, long_quantile)
    return slices


def bootstrap_interval(values: np.ndarray, n_resamples: int = 2_000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(values) over resampled rows; `values` may be
    (N,) (per-example correctness: an accuracy) or (N, 2) paired columns (mean of the difference)."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        values = values[:, 0] - values[:, 1]
    rows = np.random.default_rng(seed).integers(0, len(values), size=(n_resamples, len(values)))
    means = values[rows].mean(1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_f1_interval(predictions: np.ndarray, labels: np.ndarray, n_resamples: int = 2_000,
                          seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the positive-class F1 (resampling examples)."""
    predictions, labels = np.asarray(predictions).astype(bool), np.asarray(labels).astype(bool)
    rows = np.random.default_rng(seed).integers(0, len(labels), size=(n_resamples, len(labels)))
    p, y = predictions[rows], labels[rows]                          # (n_resamples, N)
    tp = (p & y).sum(1)
    f1 = 2 * tp / np.maximum(1, p.sum(1) + y.sum(1))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(f1, [tail, 100 - tail])
    return float(low), float(high)


# --- the review splits and the cached encoder embeddings of the tiny profile ----------------------
def review_splits(name: str, n_train: int, n_validation: int, n_test: int, seed: int = 0):
    """train / validation / test of a review dataset ("imdb" or "rotten_tomatoes"), HTML line
    breaks removed. Train and validation come from the dataset's training split (validation: the
    last `n_validation` of a seeded shuffle), test from its test split."""
    from datasets import DatasetDict

    from ..data import load_dataset

    data = load_dataset(name)
    pool = data["train"].shuffle(seed=seed)
    if n_train + n_validation > len(pool):
        raise ValueError(f"n_train + n_validation = {n_train + n_validation} > {len(pool)} training texts")
    splits = DatasetDict(train=pool.select(range(n_train)),
                         validation=pool.select(range(len(pool) - n_validation, len(pool))),
                         test=data["test"].shuffle(seed=seed).select(range(min(n_test, len(data["test"])))))
    return splits.map(lambda batch: {"text": [t.replace("<br />", " ") for t in batch["text"]]}, batched=True)


def embed_texts(model, tokenizer, texts, max_length: int, precision: str = "bf16", batch_size: int = 32,
                truncation_side: str = "left"):
    """(N, H) float32 mean-pooled, unit-length sentence embeddings. By default long texts keep their
    end (truncation on the left: the verdict of a review is usually in its last sentences)."""
    import torch

    from ..infer.embed import sentence_embeddings

    tokenizer.truncation_side = truncation_side
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    device = next(model.parameters()).device
    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        embeddings = sentence_embeddings(model, tokenizer, list(texts), batch_size=batch_size, max_length=max_length)
    return embeddings.float().cpu().numpy()


# The tiny profile's splits and encoder settings: notebook 11/04 reads the embeddings of exactly
# these texts from the cache (embedding them takes a few CPU minutes) and re-embeds a few live.
EMBEDDING_RECIPE = {
    "datasets": {"imdb": {"n_train": 1000, "n_validation": 200, "n_test": 400},
                 "rotten_tomatoes": {"n_train": 2000, "n_validation": 300, "n_test": 600}},
    "seed": 0, "max_length": 256, "precision": "bf16", "encoder": "all-MiniLM-L6-v2 (tiny profile)", "version": 1,
}


def texts_digest(texts) -> str:
    """SHA-256 of the texts, to check that cached embeddings belong to the same texts."""
    import hashlib

    return hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()


def _build_embeddings(out) -> None:
    import json

    import torch

    from ..models import load_encoder

    torch.manual_seed(0)
    model, tokenizer = load_encoder()
    model.eval()
    arrays, digests = {}, {}
    for name, sizes in EMBEDDING_RECIPE["datasets"].items():
        splits = review_splits(name, **sizes, seed=EMBEDDING_RECIPE["seed"])
        for split, rows in splits.items():
            arrays[f"{name}/{split}"] = embed_texts(model, tokenizer, rows["text"], EMBEDDING_RECIPE["max_length"],
                                                    EMBEDDING_RECIPE["precision"])
            digests[f"{name}/{split}"] = texts_digest(rows["text"])
            print(f"{name}/{split}: {arrays[f'{name}/{split}'].shape}")
    np.savez_compressed(out / "embeddings.npz", **arrays)
    (out / "texts.json").write_text(json.dumps(digests, indent=1))


def _embedding_recipe() -> str:
    import json

    return json.dumps(EMBEDDING_RECIPE, sort_keys=True)


def cached_embeddings(path) -> dict[str, np.ndarray]:
    """({"imdb/train": (N, H) embeddings, ...}, {"imdb/train": texts digest, ...}) from the derived asset
    "review_embeddings"."""
    import json

    with np.load(path / "embeddings.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    return arrays, json.loads((path / "texts.json").read_text())


register_derived("review_embeddings", "all-MiniLM-L6-v2 embeddings of the IMDB and Rotten Tomatoes reviews of "
                 "notebook 11/04 (tiny profile)", _build_embeddings, _embedding_recipe)
