"""Token-based chunking with overlap: cut a document that is longer than a model's context window
into windows of at most `chunk_tokens` tokens, each sharing `overlap_tokens` with the one before.

    spans = chunk_spans(n_tokens=500, chunk_tokens=200, overlap_tokens=40)
    # [(0, 200), (160, 360), (320, 500)]: stride 160, the last window ends at the document's end
    chunks = chunk_text(tokenizer, text, chunk_tokens=200, overlap_tokens=40)  # the windows as text

The overlap keeps a sentence that straddles a cut whole in at least one chunk. `coverage` counts how
many chunks hold each token: every token must be covered at least once (nothing is dropped).
"""
import numpy as np


def chunk_spans(n_tokens: int, chunk_tokens: int, overlap_tokens: int = 0) -> list[tuple[int, int]]:
    """Half-open token windows [start, end) that cover 0..n_tokens; consecutive windows overlap by
    `overlap_tokens` (the last one may overlap more: it ends at the document's end, never past it)."""
    if chunk_tokens < 1:
        raise ValueError(f"chunk_tokens must be at least 1, got {chunk_tokens}")
    if not 0 <= overlap_tokens < chunk_tokens:
        raise ValueError(f"overlap_tokens must be in [0, chunk_tokens), got {overlap_tokens} with chunk_tokens="
                         f"{chunk_tokens}: lower the overlap or raise the chunk size")
    if n_tokens <= chunk_tokens:
        return [(0, n_tokens)]
    stride = chunk_tokens - overlap_tokens       # how far each window starts after the previous one
    spans, start = [], 0
    while True:
        end = min(start + chunk_tokens, n_tokens)
        spans.append((start, end))
        if end == n_tokens:
            return spans
        start += stride


def coverage(spans: list[tuple[int, int]], n_tokens: int) -> np.ndarray:
    """(n_tokens,) how many spans hold each token: 0 = dropped, 2 = in an overlap."""
    counts = np.zeros(n_tokens, dtype=int)
    for start, end in spans:
        counts[start:end] += 1
    return counts


def chunk_ids(ids: list[int], chunk_tokens: int, overlap_tokens: int = 0) -> list[list[int]]:
    """The token ids of each window (see `chunk_spans`)."""
    return [list(ids[start:end]) for start, end in chunk_spans(len(ids), chunk_tokens, overlap_tokens)]


def chunk_text(tokenizer, text: str, chunk_tokens: int, overlap_tokens: int = 0) -> list[str]:
    """`text` cut into windows of `chunk_tokens` tokens of `tokenizer` (no special tokens), decoded
    back to text. A cut can fall inside a word; the overlap repeats it whole in the next chunk."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return [tokenizer.decode(window).strip() for window in chunk_ids(ids, chunk_tokens, overlap_tokens)]
