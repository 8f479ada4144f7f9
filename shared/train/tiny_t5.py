"""A small T5 pretrained from scratch on the offline corpus, so the tiny profile has a real
encoder-decoder (no installable package ships T5 weights).

    build(out)   # tokenizer + denoising pretraining: about 3 minutes on one CPU core

Importing this module registers `build` as the derived asset "t5_tiny":
`shared.assets.require("t5_tiny")` then calls it once and caches the folder; `load_seq2seq()` loads it with `AutoTokenizer` / `AutoModelForSeq2SeqLM` like any hub checkpoint.

The steps, one short function each:
1. `train_tokenizer`: a subword vocabulary with T5's special tokens (`<pad>`=0, `</s>`=1,
   `<unk>`=2, sentinels `<extra_id_0>`.. at the top of the vocabulary, as in t5-small).
2. `token_blocks`: the corpus as one token stream cut into fixed-length blocks.
3. `span_corrupt`: T5's denoising objective (Raffel et al. 2020, section 3.1.4): drop 15% of the
   tokens in spans of mean length 3, replace each span by a sentinel in the input, and ask the
   decoder for `<extra_id_0> span0 <extra_id_1> span1 ... </s>`.
   `reconstruct`: the same corrupted input, but the target is the whole original sentence (the
   "reconstruct the original text" variant of Raffel et al. 2020, section 3.3.1, as in MASS/BART).
   It makes the decoder copy 85% of its target from the encoder: the skill a headline needs.
4. `pretrain`: a mixture of the two objectives, Adafactor (T5's optimizer) with linear warmup and
   cosine decay (`shared.train.pretrain.cosine_with_warmup`, the course's one schedule), a loss
   curve, and held-out losses before/after.

Why this recipe (measured while fixing issue 11, one CPU core): with span corruption alone and
AdamW, 700 steps left the held-out loss at the level of word frequencies, and the fine-tuned model
wrote "the the the". T5 has no absolute positions (only relative biases inside self-attention), so
it learns to copy much more slowly than a transformer with position embeddings: on copying real
sentences, a 2+2-layer nn.Transformer with learned positions reached loss 0.7 in 300 AdamW steps,
the same without positions 6.0, T5 with AdamW 6.8. T5 with Adafactor's relative step sizes
(`scale_parameter=True`; HF T5 initializes its embeddings with std 1 and its attention with std
~0.01, so one absolute AdamW step size suits neither) at lr 3e-2 copied at loss 0.1 after 1,000
steps, with a sudden drop near step 450. A 4k vocabulary (instead of 8k) halves the output layer.
"""
import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..assets import register_derived, require
from ..utils import tqdm
from .pretrain import cosine_with_warmup


@dataclass
class TinyT5Config:
    # tokenizer
    vocab_size: int = 4000       # all ids: 3 specials + learned subwords + sentinels (8k: slower to learn)
    extra_ids: int = 100         # sentinel tokens <extra_id_0> .. <extra_id_99>, as in T5
    # model (t5-small: d_model 512, d_ff 2048, 6+6 layers, 8 heads, 60M parameters). With 2+2
    # layers a step costs half as much as with 4+4, so twice the steps fit in the budget: a lower
    # loss after 2 minutes, and faster fine-tuning in the notebooks.
    d_model: int = 256           # width of the residual stream
    d_ff: int = 1024             # hidden size of each feed-forward block
    num_layers: int = 2          # encoder layers (the decoder has as many)
    num_heads: int = 4           # attention heads, each d_model // num_heads = 64 wide
    # pretraining: ~0.1 s per sentence step, ~0.19 s per block step on one core in bfloat16, ~3 minutes in all
    block: int = 128             # tokens per uncorrupted span-corruption example
    noise_density: float = 0.15  # fraction of each block that is masked
    mean_span: float = 3.0       # mean length of a masked span
    batch_size: int = 16         # blocks per step
    reconstruct_fraction: float = 0.8  # share of steps that reconstruct whole sentences (the rest: span corruption)
    sentence_tokens: int = 32    # a reconstruction example: one corpus sentence, cut at this many tokens
    steps: int = 1200            # optimizer steps (fixed, so the result does not depend on speed)
    lr: float = 3e-2             # peak learning rate (Adafactor, relative to each weight's RMS); 1e-2 learned slower
    warmup: int = 60             # linear warmup steps, then cosine decay to lr * min_lr_ratio
    min_lr_ratio: float = 0.1    # floor of the cosine decay, as a fraction of lr
    precision: str = "bf16"      # "bf16": bfloat16 autocast, ~1.5x faster on CPUs with AMX; "fp32"
    eval_blocks: int = 64        # held-out blocks (news test split) for the before/after loss
    seed: int = 0


# --- 1. tokenizer -----------------------------------------------------------------------------

SPECIALS = ["<pad>", "</s>", "<unk>"]  # ids 0, 1, 2, the layout every T5 checkpoint uses


def sentinel_tokens(n: int) -> list[str]:
    return [f"<extra_id_{i}>" for i in range(n)]


def get_sentinel_ids(tokenizer, n: int) -> np.ndarray:
    """(n,) ids of <extra_id_0> .. <extra_id_{n-1}>, in that order (so descending)."""
    return np.array(tokenizer.convert_tokens_to_ids(sentinel_tokens(n)))


def train_tokenizer(texts: list[str], cfg: TinyT5Config):
    """A transformers fast tokenizer with T5's specials, trained on `texts`.

    T5 uses a SentencePiece Unigram model; we train BPE with the same whitespace handling
    (Metaspace: a word starts with "▁"), because Unigram's EM training costs ~35 s of CPU on
    this corpus against ~4 s for BPE, for nearly the same number of tokens per document.
    """
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors, trainers
    from tokenizers.models import BPE
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(),  # newlines and runs of spaces count as one space
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
    ])
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=cfg.vocab_size - cfg.extra_ids, special_tokens=SPECIALS,
                                  show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    # Sentinels go on top, <extra_id_0> last: in t5-small <extra_id_0> is 32099, the highest id.
    tokenizer.add_special_tokens(sentinel_tokens(cfg.extra_ids)[::-1])
    tokenizer.post_processor = processors.TemplateProcessing(  # every sequence ends with </s>
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", tokenizer.token_to_id("</s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>", additional_special_tokens=sentinel_tokens(cfg.extra_ids))


# --- 2. data ----------------------------------------------------------------------------------

CORPUS = ("the Wikipedia sample, the Lee news training articles and the news_articles published before "
          "the summarization data's validation period")


def corpus_texts() -> tuple[list[str], list[str]]:
    """(train texts: CORPUS, held-out texts: the Lee news test articles). The news_articles of the
    summarization data's validation and test periods are left out, so those headlines and leads
    are new to the model."""
    from ..data import load_dataset
    from ..data.tasks import HEADLINE_VALIDATION_FROM

    news = load_dataset("news")
    articles = load_dataset("news_articles")["train"]
    train = (list(load_dataset("wikipedia")["train"]["text"]) + list(news["train"]["text"])
             + [row["text"] for row in articles if row["date"] < HEADLINE_VALIDATION_FROM])
    return train, list(news["test"]["text"])


def corpus_sentences(texts: list[str], min_words: int = 8, max_words: int = 50) -> list[str]:
    """The sentences of `texts` (NLTK's Punkt splitter) of `min_words`..`max_words` words."""
    import nltk

    require("punkt_tab")
    return [s for text in texts for s in nltk.sent_tokenize(text) if min_words <= len(s.split()) <= max_words]


def token_blocks(texts: list[str], tokenizer, block: int) -> np.ndarray:
    """All texts as one stream `doc0 </s> doc1 </s> ...`, cut into rows of `block` tokens."""
    ids = tokenizer(texts, add_special_tokens=True)["input_ids"]  # each ends with </s>
    stream = np.fromiter((t for doc in ids for t in doc), dtype=np.int64)
    n_blocks = len(stream) // block
    return stream[: n_blocks * block].reshape(n_blocks, block)  # (n_blocks, block)


# --- 3. span corruption -----------------------------------------------------------------------

def random_segmentation(n_items: int, n_segments: int, rng: np.random.Generator) -> np.ndarray:
    """Split `n_items` into `n_segments` positive lengths, uniformly at random."""
    cuts = np.sort(rng.choice(np.arange(1, n_items), size=n_segments - 1, replace=False))
    return np.diff(np.concatenate([[0], cuts, [n_items]]))  # (n_segments,), sums to n_items


def noise_counts(length: int, noise_density: float, mean_span: float) -> tuple[int, int]:
    """(masked tokens, masked spans) for a block of `length` tokens; fixed, so lengths are too."""
    n_noise = min(max(1, round(length * noise_density)), length - 1)
    n_spans = max(1, round(n_noise / mean_span))
    return n_noise, n_spans


def random_spans_noise_mask(length: int, noise_density: float, mean_span: float,
                            rng: np.random.Generator) -> np.ndarray:
    """Boolean mask (length,), True = masked: kept and masked runs alternate, kept first."""
    n_noise, n_spans = noise_counts(length, noise_density, mean_span)
    noise_lengths = random_segmentation(n_noise, n_spans, rng)           # (n_spans,)
    kept_lengths = random_segmentation(length - n_noise, n_spans, rng)   # (n_spans,)
    runs = np.stack([kept_lengths, noise_lengths], axis=1).reshape(-1)   # kept0 noise0 kept1 ...
    is_noise = np.tile([False, True], n_spans)                           # (2 * n_spans,)
    return np.repeat(is_noise, runs)                                     # (length,)


def collapse_runs(tokens: np.ndarray, mask: np.ndarray, sentinel_ids: np.ndarray) -> np.ndarray:
    """Keep tokens where mask is False; replace the k-th run of True by `sentinel_ids[k]`."""
    run_start = mask & ~np.concatenate([[False], mask[:-1]])  # first token of each masked run
    run_index = np.cumsum(run_start) - 1                      # which run each position is in
    replaced = np.where(run_start, sentinel_ids[run_index], tokens)
    return replaced[~mask | run_start]


def span_corrupt(tokens: np.ndarray, sentinel_ids: np.ndarray, eos_id: int, rng: np.random.Generator,
                 noise_density: float = 0.15, mean_span: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """T5's denoising pair for one block of token ids.

    tokens  : Thank you for inviting me to your party last week .
    inputs  : Thank you <extra_id_0> me to your party <extra_id_1> week . </s>
    targets : <extra_id_0> for inviting <extra_id_1> last <extra_id_2> </s>
    (The paper's example. Our random masks always end with a masked span, so targets have no
    trailing sentinel and the lengths are fixed: inputs = kept + spans + 1, targets =
    masked + spans + 1.)
    """
    mask = random_spans_noise_mask(len(tokens), noise_density, mean_span, rng)
    inputs = collapse_runs(tokens, mask, sentinel_ids)
    # The kept runs, each collapsed to a sentinel, put the masked spans after their sentinel:
    # kept run k precedes masked span k, so it becomes <extra_id_k>.
    targets = collapse_runs(tokens, ~mask, sentinel_ids)
    return np.append(inputs, eos_id), np.append(targets, eos_id)


def reconstruct(tokens: np.ndarray, sentinel_ids: np.ndarray, eos_id: int, rng: np.random.Generator,
                noise_density: float = 0.15, mean_span: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """The "reconstruct the original" pair: span-corrupted inputs, the whole text as target.

    inputs  : Thank you <extra_id_0> me to your party <extra_id_1> week . </s>
    targets : Thank you for inviting me to your party last week . </s>
    """
    inputs, _ = span_corrupt(tokens, sentinel_ids, eos_id, rng, noise_density, mean_span)
    return inputs, np.append(tokens, eos_id)


def pad_rows(rows: list[np.ndarray], value: int) -> torch.Tensor:
    """Right-pad 1-d rows to the longest: (B, T_max)."""
    out = np.full((len(rows), max(map(len, rows))), value, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return torch.from_numpy(out)


def reconstruct_batch(sentences: list[np.ndarray], sentinel_ids: np.ndarray, eos_id: int, pad_id: int,
                      rng: np.random.Generator, cfg: "TinyT5Config") -> dict[str, torch.Tensor]:
    """Token-id sentences -> model kwargs: input_ids and attention_mask (B, T_in), labels (B, T_out),
    padded with `pad_id` (inputs) and -100 (labels, ignored by the loss)."""
    pairs = [reconstruct(row, sentinel_ids, eos_id, rng, cfg.noise_density, cfg.mean_span) for row in sentences]
    inputs = pad_rows([x for x, _ in pairs], pad_id)
    return {"input_ids": inputs, "attention_mask": (inputs != pad_id).long(),
            "labels": pad_rows([y for _, y in pairs], -100)}


def corrupt_batch(blocks: np.ndarray, sentinel_ids: np.ndarray, eos_id: int, rng: np.random.Generator,
                  cfg: TinyT5Config) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, block) blocks -> inputs (B, T_in), targets (B, T_out); every row has the same lengths."""
    pairs = [span_corrupt(row, sentinel_ids, eos_id, rng, cfg.noise_density, cfg.mean_span) for row in blocks]
    inputs, targets = zip(*pairs)
    return torch.from_numpy(np.stack(inputs)), torch.from_numpy(np.stack(targets))


# --- 4. model and pretraining -----------------------------------------------------------------

def make_model(cfg: TinyT5Config, tokenizer):
    from transformers import T5Config, T5ForConditionalGeneration

    config = T5Config(
        vocab_size=len(tokenizer), d_model=cfg.d_model, d_kv=cfg.d_model // cfg.num_heads,
        d_ff=cfg.d_ff, num_layers=cfg.num_layers, num_decoder_layers=cfg.num_layers,
        num_heads=cfg.num_heads, feed_forward_proj="relu",  # the original T5 block, as t5-small
        dropout_rate=0.0,  # a 2-minute run learns faster without dropout; fine-tuning may set 0.1
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,  # T5 starts decoding from <pad>
    )
    return T5ForConditionalGeneration(config)


def lr_factor(step: int, cfg: TinyT5Config) -> float:
    """The learning-rate multiplier at `step`: the course's warmup + cosine schedule."""
    return cosine_with_warmup(step, cfg.warmup, cfg.steps, cfg.min_lr_ratio)


@torch.no_grad()
def denoising_loss(model, inputs: torch.Tensor, targets: torch.Tensor, batch_size: int) -> float:
    model.eval()
    losses = [model(input_ids=x, labels=y).loss.item()
              for x, y in zip(inputs.split(batch_size), targets.split(batch_size))]
    model.train()
    return float(np.mean(losses))


@torch.no_grad()
def reconstruction_loss(model, batch: dict[str, torch.Tensor]) -> float:
    model.eval()
    loss = model(**batch).loss.item()
    model.train()
    return loss


def make_optimizer(model, cfg: TinyT5Config):
    """Adafactor as T5 was trained: each update is relative to the weight's RMS (`scale_parameter`),
    so embeddings (std 1) and attention weights (std ~0.01) learn at the same relative speed."""
    from transformers.optimization import Adafactor

    return Adafactor(model.parameters(), lr=cfg.lr, scale_parameter=True, relative_step=False, warmup_init=False)


def pretrain(model, tokenizer, blocks: np.ndarray, sentences: list[np.ndarray], held_out: dict,
             cfg: TinyT5Config) -> dict:
    """Adafactor on freshly corrupted batches of both objectives; returns the loss history."""
    rng = np.random.default_rng(cfg.seed)
    sentinels = get_sentinel_ids(tokenizer, cfg.extra_ids)
    optimizer = make_optimizer(model, cfg)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, cfg))
    order = rng.permutation(len(blocks))  # a shuffled pass over the corpus (wraps if needed)
    before = {"held_out_loss_before": denoising_loss(model, *held_out["span"], cfg.batch_size),
              "held_out_reconstruction_loss_before": reconstruction_loss(model, held_out["reconstruct"])}
    losses, objectives, n_blocks = [], [], 0
    model.train()
    for _ in (bar := tqdm(range(cfg.steps), desc="pretraining tiny T5")):
        if rng.random() < cfg.reconstruct_fraction:
            rows = rng.integers(0, len(sentences), cfg.batch_size)
            batch = reconstruct_batch([sentences[i] for i in rows], sentinels, tokenizer.eos_token_id,
                                      tokenizer.pad_token_id, rng, cfg)  # (B, T_in), (B, T_out) padded
            objectives.append("reconstruct")
        else:
            rows = order[np.arange(n_blocks, n_blocks + cfg.batch_size) % len(order)]
            n_blocks += cfg.batch_size
            inputs, targets = corrupt_batch(blocks[rows], sentinels, tokenizer.eos_token_id, rng, cfg)  # (B, T_in), (B, T_out)
            batch = {"input_ids": inputs, "labels": targets}
            objectives.append("span")
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
            loss = model(**batch).loss  # mean cross-entropy over target tokens
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return {"loss_curve": losses, "objectives": objectives, **before,
            "held_out_loss_after": denoising_loss(model, *held_out["span"], cfg.batch_size),
            "held_out_reconstruction_loss_after": reconstruction_loss(model, held_out["reconstruct"])}


PROBE = "The capital of France is <extra_id_0> and it is a city."  # fixed input of `fingerprint`


@torch.no_grad()
def fingerprint(model, tokenizer) -> torch.Tensor:
    """(5,) first logits after decoding `<pad> <extra_id_0>` for PROBE. `build` stores them, so a
    test can tell the saved weights from any other (a rebuild on another CPU kind differs: its
    float rounding changes, and its training steps amplify that)."""
    model.eval()
    batch = tokenizer([PROBE], return_tensors="pt")
    start = [[tokenizer.pad_token_id, tokenizer.convert_tokens_to_ids("<extra_id_0>")]]
    return model(**batch, decoder_input_ids=torch.tensor(start)).logits[0, -1, :5]  # logits (1, 2, vocab)


def print_loss_curve(losses: list[float], objectives: list[str], rows: int = 8) -> None:
    """Mean training loss of each objective over `rows` equal windows of steps."""
    losses, objectives = np.array(losses), np.array(objectives)
    edges = np.linspace(0, len(losses), rows + 1).astype(int)
    for lo, hi in zip(edges[:-1], edges[1:]):
        means = {name: losses[lo:hi][objectives[lo:hi] == name].mean() for name in ("span", "reconstruct")
                 if (objectives[lo:hi] == name).any()}
        print(f"  steps {lo:4d}-{hi - 1:4d}  " + "  ".join(f"{name} loss {value:.3f}" for name, value in means.items()))


@contextmanager
def one_thread():
    """Run torch on one thread: the same floats on any core count, and no stalls when other
    processes share the CPU (two threads were 3-10x slower per step than one on a busy 2-core
    machine, as each waits for the other at every operation)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def sentence_ids(sentences: list[str], tokenizer, max_tokens: int) -> list[np.ndarray]:
    """Each sentence as token ids without </s>, cut at `max_tokens`."""
    ids = tokenizer(sentences, add_special_tokens=False)["input_ids"]
    return [np.array(row[:max_tokens], dtype=np.int64) for row in ids]


def prepare_data(cfg: TinyT5Config):
    """(tokenizer, training blocks (n_blocks, block), training sentences (token ids), held-out
    batches of both objectives corrupted once)."""
    train_texts, held_out_texts = corpus_texts()
    tokenizer = train_tokenizer(train_texts, cfg)
    blocks = token_blocks(train_texts, tokenizer, cfg.block)                       # (n_blocks, block)
    sentences = sentence_ids(corpus_sentences(train_texts), tokenizer, cfg.sentence_tokens)
    sentinels = get_sentinel_ids(tokenizer, cfg.extra_ids)
    rng = np.random.default_rng(cfg.seed + 1)
    held_out_blocks = token_blocks(held_out_texts, tokenizer, cfg.block)[: cfg.eval_blocks]
    held_out_sentences = sentence_ids(corpus_sentences(held_out_texts), tokenizer, cfg.sentence_tokens)[: cfg.eval_blocks]
    held_out = {"span": corrupt_batch(held_out_blocks, sentinels, tokenizer.eos_token_id, rng, cfg),
                "reconstruct": reconstruct_batch(held_out_sentences, sentinels, tokenizer.eos_token_id,
                                                 tokenizer.pad_token_id, rng, cfg)}
    return tokenizer, blocks, sentences, held_out


def build(out: Path, cfg: TinyT5Config | None = None) -> None:
    """Train the tokenizer, pretrain the model, `save_pretrained` both into `out` with a
    `pretraining.json` report (config, loss curve, held-out loss before and after, fingerprint)."""
    cfg = cfg or TinyT5Config()
    start, cpu_start = time.perf_counter(), time.process_time()
    tokenizer, blocks, sentences, held_out = prepare_data(cfg)
    with one_thread(), torch.random.fork_rng():  # seed the init without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        model = make_model(cfg, tokenizer)
        history = pretrain(model, tokenizer, blocks, sentences, held_out, cfg)
        probe = fingerprint(model, tokenizer).tolist()
    losses = history["loss_curve"]
    print(f"tiny T5: {model.num_parameters() / 1e6:.1f}M parameters, {len(blocks)} blocks of {cfg.block} tokens, "
          f"{len(sentences)} sentences")
    print_loss_curve(losses, history["objectives"])
    print(f"held-out span-corruption loss {history['held_out_loss_before']:.3f} -> {history['held_out_loss_after']:.3f}; "
          f"reconstruction loss {history['held_out_reconstruction_loss_before']:.3f} -> "
          f"{history['held_out_reconstruction_loss_after']:.3f}")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    report = {"config": asdict(cfg), "parameters": model.num_parameters(), "train_blocks": len(blocks),
              "train_sentences": len(sentences),
              "first_loss": losses[0], "last_loss": float(np.mean(losses[-10:])),  # mean of the last 10 steps
              "seconds": round(time.perf_counter() - start, 1), "cpu_seconds": round(time.process_time() - cpu_start, 1),
              "corpus": CORPUS, "fingerprint": probe, **history}
    (out / "pretraining.json").write_text(json.dumps(report, indent=1))


def recipe() -> str:
    """Changes whenever TinyT5Config's defaults change: a cached T5 of another config is rebuilt."""
    config = json.dumps(asdict(TinyT5Config()), sort_keys=True)
    return "tiny-t5 config sha256 " + hashlib.sha256(config.encode()).hexdigest()[:16]


ASSET = register_derived("t5_tiny", "small T5 pretrained by shared.train.tiny_t5 on the offline corpus", build, recipe)
