"""Caption metrics: CIDEr-D written to be read, plus BLEU-4 (sacrebleu) and ROUGE-L (rouge_score).

    cider_d(["a red circle moves left"], [["a red circle moves left"]])   # (corpus score, per caption)
    caption_scores(candidates, references)   # {"BLEU-4": ..., "ROUGE-L": ..., "CIDEr-D": ...}

CIDEr (Vedantam, Zitnick & Parikh, 2015) asks: does the candidate use the n-grams that the
references of *this* clip use, weighted by how rare those n-grams are across *all* clips'
references? An n-gram every caption contains ("a", ", then a") carries no information, so TF-IDF
weighs it near zero; the words that tell clips apart carry the score. CIDEr-D is the version the
COCO evaluation server reports (pycocoevalcap's `Cider`): counts are clipped to the reference's
counts, a Gaussian penalty punishes a length that differs from the reference's, and the mean
over n = 1..4 is scaled by 10 (so a perfect match of a long caption scores 10).

Differences from pycocoevalcap, on purpose: words are lowercased and stripped of punctuation here
(COCO runs the PTB tokenizer first), the length is the number of words (pycocoevalcap counts
bigrams, which differs only for captions of one word), and an n-gram order that a caption is too
short to have scores 0 (pycocoevalcap divides by zero).
"""
import math
import re
from collections import Counter


def words(text: str) -> list[str]:
    """Lowercased words without punctuation: "A red circle, then..." -> ["a", "red", "circle", "then", ...]."""
    return re.findall(r"[a-z0-9']+", text.lower())


def ngram_counts(tokens: list[str], n: int) -> Counter:
    """Counts of the n-grams of exactly length n, as tuples."""
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def cider_d(candidates: list[str], references: list[list[str]], max_n: int = 4, sigma: float = 6.0):
    """CIDEr-D of each candidate against its references; returns (mean over the corpus, per-candidate list)."""
    if len(candidates) != len(references) or not candidates:
        raise ValueError(f"need one list of references per candidate (got {len(candidates)} candidates, "
                         f"{len(references)} reference lists)")
    cand = [words(c) for c in candidates]
    refs = [[words(r) for r in rs] for rs in references]
    # document frequency: in how many clips' reference sets does each n-gram occur?
    df = Counter()
    for rs in refs:
        df.update({g for r in rs for n in range(1, max_n + 1) for g in ngram_counts(r, n)})
    log_docs = math.log(len(refs))

    def tfidf(tokens, n):  # {n-gram: term frequency * inverse document frequency}
        return {g: tf * (log_docs - math.log(max(1.0, df[g]))) for g, tf in ngram_counts(tokens, n).items()}

    scores = []
    for c, rs in zip(cand, refs):
        per_ref = []
        for r in rs:
            penalty = math.exp(-((len(c) - len(r)) ** 2) / (2 * sigma ** 2))  # Gaussian in the length difference
            sims = []
            for n in range(1, max_n + 1):
                vc, vr = tfidf(c, n), tfidf(r, n)
                norm_c = math.sqrt(sum(v * v for v in vc.values()))
                norm_r = math.sqrt(sum(v * v for v in vr.values()))
                # "D": the candidate's weight is clipped at the reference's, so repeating a word gains nothing
                dot = sum(min(v, vr.get(g, 0.0)) * vr.get(g, 0.0) for g, v in vc.items())
                sims.append(dot / (norm_c * norm_r) * penalty if norm_c and norm_r else 0.0)
            per_ref.append(sum(sims) / max_n)
        scores.append(10.0 * sum(per_ref) / len(per_ref))
    return sum(scores) / len(scores), scores


def caption_scores(candidates: list[str], references: list[str]) -> dict[str, float]:
    """Corpus BLEU-4 (sacrebleu, 0-100), mean ROUGE-L F1 (rouge_score, 0-1) and CIDEr-D (0-10),
    with one reference per candidate."""
    import sacrebleu
    from rouge_score import rouge_scorer

    bleu = sacrebleu.corpus_bleu(candidates, [references]).score
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    rouge = sum(scorer.score(r, c)["rougeL"].fmeasure for c, r in zip(candidates, references)) / len(candidates)
    cider, _ = cider_d(candidates, [[r] for r in references])
    return {"BLEU-4": bleu, "ROUGE-L": rouge, "CIDEr-D": cider}
