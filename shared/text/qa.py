"""SQuAD answer scoring: exact match and token F1 after SQuAD's answer normalisation.

    exact_match("The Eiffel Tower.", ["Eiffel Tower"])    # 1.0: case, punctuation, articles ignored
    token_f1("in Paris, France", ["Paris"])               # 0.5: precision 1/3, recall 1
    short_answer("The answer is: Paris.\nIt is ...")     # "Paris": what a chat model's reply answers

Both take the best score over the gold answers, as the SQuAD v1.1 evaluation does
(Rajpurkar et al., 2016). `squad_scores` averages them over a set, in percent.
"""
import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ANSWER_PREFIX = re.compile(r"^(the )?(correct )?answer( to (this|the) question)? is:?\s*", re.I)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lowercase, drop ASCII punctuation and the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, answers: list[str]) -> float:
    """1.0 if the normalised prediction equals any normalised gold answer, else 0.0."""
    return float(any(normalize_answer(prediction) == normalize_answer(a) for a in answers))


def _f1(prediction_tokens: list[str], answer_tokens: list[str]) -> float:
    if not prediction_tokens or not answer_tokens:  # an empty answer matches only an empty one
        return float(prediction_tokens == answer_tokens)
    common = sum((Counter(prediction_tokens) & Counter(answer_tokens)).values())  # shared tokens, with multiplicity
    if common == 0:
        return 0.0
    precision, recall = common / len(prediction_tokens), common / len(answer_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, answers: list[str]) -> float:
    """Best F1 over the gold answers of the bag of normalised tokens (precision: share of the
    prediction's tokens in the answer; recall: share of the answer's tokens in the prediction)."""
    tokens = normalize_answer(prediction).split()
    return max(_f1(tokens, normalize_answer(a).split()) for a in answers)


def squad_scores(predictions: list[str], answers: list[list[str]]) -> dict[str, float]:
    """Mean exact match and F1 in percent, as the SQuAD evaluation script reports them."""
    if len(predictions) != len(answers):
        raise ValueError(f"{len(predictions)} predictions for {len(answers)} questions")
    n = len(predictions)
    return {"exact_match": 100 * sum(exact_match(p, a) for p, a in zip(predictions, answers)) / n,
            "f1": 100 * sum(token_f1(p, a) for p, a in zip(predictions, answers)) / n}


def short_answer(reply: str) -> str:
    """The answer in a chat model's reply: its first line, without a leading "The answer is:" and
    the final period or quotes. Small instruct models wrap a span in such words even when asked not to."""
    line = reply.strip().split("\n")[0]
    return _ANSWER_PREFIX.sub("", line).strip().strip('".')


def best_span(start_logits, end_logits, allowed, max_tokens: int) -> tuple[int, int]:
    """(start, end) token indices, end inclusive, maximising start + end logit over the spans
    with start <= end < start + max_tokens whose tokens are all `allowed` (context tokens)."""
    import torch

    scores = start_logits[:, None] + end_logits[None, :]                 # (T, T): span (i, j) score
    n = scores.shape[0]
    i, j = torch.arange(n)[:, None], torch.arange(n)[None, :]
    valid = (j >= i) & (j < i + max_tokens) & allowed[:, None] & allowed[None, :]
    best = scores.masked_fill(~valid, float("-inf")).flatten().argmax().item()
    return divmod(best, n)


def extract_answers(model, tokenizer, questions: list[str], contexts: list[str], max_answer_tokens: int = 30,
                    max_length: int = 384, batch_size: int = 32) -> list[str]:
    """Extractive QA by hand (what the removed `question-answering` pipeline did): a model with a
    span head scores every token as answer start and end; the answer is the best-scoring span of
    the context, cut out of the context string through the tokenizer's character offsets.
    Contexts longer than `max_length` tokens are truncated (no sliding window)."""
    import torch

    answers = []
    for first in range(0, len(questions), batch_size):
        qs, cs = questions[first:first + batch_size], contexts[first:first + batch_size]
        batch = tokenizer(qs, cs, truncation="only_second", max_length=max_length, padding=True,
                          return_offsets_mapping=True, return_tensors="pt")
        offsets = batch.pop("offset_mapping").tolist()                    # (B, T, 2) character spans
        inputs = {k: v.to(model.device) for k, v in batch.items() if k in tokenizer.model_input_names}
        with torch.no_grad():
            out = model(**inputs)                                         # start/end_logits: (B, T)
        for row, context in enumerate(cs):
            in_context = torch.tensor([s == 1 for s in batch.sequence_ids(row)])  # (T,) second segment
            start, end = best_span(out.start_logits[row].float().cpu(), out.end_logits[row].float().cpu(),
                                   in_context, max_answer_tokens)
            answers.append(context[offsets[row][start][0]:offsets[row][end][1]])
    return answers
