"""Prompt-injection defence in layers, for a chat server's user messages.

    normalize(text)          Unicode NFKC, zero-width/format characters removed, Cyrillic/Greek
                             look-alikes mapped to Latin, whitespace collapsed
    views(text)              the normalised text plus every base64 payload in it, decoded
    heuristic_hits(text)     names of the hand-written patterns that match any view
    keyword_baseline(text)   the naive filter to beat: a phrase list on the raw, lower-cased text
    injection_score(text)    0..1: 1 when a heuristic fires, else the classifier's probability
                             (MiniLM sentence embedding + logistic regression), max over the views
    is_prompt_injection(text)  injection_score(text) >= the threshold chosen on validation

The classifier is the derived asset "injection_classifier" (`journey assets` builds it): MiniLM
embeddings of the `prompt_injection` dataset's splits, a logistic regression fitted on train, its
C and threshold chosen on validation. Module 10, notebook 04 builds each layer step by step.
"""
import base64
import binascii
import json
import re
import unicodedata
from functools import cache
from pathlib import Path

import numpy as np

from ..assets import register_derived, require

# Look-alike letters (a subset of Unicode's confusables.txt: the Cyrillic and Greek letters that
# render like ASCII ones) -> the Latin letter they imitate. NFKC already folds full-width forms,
# ligatures and mathematical alphanumerics (𝐢𝐠𝐧𝐨𝐫𝐞 -> ignore); it leaves these alone.
CONFUSABLES = dict(zip(
    "аеорсухіјѕԁһӏԛԝАВЕКМНОРСТХІЈЅΑΒΕΖΗΙΚΜΝΟΡΤΥΧαοινρυ",
    "aeopcyxijsdhlqwABEKMHOPCTXIJSABEZHIKMNOPTYXaoivpu"))
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")


def normalize(text: str) -> str:
    """What a filter should read: the text as it renders, not as it is encoded."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")  # zero-width, BOM, bidi, tags
    text = "".join(CONFUSABLES.get(c, c) for c in text)
    return re.sub(r"[ \t]+", " ", text).strip()


def decoded_payloads(text: str) -> list[str]:
    """Base64 runs of 16+ characters that decode to mostly printable UTF-8 text."""
    payloads = []
    for run in BASE64_RUN.findall(text):
        try:
            decoded = base64.b64decode(run + "=" * (-len(run) % 4), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            continue
        if decoded and sum(c.isprintable() or c.isspace() for c in decoded) / len(decoded) > 0.95:
            payloads.append(decoded)
    return payloads


def paragraphs(text: str) -> list[str]:
    """The blocks between blank lines, when there are several: an injection hidden in a document
    is one paragraph among benign ones, and its embedding is diluted in the whole text's."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    return blocks if len(blocks) > 1 else []


def views(text: str) -> list[str]:
    """What every layer reads: the normalised text, its paragraphs, and each decoded base64
    payload (normalised too)."""
    first = normalize(text)
    return [first] + paragraphs(first) + [normalize(p) for p in decoded_payloads(first)]


# Hand-written patterns: each names a move that published injections make. Precise rather than
# broad: what they miss is the classifier's job.
_IGNORE = r"(ignore|disregard|forget|override|skip|bypass)"
_PRIOR = r"(previous|prior|above|earlier|preceding|foregoing|initial|original|system|all|any|your)"
_RULES = r"(instructions?|directions?|rules|prompts?|guidelines|context|tasks?|orders)"
HEURISTICS = {
    "override": rf"\b{_IGNORE}\b[^.\n]{{0,30}}\b{_PRIOR}\b[^.\n]{{0,30}}\b{_RULES}\b",
    "reveal_prompt": r"\b(print|repeat|reveal|show|output|tell|spell|translate|summari[sz]e|quote|what (is|was|were))"
                     r"\b[^.\n]{0,40}\b(system prompt|your (initial |first |original |secret )?(instructions?|prompt|rules)"
                     r"|previous instructions|text above|secret (code|key|word)|password)",
    "fake_role": r"(</?\s*(system|user_input|instructions?)\s*>|^\s*#{3,}\s*$|\b(system|developer) override\b)",
    "persona": r"\b(you are now|from now on,? (you|act)|act as an? (unfiltered|unrestricted)|\bDAN\b)",
    "cancel_task": r"\b(new instructions?|the real instruction|task is cancell?ed|stop everything|instead (print|say|write|output))\b",
}
_HEURISTICS = {name: re.compile(pattern, re.IGNORECASE | re.MULTILINE) for name, pattern in HEURISTICS.items()}

# The baseline to beat: the phrases a first keyword filter would list, matched on the raw text.
KEYWORDS = ["ignore previous instructions", "ignore all previous", "ignore the above", "ignore any previous",
            "disregard", "system prompt", "jailbreak", "forget your instructions", "reveal your",
            "previous instructions"]


def keyword_baseline(text: str) -> bool:
    lowered = text.lower()
    return any(k in lowered for k in KEYWORDS)


def heuristic_hits(text: str) -> list[str]:
    """The names of the patterns that match any view of `text` (no normalisation: pass raw text)."""
    seen = views(text)
    return [name for name, pattern in _HEURISTICS.items() if any(pattern.search(v) for v in seen)]


# --- the classifier: MiniLM embeddings + logistic regression ------------------------------------
CLASSIFIER_RECIPE = {"encoder": "all-MiniLM-L6-v2", "max_length": 256, "Cs": [0.1, 1.0, 10.0, 100.0],
                         "max_val_fpr": 0.02, "seed": 0, "dataset_version": 4}


def embed(texts: list[str], batch_size: int = 32) -> np.ndarray:
    """(N, 384) unit-length MiniLM sentence embeddings."""
    from ..infer.embed import sentence_embeddings

    model, tokenizer = _encoder()
    return sentence_embeddings(model, tokenizer, texts, batch_size=batch_size,
                               max_length=CLASSIFIER_RECIPE["max_length"]).numpy()


@cache
def _encoder():
    from ..models import load_encoder

    model, tokenizer = load_encoder()
    return model.eval(), tokenizer


def fit_logistic(X: np.ndarray, y: np.ndarray, C: float, seed: int = 0):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=2000, class_weight="balanced", random_state=seed).fit(X, y)


def threshold_at_fpr(scores: np.ndarray, labels: np.ndarray, max_fpr: float) -> float:
    """The lowest threshold whose false-positive rate on these (validation) scores is <= max_fpr."""
    negatives = np.sort(scores[labels == 0])[::-1]
    allowed = int(np.floor(max_fpr * len(negatives)))  # benign prompts we may flag
    return float(np.nextafter(negatives[allowed], 1.0)) if allowed < len(negatives) else 0.0


def split_views(split) -> tuple[list[str], np.ndarray]:
    """All views of every row of a dataset split, flattened, and the row index of each view."""
    texts, owner = [], []
    for i, text in enumerate(split["text"]):
        for v in views(text):
            texts.append(v)
            owner.append(i)
    return texts, np.array(owner)


def max_per_row(values: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, -np.inf)
    np.maximum.at(out, owner, values)
    return out


def layered_scores(probabilities: np.ndarray, texts: list[str]) -> np.ndarray:
    """1 where a heuristic fires, else the classifier's probability (already max over views)."""
    return np.where([bool(heuristic_hits(t)) for t in texts], 1.0, probabilities)


def _build_classifier(out: Path) -> None:
    import torch

    from ..data import load_dataset

    torch.set_num_threads(1)
    data = load_dataset("prompt_injection", profile="tiny")
    embeddings = {}
    for split in ("train", "validation", "test"):
        texts, owner = split_views(data[split])
        embeddings[f"{split}_X"], embeddings[f"{split}_owner"] = embed(texts), owner
    np.savez_compressed(out / "embeddings.npz", **embeddings)
    chosen = choose_classifier(embeddings, data)
    (out / "classifier.json").write_text(json.dumps(chosen, indent=1))


def training_set(embeddings: dict, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each training row's whole normalised text with its label, plus every other view of the
    benign rows as more benign examples. (An attack row's other views are unlabelled: one of its
    paragraphs is the attack, the others are the benign document it hides in.)"""
    owner = embeddings["train_owner"]
    first = np.r_[True, np.diff(owner) != 0]
    keep = first | (labels[owner] == 0)
    return embeddings["train_X"][keep], labels[owner][keep]


def choose_classifier(embeddings: dict, data) -> dict:
    """Fit on train's views (see `training_set`) for each C; keep the C with the best validation recall at the
    allowed false-positive rate; the threshold is the layered score's, at that rate, on validation."""
    from sklearn.metrics import roc_auc_score

    r = CLASSIFIER_RECIPE
    X, y = training_set(embeddings, np.array(data["train"]["label"]))
    y_val, n_val = np.array(data["validation"]["label"]), len(data["validation"])
    candidates = []
    for C in r["Cs"]:
        model = fit_logistic(X, y, C, r["seed"])
        p = max_per_row(model.predict_proba(embeddings["validation_X"])[:, 1], embeddings["validation_owner"], n_val)
        scores = layered_scores(p, data["validation"]["text"])
        threshold = threshold_at_fpr(scores, y_val, r["max_val_fpr"])
        recall = float(((scores >= threshold) & (y_val == 1)).sum() / (y_val == 1).sum())
        candidates.append({"C": C, "threshold": threshold, "val_recall": recall, "val_auc": float(roc_auc_score(y_val, p)),
                               "coef": model.coef_[0].tolist(), "intercept": float(model.intercept_[0])})
    best = max(candidates, key=lambda c: (c["val_recall"], c["val_auc"]))
    return {**best, "sweep": [{k: c[k] for k in ("C", "threshold", "val_recall", "val_auc")} for c in candidates]}


def _recipe() -> str:
    import hashlib

    from ..data.safety import injection_families

    source = json.dumps([CLASSIFIER_RECIPE, injection_families(), HEURISTICS, sorted(CONFUSABLES.items())])
    return "injection_classifier " + hashlib.sha256(source.encode()).hexdigest()[:16]


register_derived("injection_classifier", "MiniLM + logistic-regression prompt-injection classifier and its "
                 "embeddings of the prompt_injection set (module 10, notebook 04; ~2 CPU min)",
                 _build_classifier, _recipe)


@cache
def load_classifier() -> dict:
    """The asset's classifier: {"C", "threshold", "coef", "intercept", "sweep", ...}."""
    return json.loads((require("injection_classifier") / "classifier.json").read_text())


def load_embeddings() -> dict[str, np.ndarray]:
    with np.load(require("injection_classifier") / "embeddings.npz") as f:
        return dict(f)


def classifier_probability(texts: list[str]) -> np.ndarray:
    c = load_classifier()
    logits = embed(texts) @ np.array(c["coef"]) + c["intercept"]
    return 1 / (1 + np.exp(-logits))


def injection_score(text: str) -> float:
    """0..1, how likely `text` is a prompt injection: 1.0 when a heuristic fires, else the
    classifier's probability, the highest over the text and its decoded payloads."""
    if heuristic_hits(text):
        return 1.0
    return float(classifier_probability(views(text)).max())


def is_prompt_injection(text: str, threshold: float | None = None) -> bool:
    """injection_score(text) >= threshold (default: the one chosen on validation)."""
    return injection_score(text) >= (load_classifier()["threshold"] if threshold is None else threshold)
