"""Speed of shared.text.bpe: fast vs plain trainer, fast trainer vs Hugging Face `tokenizers` (Rust),
and encoding throughput. All numbers come from one run on the same ~1 MB of Wikipedia.

    python benchmarks/bench_bpe.py [--corpus-bytes 1000000] [--vocab-size 4096] [--plain-merges 30]

- fast vs tokenizers: both learn `vocab_size - 256` merges with the GPT-2 pre-tokenizer; the merges
  are checked to be identical. `tokenizers` uses all the CPU cores it sees (it is multi-threaded,
  ours is not).
- fast vs plain: the plain trainer recounts the whole text after every merge, too slow for the
  full vocabulary, so
  (1) both run the first `plain_merges` merges (measured, same merges checked), and
  (2) the plain trainer's full run is estimated: one merge step costs a recount plus a rewrite of
      every chunk, so its time per merge changes as tokens merge. The step is timed on the text as
      it is after 0, 1/8, ..., 8/8 of the merges (chunks encoded with the first k merges, which is
      exactly the plain trainer's state after k merges), and the time per merge is integrated
      over the run (trapezoid rule); the smallest and largest samples give bounds.
- encode: throughput on the articles that follow (about 1 MB more), one `encode` call per article,
  ours (starting with an empty chunk cache) vs `tokenizers` (one call per article, and
  `encode_batch`, which is multi-threaded); same tokenizer.json, ids checked equal.
Times are the fastest of 3 runs (other processes only add time), except the long plain run and
our cold-cache encode, which run once. The machine's load average is printed: read ratios, which
are measured under the same load, rather than seconds.
"""
import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("JOURNEY_PROFILE", "tiny")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tokenizers import Tokenizer, models, pre_tokenizers, trainers  # noqa: E402

from shared.text.bpe import (GPT2_SPLIT_PATTERN, BPETokenizer, count_pairs, learn_merges_fast,  # noqa: E402
                        learn_merges_plain, merge)
from shared.data import load_dataset  # noqa: E402


def timed(fn, *args, repeats: int = 1):
    """(result, seconds): the fastest of `repeats` runs, as other processes only ever add time."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        seconds.append(time.perf_counter() - start)
    return result, min(seconds)


def take_articles(articles: list[str], n_bytes: int) -> tuple[list[str], list[str]]:
    """The first articles that hold about `n_bytes` of UTF-8 text, and the rest."""
    total = 0
    for i, article in enumerate(articles):
        total += len(article.encode("utf-8"))
        if total >= n_bytes:
            return articles[:i + 1], articles[i + 1:]
    return articles, []


def train_ours(text: str, vocab_size: int) -> BPETokenizer:
    tokenizer = BPETokenizer(GPT2_SPLIT_PATTERN)
    tokenizer.train(text, vocab_size)
    return tokenizer


def train_tokenizers(text: str, vocab_size: int) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([text], trainer)
    return tokenizer


def merge_bytes(tokenizer: BPETokenizer) -> list[tuple[bytes, bytes]]:
    return [(tokenizer.vocab[a], tokenizer.vocab[b]) for a, b in tokenizer.merges]


def plain_first_merges(text: str, num_merges: int) -> dict:
    chunks = [c.encode("utf-8") for c in BPETokenizer(GPT2_SPLIT_PATTERN).pre_split(text)]
    return learn_merges_plain(chunks, num_merges)


def fast_first_merges(text: str, num_merges: int) -> dict:
    chunks = [c.encode("utf-8") for c in BPETokenizer(GPT2_SPLIT_PATTERN).pre_split(text)]
    return learn_merges_fast(Counter(chunks), num_merges)


def encode_chunks(tokenizer: BPETokenizer, chunks: list[str]) -> list[list[int]]:
    return [tokenizer.encode(chunk) for chunk in chunks]


def plain_step_seconds(chunk_ids: list[list[int]], repeats: int = 3) -> float:
    """One iteration of the plain trainer's loop (recount every pair, rewrite every chunk);
    the fastest of `repeats` runs, as other processes only ever add time."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        counts = {}
        for ids in chunk_ids:
            count_pairs(ids, counts)
        pair = max(counts, key=counts.get)
        [merge(ids, pair, -1) for ids in chunk_ids]
        times.append(time.perf_counter() - start)
    return min(times)


def main(corpus_bytes: int, vocab_size: int, plain_merges: int) -> None:
    train_articles, rest = take_articles(load_dataset("wikipedia", profile="tiny")["train"]["text"], corpus_bytes)
    held_out, _ = take_articles(rest, corpus_bytes)
    text = "\n\n".join(train_articles)
    num_merges = vocab_size - 256
    print(f"corpus: {len(text.encode()):,} bytes of Wikipedia; vocab {vocab_size} ({num_merges} merges); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")

    ours, t_fast = timed(train_ours, text, vocab_size, repeats=3)
    theirs, t_hf = timed(train_tokenizers, text, vocab_size, repeats=3)
    with tempfile.TemporaryDirectory() as folder:
        theirs.save(str(Path(folder) / "tokenizer.json"))
        loaded = BPETokenizer.from_tokenizer_json(Path(folder) / "tokenizer.json")  # encode cache empty
    same = merge_bytes(loaded) == merge_bytes(ours)
    print(f"\n[train, full vocab] fast {t_fast:.2f} s | tokenizers {t_hf:.2f} s | "
          f"fast / tokenizers = {t_fast / t_hf:.1f}x slower | same merges: {same}")

    plain, t_plain_k = timed(plain_first_merges, text, plain_merges)
    fast, t_fast_k = timed(fast_first_merges, text, plain_merges, repeats=3)
    print(f"[train, first {plain_merges} merges, measured] plain {t_plain_k:.1f} s | fast {t_fast_k:.2f} s | "
          f"plain / fast = {t_plain_k / t_fast_k:.0f}x | same merges: {plain == fast}")

    chunks = ours.pre_split(text)
    points = [num_merges * i // 8 for i in range(9)]  # merges done when the step is timed
    steps = [plain_step_seconds(encode_chunks(ours.with_vocab_size(256 + k), chunks)) for k in points]
    estimate = sum((k1 - k0) * (s0 + s1) / 2 for k0, k1, s0, s1 in zip(points, points[1:], steps, steps[1:]))
    print(f"[train, full vocab, plain estimated] one plain step: {steps[0]:.2f} s at the start, "
          f"{steps[-1]:.2f} s at the end -> plain full run ~{estimate:.0f} s "
          f"(bounds {num_merges * min(steps):.0f}-{num_merges * max(steps):.0f} s) -> "
          f"plain / fast ~{estimate / t_fast:.0f}x")

    our_ids, t_enc = timed(lambda: [loaded.encode(article) for article in held_out])
    their_ids, t_enc_hf = timed(lambda: [theirs.encode(a, add_special_tokens=False).ids for a in held_out], repeats=3)
    _, t_batch = timed(lambda: theirs.encode_batch(held_out, add_special_tokens=False), repeats=3)
    mb = sum(len(article.encode("utf-8")) for article in held_out) / 1e6
    print(f"[encode {len(held_out)} articles, {mb:.2f} MB] ours {mb / t_enc:.2f} MB/s | tokenizers "
          f"{mb / t_enc_hf:.2f} MB/s (encode_batch {mb / t_batch:.2f} MB/s) | ours / tokenizers time = "
          f"{t_enc / t_enc_hf:.1f}x | same ids: {our_ids == their_ids}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus-bytes", type=int, default=1_000_000)
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--plain-merges", type=int, default=30)
    main(**vars(parser.parse_args()))
