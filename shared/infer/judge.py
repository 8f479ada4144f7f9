"""Automatic judges of a pair of answers, and how far to trust them.

- `metric_judge`: a reference-based rule: the answer with the higher ROUGE-1 F1 against a reference
  (here the newsroom's own headline) wins; a difference under `tie_margin` is a tie.
- `llm_judge_probs`: the LLM as a judge. It is shown the document and both answers, labelled A and B,
  and asked which is better; we read its next-token probabilities of "A" and "B" (no sampling).
  Asking again with the answers swapped measures its position bias and its consistency.
- `cohen_kappa`: agreement between two labellers beyond what chance would give (Cohen, 1960).

Labels are "A" (the first answer wins), "B" or "tie".
"""
import torch

LABELS = ("A", "B", "tie")
JUDGE_PROMPT = ("Which summary of the news is better: accurate, fluent and short?\n\nNews: {document}\n\n"
                "Summary A: {a}\n\nSummary B: {b}\n\nAnswer with one letter, A or B.")


def rouge1(answer: str, reference: str) -> float:
    """ROUGE-1 F1 (Porter-stemmed unigrams) of `answer` against `reference`."""
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rouge1"], use_stemmer=True).score(reference, answer)["rouge1"].fmeasure


def metric_judge(a: str, b: str, reference: str, tie_margin: float = 0.02) -> str:
    """"A" or "B": the answer with the higher ROUGE-1 F1 against `reference`; "tie" within `tie_margin`."""
    difference = rouge1(a, reference) - rouge1(b, reference)
    return "tie" if abs(difference) < tie_margin else ("A" if difference > 0 else "B")


@torch.no_grad()
def llm_judge_probs(model, tokenizer, documents: list[str], firsts: list[str], seconds: list[str],
                    batch_size: int = 8) -> list[float]:
    """P("A") / (P("A") + P("B")) at the judge's first answer token, for each (document, A, B)."""
    ids = [tokenizer.encode(letter, add_special_tokens=False) for letter in "AB"]
    assert all(len(i) == 1 for i in ids), "A and B must be single tokens"
    texts = [tokenizer.apply_chat_template(
        [{"role": "user", "content": JUDGE_PROMPT.format(document=d, a=a, b=b)}], add_generation_prompt=True,
        tokenize=False) for d, a, b in zip(documents, firsts, seconds)]
    padding_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    probs = []
    try:
        for start in range(0, len(texts), batch_size):
            inputs = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                               add_special_tokens=False).to(model.device)
            logits = model(**inputs, logits_to_keep=1).logits[:, -1, [ids[0][0], ids[1][0]]].float()   # (B, 2): "A", "B"
            probs += torch.softmax(logits, dim=-1)[:, 0].tolist()
    finally:
        tokenizer.padding_side = padding_side
    return probs


def swap_consistent_label(p_a_first: float, p_a_second: float) -> str:
    """The LLM judge's label for (a, b) from both orders: p_a_first = P(a wins) with a shown as A,
    p_a_second = P(a wins) with a shown as B. "tie" when the two orders disagree."""
    first, second = p_a_first > 0.5, p_a_second > 0.5
    return ("A" if first else "B") if first == second else "tie"


def cohen_kappa(labels_1: list[str], labels_2: list[str]) -> float:
    """(observed agreement - chance agreement) / (1 - chance agreement), chance from each labeller's rates."""
    n = len(labels_1)
    observed = sum(x == y for x, y in zip(labels_1, labels_2)) / n
    chance = sum((labels_1.count(c) / n) * (labels_2.count(c) / n) for c in set(labels_1) | set(labels_2))
    return (observed - chance) / (1 - chance) if chance < 1 else 1.0
