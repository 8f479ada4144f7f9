"""A word-level LSTM language model trained once with truncated BPTT and cached (notebook 2/03 runs
the same loop live for a few steps, checks that it reproduces the start of this run, then loads it).

    folder = trained_rnn_lms(RNNRecipe())                  # built on first use, then cached
    models, history = load_rnn_lms(folder, RNNRecipe(), vocab_size)

The data are module 1's: `shared.text.ngram.sentences_of` on the offline Wikipedia articles
(`load_dataset("wikitext")`), the training articles up to `train_tokens` tokens, and the vocabulary
of `NGramLM(min_count=...)`, so the LSTM predicts exactly the n-gram model's symbols.

Importing this module registers the tiny recipe as the derived asset "rnn_lm_tiny" (`journey assets`
builds it: a few minutes on one CPU core).
"""
import hashlib
import json
import math
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import torch
from torch.nn import functional as F

from ..assets import build_once, register_derived
from ..nn.rnn_lm import RNNLanguageModel, batchify, bptt_windows, detach, mean_nll
from ..utils import tqdm
from .pretrain import cosine_with_warmup

EVAL_ROWS = 16  # held-out streams are cut into this many rows


@dataclass(frozen=True)
class RNNRecipe:
    train_tokens: int = 130_000  # training text: whole articles until this many tokens
    min_count: int = 5           # vocabulary: training words seen >= min_count times; others are <unk>
    dim: int = 128               # embedding = hidden size (tying needs them equal)
    layers: int = 1              # LSTM layers
    dropout: float = 0.3         # on the embeddings and the LSTM output
    batch_size: int = 16         # parallel streams (rows)
    bptt: int = 32               # truncated-BPTT window: tokens per step and row
    lr: float = 1e-2             # peak Adam learning rate
    min_lr_ratio: float = 0.05   # cosine decay of the learning rate to lr * min_lr_ratio at the last step
    clip: float = 1.0            # max global gradient norm
    epochs: int = 5              # passes over the training stream
    seeds: tuple = (0, 1, 2)     # one LSTM per seed

    def cache_name(self) -> str:
        return "rnn_lm_tiny" if self == RNNRecipe() else f"rnn_lm_{fingerprint(self)}"


def fingerprint(recipe: RNNRecipe) -> str:
    return hashlib.sha256(json.dumps(asdict(recipe), sort_keys=True).encode()).hexdigest()[:16]


def recipe_string(recipe: RNNRecipe | None = None) -> str:
    """Changes whenever the build would: the recipe and the profile (its data)."""
    from ..profile import active_profile

    recipe = recipe or RNNRecipe()
    return f"rnn lm v1 {fingerprint(recipe)} profile {active_profile().name}"


def corpus(train_tokens: int) -> tuple[list, list, list]:
    """(train, validation, test) sentences: training articles up to `train_tokens` tokens; the held-out
    articles alternate between validation (even) and test (odd)."""
    from ..data import load_dataset
    from ..text.ngram import sentences_of

    wikitext = load_dataset("wikitext")
    train_sentences, n_tokens = [], 0
    for text in wikitext["train"]["text"]:
        if n_tokens >= train_tokens:
            break
        article = sentences_of(text)
        train_sentences += article
        n_tokens += sum(len(s) for s in article)
    held_out = [sentences_of(text) for text in wikitext["validation"]["text"]]
    return (train_sentences, [s for a in held_out[0::2] for s in a], [s for a in held_out[1::2] for s in a])


def stream(vocab_lm, sentences) -> torch.Tensor:
    """(N,) ids: </s> s1 </s> s2 </s> ...; out-of-vocabulary words -> <unk>."""
    from ..text.ngram import EOS

    return torch.tensor(vocab_lm.ids([EOS] + [w for s in sentences for w in [*s, EOS]]))


def make_model(recipe: RNNRecipe, vocab_size: int, seed: int) -> RNNLanguageModel:
    torch.manual_seed(seed)  # initial weights
    return RNNLanguageModel(vocab_size, recipe.dim, num_layers=recipe.layers, cell="lstm", dropout=recipe.dropout)


def train_rnn_lm(model, train_data, recipe: RNNRecipe, seed: int, max_steps: int | None = None,
                 val_data=None, progress: bool = True):
    """Truncated BPTT with a carried state and gradient clipping, `recipe.epochs` passes over
    `train_data` (B, L) (or the first `max_steps` steps); returns (losses, pre-clipping gradient norms,
    validation perplexity after each epoch (empty without `val_data` (B', L')))."""
    torch.manual_seed(seed)  # the dropout masks
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    losses, grad_norms, val_ppl = [], [], []
    steps_per_epoch = len(range(0, train_data.size(1) - 1, recipe.bptt))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: cosine_with_warmup(
        step, 0, recipe.epochs * steps_per_epoch, recipe.min_lr_ratio))   # no warmup: Adam from step 0
    total = recipe.epochs * steps_per_epoch if max_steps is None else min(max_steps, recipe.epochs * steps_per_epoch)
    bar = tqdm(total=total, desc=f"LSTM seed {seed}", disable=not progress, mininterval=5)
    for _ in range(recipe.epochs):
        state = None                                              # a fresh start at the top of the rows
        for x, y in bptt_windows(train_data, recipe.bptt):        # (B, T) inputs and next tokens
            if len(losses) == total:
                bar.close()
                return losses, grad_norms, val_ppl
            logits, state = model(x, detach(state))               # carry the state, cut the graph
            loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.clip).item())
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            bar.update()
        if val_data is not None:
            val_ppl.append(math.exp(mean_nll(model, val_data, recipe.bptt)))
    bar.close()
    return losses, grad_norms, val_ppl


@contextmanager
def _threads(device: str):
    """One torch thread on the CPU while building: the same floats on any core count."""
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _train_seed(recipe: RNNRecipe, seed: int, out: Path) -> dict:
    """Train one seed (in its own process: one torch thread, its own random state); save its weights
    to out/seed<k>.pt and return its log (with the process's CPU seconds)."""
    from ..text.ngram import NGramLM

    cpu_start = time.process_time()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train_sentences, val_sentences, _ = corpus(recipe.train_tokens)
    vocab_lm = NGramLM(1, min_count=recipe.min_count).fit(train_sentences)
    train_data = batchify(stream(vocab_lm, train_sentences), recipe.batch_size).to(device)
    val_data = batchify(stream(vocab_lm, val_sentences), EVAL_ROWS).to(device)
    with _threads(device), torch.random.fork_rng():
        model = make_model(recipe, vocab_lm.vocab_size, seed).to(device)
        losses, grad_norms, val_ppl = train_rnn_lm(model, train_data, recipe, seed, val_data=val_data, progress=False)
    torch.save(model.state_dict(), Path(out) / f"seed{seed}.pt")
    print(f"LSTM seed {seed}: validation perplexity by epoch {[round(p, 1) for p in val_ppl]}")
    return {"losses": losses, "grad_norms": grad_norms, "val_ppl": val_ppl, "vocab_size": vocab_lm.vocab_size,
            "cpu_seconds": time.process_time() - cpu_start}


def build(out: Path, recipe: RNNRecipe | None = None) -> None:
    """One LSTM per seed, each trained in its own process (all at once: each result depends only on
    its seed); writes `seed<k>.pt` state dicts and `history.json` (losses, gradient norms, validation
    perplexity after each epoch, CPU seconds) into `out`."""
    recipe = recipe or RNNRecipe()
    start = time.perf_counter()
    logs = in_processes(_train_seed, [(recipe, seed, out) for seed in recipe.seeds])
    history = {str(seed): log for seed, log in zip(recipe.seeds, logs)}
    report = {"recipe": asdict(recipe), "vocab_size": logs[0]["vocab_size"], "history": history,
              "seconds": round(time.perf_counter() - start, 1),
              "cpu_seconds": round(sum(log["cpu_seconds"] for log in logs), 1)}
    (out / "history.json").write_text(json.dumps(report))


def in_processes(function, argument_tuples: list[tuple]) -> list:
    """function(*arguments) for each tuple, each in a fresh (spawned) process, all at once; on a GPU
    machine, one after another in this process."""
    if torch.cuda.is_available():
        return [function(*arguments) for arguments in argument_tuples]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(len(argument_tuples), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(function, *arguments) for arguments in argument_tuples]
        return [future.result() for future in futures]


def trained_rnn_lms(recipe: RNNRecipe | None = None) -> Path:
    """The folder of the runs trained with `recipe`: built on first use, then cached (the tiny recipe
    is built ahead by `journey assets`)."""
    recipe = recipe or RNNRecipe()
    return build_once(recipe.cache_name(), partial(build, recipe=recipe), recipe_string(recipe))


def load_rnn_lms(folder: Path, recipe: RNNRecipe, vocab_size: int, device: str = "cpu"):
    """({seed: trained model}, history dict) from a folder written by `build`."""
    history = json.loads((Path(folder) / "history.json").read_text())
    models = {}
    for seed in recipe.seeds:
        model = make_model(recipe, vocab_size, seed)
        model.load_state_dict(torch.load(Path(folder) / f"seed{seed}.pt", map_location=device))
        models[seed] = model.to(device)
    return models, history


ASSET = register_derived("rnn_lm_tiny", "word-level LSTM language models, 3 seeds (shared.train.tiny_rnn_lm, "
                         "notebook 2/03)", partial(build, recipe=RNNRecipe()), recipe_string)
