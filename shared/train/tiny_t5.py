"""A small T5 pretrained from scratch on the offline corpus, so the tiny profile has a real
encoder-decoder (no installable package ships T5 weights).

    build(out)   # tokenizer + span-corruption pretraining: a few minutes on one CPU core

Importing this module registers `build` as the derived asset "t5_tiny":
`shared.assets.require("t5_tiny")` then calls it once and caches the folder; `load_seq2seq()` loads it with `AutoTokenizer` / `AutoModelForSeq2SeqLM` like any hub checkpoint.

The steps, one short function each:
1. `train_tokenizer`: a subword vocabulary with T5's special tokens (`<pad>`=0, `</s>`=1,
   `<unk>`=2, sentinels `<extra_id_0>`.. at the top of the vocabulary, as in t5-small).
2. `token_blocks`: the corpus as one token stream cut into fixed-length blocks.
3. `span_corrupt`: T5's denoising objective (Raffel et al. 2020, section 3.1.4): drop 15% of the
   tokens in spans of mean length 3, replace each span by a sentinel in the input, and ask the
   decoder for `<extra_id_0> span0 <extra_id_1> span1 ... </s>`.
4. `pretrain`: AdamW with linear warmup and cosine decay (`shared.train.pretrain.cosine_with_warmup`,
   the course's one schedule), a loss curve, and a held-out loss before/after.
"""
import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ..assets import register_derived
from ..utils import tqdm
from .pretrain import cosine_with_warmup


@dataclass
class TinyT5Config:
    # tokenizer
    vocab_size: int = 8000       # all ids: 3 specials + learned subwords + sentinels
    extra_ids: int = 100         # sentinel tokens <extra_id_0> .. <extra_id_99>, as in T5
    # model (t5-small: d_model 512, d_ff 2048, 6+6 layers, 8 heads, 60M parameters). With 2+2
    # layers a step costs half as much as with 4+4, so twice the steps fit in the budget: a lower
    # loss after 2 minutes, and faster fine-tuning in the notebooks.
    d_model: int = 256           # width of the residual stream
    d_ff: int = 1024             # hidden size of each feed-forward block
    num_layers: int = 2          # encoder layers (the decoder has as many)
    num_heads: int = 4           # attention heads, each d_model // num_heads = 64 wide
    # pretraining: ~0.3 s per step on one core in bfloat16, ~4 minutes in all
    block: int = 128             # tokens per uncorrupted example
    noise_density: float = 0.15  # fraction of each block that is masked
    mean_span: float = 3.0       # mean length of a masked span
    batch_size: int = 16         # blocks per step
    steps: int = 700             # optimizer steps (fixed, so the result does not depend on speed)
    lr: float = 5e-3             # peak learning rate (AdamW); 3e-4, 1e-3 and 3e-3 learned slower
    warmup: int = 35             # linear warmup steps, then cosine decay to lr * min_lr_ratio
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


def pretrain(model, tokenizer, blocks: np.ndarray, held_out: tuple[torch.Tensor, torch.Tensor],
             cfg: TinyT5Config) -> dict:
    """AdamW on freshly corrupted batches; returns the loss history."""
    rng = np.random.default_rng(cfg.seed)
    sentinels = get_sentinel_ids(tokenizer, cfg.extra_ids)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, cfg))
    order = rng.permutation(len(blocks))  # a shuffled pass over the corpus (wraps if needed)
    held_out_before = denoising_loss(model, *held_out, cfg.batch_size)
    losses = []
    model.train()
    for step in (bar := tqdm(range(cfg.steps), desc="pretraining tiny T5")):
        rows = order[np.arange(step * cfg.batch_size, (step + 1) * cfg.batch_size) % len(order)]
        inputs, targets = corrupt_batch(blocks[rows], sentinels, tokenizer.eos_token_id, rng, cfg)  # (B, T_in), (B, T_out)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
            loss = model(input_ids=inputs, labels=targets).loss  # mean cross-entropy over target tokens
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return {"loss_curve": losses, "held_out_loss_before": held_out_before,
            "held_out_loss_after": denoising_loss(model, *held_out, cfg.batch_size)}


PROBE = "The capital of France is <extra_id_0> and it is a city."  # fixed input of `fingerprint`


@torch.no_grad()
def fingerprint(model, tokenizer) -> torch.Tensor:
    """(5,) first logits after decoding `<pad> <extra_id_0>` for PROBE. `build` stores them, so a
    test can tell the saved weights from any other (a rebuild on another CPU kind differs: its
    float rounding changes, and 240 training steps amplify that)."""
    model.eval()
    batch = tokenizer([PROBE], return_tensors="pt")
    start = [[tokenizer.pad_token_id, tokenizer.convert_tokens_to_ids("<extra_id_0>")]]
    return model(**batch, decoder_input_ids=torch.tensor(start)).logits[0, -1, :5]  # logits (1, 2, vocab)


def print_loss_curve(losses: list[float], rows: int = 8) -> None:
    """Mean training loss over `rows` equal windows of steps."""
    edges = np.linspace(0, len(losses), rows + 1).astype(int)
    for lo, hi in zip(edges[:-1], edges[1:]):
        print(f"  steps {lo:4d}-{hi - 1:4d}  loss {np.mean(losses[lo:hi]):.3f}")


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


def prepare_data(cfg: TinyT5Config):
    """(tokenizer, training blocks (n_blocks, block), held-out (inputs, targets) corrupted once)."""
    train_texts, held_out_texts = corpus_texts()
    tokenizer = train_tokenizer(train_texts, cfg)
    blocks = token_blocks(train_texts, tokenizer, cfg.block)                       # (n_blocks, block)
    held_out_blocks = token_blocks(held_out_texts, tokenizer, cfg.block)[: cfg.eval_blocks]
    held_out = corrupt_batch(held_out_blocks, get_sentinel_ids(tokenizer, cfg.extra_ids), tokenizer.eos_token_id,
                             np.random.default_rng(cfg.seed + 1), cfg)
    return tokenizer, blocks, held_out


def build(out: Path, cfg: TinyT5Config | None = None) -> None:
    """Train the tokenizer, pretrain the model, `save_pretrained` both into `out` with a
    `pretraining.json` report (config, loss curve, held-out loss before and after, fingerprint)."""
    cfg = cfg or TinyT5Config()
    start, cpu_start = time.perf_counter(), time.process_time()
    tokenizer, blocks, held_out = prepare_data(cfg)
    with one_thread(), torch.random.fork_rng():  # seed the init without touching the caller's RNG
        torch.manual_seed(cfg.seed)
        model = make_model(cfg, tokenizer)
        history = pretrain(model, tokenizer, blocks, held_out, cfg)
        probe = fingerprint(model, tokenizer).tolist()
    losses = history["loss_curve"]
    print(f"tiny T5: {model.num_parameters() / 1e6:.1f}M parameters, {len(blocks)} blocks of {cfg.block} tokens")
    print_loss_curve(losses)
    print(f"held-out denoising loss {history['held_out_loss_before']:.3f} -> {history['held_out_loss_after']:.3f}")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    report = {"config": asdict(cfg), "parameters": model.num_parameters(), "train_blocks": len(blocks),
              "first_loss": losses[0], "last_loss": float(np.mean(losses[-10:])),  # mean of the last 10 steps
              "seconds": round(time.perf_counter() - start, 1), "cpu_seconds": round(time.process_time() - cpu_start, 1),
              "corpus": CORPUS, "fingerprint": probe, **history}
    (out / "pretraining.json").write_text(json.dumps(report, indent=1))


def recipe() -> str:
    """Changes whenever TinyT5Config's defaults change: a cached T5 of another config is rebuilt."""
    config = json.dumps(asdict(TinyT5Config()), sort_keys=True)
    return "tiny-t5 config sha256 " + hashlib.sha256(config.encode()).hexdigest()[:16]


ASSET = register_derived("t5_tiny", "small T5 pretrained by shared.train.tiny_t5 on the offline corpus", build, recipe)
