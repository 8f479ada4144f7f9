"""A small BERT-style encoder pretrained with the masked-language-model objective, trained once and
cached (notebook 2/04 trains the same loop live for a few seconds, then loads this longer run).

    folder = pretrained_mlm(MLMRecipe())          # built on first use, then cached
    tokenizer, models, history = load_pretrained_mlm(folder, MLMRecipe(), device)

The steps, one short function each:
1. `corpus_texts`: the offline Wikipedia articles (`load_dataset("wikitext")`): training articles up to
   `train_tokens` words, and the held-out validation articles.
2. `wordpiece_tokenizer`: a lower-cased BERT-style WordPiece vocabulary trained on the training text,
   renumbered (specials first, then alphabetically) so every run gets the same ids.
3. `blocks_of`: one token stream cut into full blocks `[CLS] ... [SEP]` (no padding).
4. `train_mlm`: AdamW (decay on matrices only), warmup + cosine decay (`cosine_with_warmup`, the course's
   one schedule), fresh 80/10/10 masks every step (`shared.nn.mlm.mask_tokens`), gradient clipping.
5. `masked_eval_set` / `evaluate`: held-out blocks masked once; top-1 accuracy and perplexity at the
   positions whose input is `[MASK]` (the only ones where the answer is hidden), and at all selected ones.

Importing this module registers the tiny recipe as the derived asset "mlm_tiny" (`journey assets`
builds it: about 3 minutes on one CPU core).
"""
import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch
from torch.nn import functional as F

from ..assets import build_once, register_derived
from ..nn.mlm import IGNORE_INDEX, MaskedLM, mask_tokens
from ..utils import tqdm
from .pretrain import cosine_with_warmup

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@dataclass(frozen=True)
class MLMRecipe:
    train_tokens: int = 300_000   # training text: whole articles until this many words
    tokenizer: str = "train"      # "train": a new WordPiece vocabulary; "encoder": load_encoder()'s tokenizer
    vocab_size: int = 2000        # WordPiece vocabulary when trained here
    block: int = 32               # tokens per sequence, [CLS] and [SEP] included
    dim: int = 64                 # model width
    heads: int = 2                # attention heads
    layers: int = 2               # transformer blocks
    ff: int = 256                 # feed-forward width
    dropout: float = 0.0          # dropout in the encoder blocks
    batch_size: int = 64          # sequences per step
    steps: int = 1500             # optimizer steps per seed
    warmup: int = 100             # linear warmup steps, then cosine decay
    min_lr_ratio: float = 0.1     # learning rate at the last step / peak
    lr: float = 3e-3              # peak AdamW learning rate
    embed_scale: float = 8.0      # token embeddings: N(0, 0.02) storage times this at the input (sqrt(dim))
    weight_decay: float = 0.01    # AdamW, on matrices only
    eval_every: int = 250         # steps between held-out evaluations
    eval_blocks: int = 256        # held-out sequences, masked once
    seeds: tuple = (0, 1, 2)      # one model per seed

    def cache_name(self) -> str:
        return "mlm_tiny" if self == MLMRecipe() else f"mlm_{fingerprint(self)}"


def fingerprint(recipe: MLMRecipe) -> str:
    return hashlib.sha256(json.dumps(asdict(recipe), sort_keys=True).encode()).hexdigest()[:16]


def recipe_string(recipe: MLMRecipe | None = None) -> str:
    """Changes whenever the build would: the recipe and the profile (its data)."""
    from ..profile import active_profile

    recipe = recipe or MLMRecipe()
    return f"tiny MLM v1 {fingerprint(recipe)} profile {active_profile().name}"


# --- 1-3. text, tokenizer, blocks ---------------------------------------------------------------

def corpus_texts(train_tokens: int) -> tuple[list[str], list[str]]:
    """(training articles up to `train_tokens` words, held-out validation articles)."""
    from ..data import load_dataset

    wikitext = load_dataset("wikitext")
    train_texts, n_words = [], 0
    for text in wikitext["train"]["text"]:
        if n_words >= train_tokens:
            break
        train_texts.append(text)
        n_words += len(text.split())
    return train_texts, list(wikitext["validation"]["text"])


def wordpiece_tokenizer(texts: list[str], vocab_size: int):
    """A BERT-style (lower-cased) WordPiece tokenizer trained on `texts`, as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    backend.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIALS))
    # the trainer numbers the pieces in an order that varies from run to run (the set of pieces does not);
    # renumber them (specials first, then alphabetically) so every run gets the same ids
    pieces = SPECIALS + sorted(set(backend.get_vocab()) - set(SPECIALS))
    backend.model = models.WordPiece({piece: i for i, piece in enumerate(pieces)}, unk_token="[UNK]")
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def make_tokenizer(recipe: MLMRecipe, train_texts: list[str]):
    if recipe.tokenizer == "train":
        return wordpiece_tokenizer(train_texts, recipe.vocab_size)
    from ..models import load_encoder

    return load_encoder()[1]


def random_ids_of(tokenizer, recipe: MLMRecipe) -> torch.Tensor:
    """The ids a random replacement is drawn from: ordinary word pieces only (bert-base-uncased keeps
    its specials and [unused] entries below id 999)."""
    return torch.arange(len(SPECIALS) if recipe.tokenizer == "train" else 999, len(tokenizer))


def blocks_of(tokenizer, texts: list[str], block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, block) token ids and the (N, block) bool mask of special positions ([CLS] first, [SEP] last)."""
    ids = [i for encoding in tokenizer(texts, add_special_tokens=False)["input_ids"]
           for i in [*encoding, tokenizer.sep_token_id]]
    body = block - 2
    n = len(ids) // body
    chunks = torch.tensor(ids[:n * body]).view(n, body)                           # (N, block - 2)
    cls = torch.full((n, 1), tokenizer.cls_token_id)
    sep = torch.full((n, 1), tokenizer.sep_token_id)
    blocks = torch.cat([cls, chunks, sep], dim=1)                                  # (N, block)
    special = torch.zeros_like(blocks, dtype=torch.bool)
    special[:, [0, -1]] = True
    return blocks, special


# --- 4-5. evaluation and training ---------------------------------------------------------------

@dataclass
class EvalSet:
    """Held-out blocks masked once: every evaluation (and every seed) scores the same positions."""
    inputs: torch.Tensor     # (N, T) after masking
    labels: torch.Tensor     # (N, T) original ids at the selected positions, IGNORE_INDEX elsewhere
    mask_id: int
    selected: torch.Tensor = field(init=False)   # (N, T) bool: the 15%
    masked: torch.Tensor = field(init=False)     # (N, T) bool: selected and replaced by [MASK]

    def __post_init__(self):
        self.selected = self.labels != IGNORE_INDEX
        self.masked = self.selected & (self.inputs == self.mask_id)

    def to(self, device):
        return EvalSet(self.inputs.to(device), self.labels.to(device), self.mask_id)


def masked_eval_set(blocks, special, tokenizer, random_ids, n_blocks: int, seed: int = 123) -> EvalSet:
    inputs, labels = mask_tokens(blocks[:n_blocks], special[:n_blocks], tokenizer.mask_token_id, random_ids,
                                 generator=torch.Generator().manual_seed(seed))
    return EvalSet(inputs, labels, tokenizer.mask_token_id)


@torch.no_grad()
def evaluate(model, held: EvalSet) -> dict[str, float]:
    """Top-1 accuracy and perplexity at the held-out [MASK] positions (the answer is hidden), and the
    accuracy at every selected position (which includes the 10% left unchanged: the answer is visible)."""
    was_training = model.training
    model.eval()
    logits = model(held.inputs, held.selected)                                  # (M, V), selected positions
    targets = held.labels[held.selected]                                        # (M,)
    at_mask = held.masked[held.selected]                                        # (M,) bool
    model.train(was_training)
    correct = (logits.argmax(-1) == targets).float()
    return {"masked_top1": correct[at_mask].mean().item(),
            "masked_perplexity": F.cross_entropy(logits[at_mask], targets[at_mask]).exp().item(),
            "selected_top1": correct.mean().item()}


def make_model(recipe: MLMRecipe, vocab_size: int, seed: int) -> MaskedLM:
    torch.manual_seed(seed)
    return MaskedLM(vocab_size, recipe.dim, recipe.heads, recipe.layers, recipe.ff, recipe.block, recipe.dropout,
                    recipe.embed_scale)


def train_mlm(model, blocks, special, recipe: MLMRecipe, mask_id: int, random_ids, seed: int,
              held: EvalSet | None = None, steps: int | None = None, progress: bool = True):
    """Train `model` for `steps` (default recipe.steps) on fresh masks; returns (per-step losses,
    [(step, evaluate(...))] every `eval_every` steps when `held` is given). The learning rate follows
    `cosine_with_warmup` over `recipe.steps`, so a shorter run is the start of the full one."""
    device = next(model.parameters()).device
    rng = torch.Generator().manual_seed(seed)
    matrices = [p for p in model.parameters() if p.dim() == 2]
    others = [p for p in model.parameters() if p.dim() != 2]
    optimizer = torch.optim.AdamW([{"params": matrices, "weight_decay": recipe.weight_decay},
                                   {"params": others, "weight_decay": 0.0}], lr=recipe.lr, betas=(0.9, 0.98))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_with_warmup(step, recipe.warmup, recipe.steps, recipe.min_lr_ratio))
    losses, evaluations = [], ([(0, evaluate(model, held))] if held is not None else [])
    for step in tqdm(range(steps or recipe.steps), desc=f"MLM seed {seed}", disable=not progress, mininterval=5):
        rows = torch.randint(len(blocks), (recipe.batch_size,), generator=rng)
        inputs, labels = mask_tokens(blocks[rows], special[rows], mask_id, random_ids, generator=rng)  # (B, T)
        inputs, labels = inputs.to(device), labels.to(device)
        selected = labels != IGNORE_INDEX
        loss = F.cross_entropy(model(inputs, selected), labels[selected])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if held is not None and (step + 1) % recipe.eval_every == 0:
            evaluations.append((step + 1, evaluate(model, held)))
    return losses, evaluations


@contextmanager
def one_thread():
    """Torch on one thread while building: the same floats on any core count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _train_seed(recipe: MLMRecipe, seed: int, out: Path) -> dict:
    """Train one seed (in its own process: one torch thread, its own random state); save its weights
    (and, for the first seed, the tokenizer) into `out`; return its log with the CPU seconds."""
    cpu_start = time.process_time()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train_texts, held_out_texts = corpus_texts(recipe.train_tokens)
    tokenizer = make_tokenizer(recipe, train_texts)
    blocks, special = blocks_of(tokenizer, train_texts, recipe.block)
    held = masked_eval_set(*blocks_of(tokenizer, held_out_texts, recipe.block), tokenizer,
                           random_ids_of(tokenizer, recipe), recipe.eval_blocks).to(device)
    with one_thread() if device == "cpu" else _nothing(), torch.random.fork_rng():
        model = make_model(recipe, len(tokenizer), seed).to(device)
        losses, evaluations = train_mlm(model, blocks, special, recipe, tokenizer.mask_token_id,
                                        random_ids_of(tokenizer, recipe), seed, held, progress=False)
    torch.save(model.state_dict(), Path(out) / f"seed{seed}.pt")
    if seed == recipe.seeds[0]:
        tokenizer.save_pretrained(Path(out) / "tokenizer")
    print(f"MLM seed {seed}: held-out [MASK] top-1 {evaluations[-1][1]['masked_top1']:.3f}")
    return {"losses": losses, "evaluations": evaluations, "cpu_seconds": time.process_time() - cpu_start}


def build(out: Path, recipe: MLMRecipe | None = None) -> None:
    """Tokenizer + one model per seed, each trained in its own process (all at once: each result
    depends only on its seed); writes the tokenizer, `seed<k>.pt` state dicts and `history.json`
    (losses, held-out evaluations, CPU seconds) into `out`."""
    from .tiny_rnn_lm import in_processes

    recipe = recipe or MLMRecipe()
    start = time.perf_counter()
    logs = in_processes(_train_seed, [(recipe, seed, out) for seed in recipe.seeds])
    report = {"recipe": asdict(recipe), "history": {str(seed): log for seed, log in zip(recipe.seeds, logs)},
              "seconds": round(time.perf_counter() - start, 1),
              "cpu_seconds": round(sum(log["cpu_seconds"] for log in logs), 1)}
    (out / "history.json").write_text(json.dumps(report))


@contextmanager
def _nothing():
    yield


def pretrained_mlm(recipe: MLMRecipe | None = None) -> Path:
    """The folder of the run trained with `recipe`: built on first use, then cached (the tiny recipe
    is built ahead by `journey assets`)."""
    recipe = recipe or MLMRecipe()
    return build_once(recipe.cache_name(), partial(build, recipe=recipe), recipe_string(recipe))


def load_history(folder: Path) -> dict:
    return json.loads((Path(folder) / "history.json").read_text())


ASSET = register_derived("mlm_tiny", "small BERT-style encoder pretrained with MLM, 3 seeds "
                         "(shared.train.tiny_mlm, notebook 2/04)", partial(build, recipe=MLMRecipe()), recipe_string)
