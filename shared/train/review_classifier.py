"""Fine-tune a BERT-style encoder to classify IMDB reviews with `Trainer`: the recipe of module 4,
notebook 02, and the validation sweep that chose its tiny settings.

    splits = imdb_splits(n_train=384, n_validation=200, n_test=400, seed=0)
    model, tokenizer = load_classifier(ClassifierConfig())
    trainer = make_trainer(model, tokenizer, splits, ClassifierConfig(), output_dir, seed=0)
    trainer.train()

Every setting of the tiny profile that changes accuracy (reviews x tokens per review, learning
rate, dropout) was chosen on a **validation** split carved from IMDB's training reviews, never on
the test reviews: `sweep` trains each candidate with two seeds and scores it on validation. It is
the derived asset "imdb_classifier_sweep" (about 3 CPU minutes, built once by `journey assets`);
the notebook shows its table and evaluates the chosen settings on the test reviews once.
"""
import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..assets import register_derived

LABELS = {0: "negative", 1: "positive"}


@dataclass
class ClassifierConfig:
    """One fine-tuning run. The defaults are the sweep's starting point; notebook 02's tiny config
    takes the candidate with the best validation accuracy."""
    model: str | None = None       # None: the profile's encoder (tiny: all-MiniLM-L6-v2)
    n_train: int = 384             # training reviews
    max_length: int = 128          # tokens read per review
    truncation_side: str = "left"  # "left": keep the end of a long review, where the verdict is
    frozen_layers: int = 3         # lower encoder blocks kept frozen (the embeddings always are)
    dropout: float = 0.0           # hidden and attention dropout
    epochs: int = 1                # passes over the training reviews
    batch_size: int = 8            # reviews per step
    lr: float = 2e-4               # peak learning rate (AdamW), linear warmup then linear decay
    warmup: float = 0.1            # fraction of the steps with a linear warmup
    logging_steps: int = 4         # steps between training-loss log entries
    eval_batch_size: int = 50      # reviews per prediction batch
    precision: str = "bf16"        # "bf16" (CPUs with AMX, A100), "fp16" (T4), "fp32"


def remove_line_breaks(batch: dict) -> dict:
    """IMDB reviews keep the HTML line breaks of their web pages: `<br />` becomes a space."""
    return {"text": [text.replace("<br />", " ") for text in batch["text"]]}


def imdb_splits(n_train: int, n_validation: int, n_test: int, seed: int):
    """train / validation / test reviews, line breaks removed. Train and validation come from
    IMDB's training reviews (validation: the last `n_validation` of a seeded shuffle, so it stays
    the same whatever `n_train`), test from its test reviews."""
    from datasets import DatasetDict

    from ..data import load_dataset

    imdb = load_dataset("imdb")
    pool = imdb["train"].shuffle(seed=seed)
    if n_train + n_validation > len(pool):
        raise ValueError(f"n_train + n_validation = {n_train + n_validation} > {len(pool)} training reviews")
    splits = DatasetDict(train=pool.select(range(n_train)),
                         validation=pool.select(range(len(pool) - n_validation, len(pool))),
                         test=imdb["test"].shuffle(seed=seed).select(range(n_test)))
    return splits.map(remove_line_breaks, batched=True)


def load_classifier(cfg: ClassifierConfig):
    """(model, tokenizer): the pre-trained encoder with a new 2-way head, its embeddings and lower
    `frozen_layers` blocks frozen; the tokenizer cuts at `max_length` on `truncation_side`."""
    from transformers import AutoModelForSequenceClassification

    from ..models import load_encoder

    model, tokenizer = load_encoder(
        cfg.model, model_class=AutoModelForSequenceClassification, num_labels=2,
        id2label=LABELS, label2id={name: i for i, name in LABELS.items()},
        hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout)
    encoder = model.base_model                      # BertModel: embeddings, encoder.layer[0..L-1], pooler
    encoder.embeddings.requires_grad_(False)        # 30,522 x hidden word vectors: kept as pre-trained
    for block in encoder.encoder.layer[:cfg.frozen_layers] if cfg.frozen_layers else []:  # (DistilBERT: no .encoder)
        block.requires_grad_(False)
    tokenizer.truncation_side = cfg.truncation_side
    tokenizer.model_max_length = cfg.max_length     # saved with the tokenizer: a reloaded one cuts the same way
    return model, tokenizer


def tokenize_reviews(splits, tokenizer):
    """input_ids and attention_mask of every review, cut at the tokenizer's `model_max_length`
    (padding is left to the collator: each batch to its own longest review)."""
    return splits.map(lambda batch: tokenizer(batch["text"], truncation=True), batched=True, remove_columns=["text"])


def make_trainer(model, tokenizer, features, cfg: ClassifierConfig, output_dir, seed: int, compute_metrics=None):
    """A `Trainer` over the training features (`features["train"]`), with `cfg`'s settings."""
    from transformers import Trainer, TrainingArguments

    from ..utils import get_device

    args = TrainingArguments(
        output_dir=str(output_dir), num_train_epochs=cfg.epochs, learning_rate=cfg.lr,
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.eval_batch_size,
        lr_scheduler_type="linear", warmup_steps=cfg.warmup, weight_decay=0.01, max_grad_norm=1.0,
        logging_steps=cfg.logging_steps, eval_strategy="no", save_strategy="no", report_to="none",
        bf16=cfg.precision == "bf16", fp16=cfg.precision == "fp16", use_cpu=get_device() == "cpu",
        seed=seed, data_seed=seed)
    return Trainer(model=model, args=args, train_dataset=features["train"], processing_class=tokenizer,
                   compute_metrics=compute_metrics)


# --- the validation sweep ---------------------------------------------------------------------

# Candidates around the tiny settings, one change at a time; each costs about the same CPU time
# (256 tokens per review at half the reviews: the same tokens per epoch).
SWEEP = {
    "128 tokens x 384 reviews, lr 2e-4, dropout 0": {},
    "lr 2e-5 (BERT's usual)": {"lr": 2e-5},
    "lr 1e-3": {"lr": 1e-3},
    "dropout 0.1 (BERT's default)": {"dropout": 0.1},
    "256 tokens x 192 reviews": {"max_length": 256, "n_train": 192},
}
SWEEP_SEEDS = (0, 1)
N_VALIDATION = 200  # validation reviews (IMDB training reviews, never used for training)


def reuse_frozen_outputs(model, frozen_layers: int, dropout: float, cache: dict) -> None:
    """Make the frozen lower blocks of `model` look their output up in `cache` (keyed by the exact
    bytes of their input and attention mask, and the train/eval mode), computing it on a miss.

    The frozen blocks are the same pre-trained weights in every sweep run, so the same batch gives
    them the same input and hence the same output: the learning-rate candidates of one seed see the
    same training batches, and every 128-token candidate predicts the same validation batches. The
    result is exactly what the blocks compute (the same floats); only the repeats are skipped. Not
    while training with dropout: then the blocks' output is random, and it is computed every time."""
    layers = list(model.base_model.encoder.layer[:frozen_layers])
    if not layers:
        return
    if any(p.requires_grad for module in (model.base_model.embeddings, *layers) for p in module.parameters()):
        raise ValueError(f"the embeddings and the first {frozen_layers} blocks must be frozen (requires_grad_(False), "
                         "as load_classifier does): a cached output would cut their gradient")
    forwards = [layer.forward for layer in layers]           # the blocks' own forward methods

    def frozen_blocks(hidden_states, attention_mask=None, *args, **kwargs):
        if layers[0].training and dropout > 0:               # random masks: nothing to reuse
            for forward in forwards:
                hidden_states = forward(hidden_states, attention_mask, *args, **kwargs)
            return hidden_states
        key = (layers[0].training, _digest(hidden_states), None if attention_mask is None else _digest(attention_mask))
        if key not in cache:
            for forward in forwards:
                hidden_states = forward(hidden_states, attention_mask, *args, **kwargs)
            cache[key] = hidden_states                       # frozen: it carries no gradient
        return cache[key]

    layers[0].forward = frozen_blocks                        # runs all the frozen blocks...
    for layer in layers[1:]:
        layer.forward = lambda hidden_states, *args, **kwargs: hidden_states  # ...so these pass through


def _digest(tensor) -> tuple:
    """dtype, shape and a hash of the exact bytes of `tensor`."""
    import torch

    data = tensor.detach().cpu().contiguous().view(-1)
    return str(data.dtype), tuple(tensor.shape), hashlib.blake2b(data.view(torch.uint8).numpy().tobytes()).hexdigest()


def validation_accuracy(cfg: ClassifierConfig, seed: int, output_dir: Path, features=None,
                        frozen_cache: dict | None = None) -> float:
    """Train `cfg` with `seed` and return its accuracy on the validation reviews. A sweep passes the
    tokenized `features` of an earlier run with the same reviews and tokenizer settings, and one
    `frozen_cache` for all runs (`reuse_frozen_outputs`): the same floats, computed once."""
    import torch

    torch.manual_seed(seed)  # the new head's initial weights
    model, tokenizer = load_classifier(cfg)
    if features is None:
        splits = imdb_splits(cfg.n_train, N_VALIDATION, n_test=1, seed=0)  # data fixed; only training varies
        features = tokenize_reviews(splits, tokenizer)
    if frozen_cache is not None:
        reuse_frozen_outputs(model, cfg.frozen_layers, cfg.dropout, frozen_cache)
    trainer = make_trainer(model, tokenizer, features, cfg, output_dir, seed)
    trainer.train()
    logits = trainer.predict(features["validation"]).predictions  # (n_validation, 2)
    return float(np.mean(logits.argmax(-1) == np.array(features["validation"]["label"])))


def sweep(out: Path) -> None:
    """Every SWEEP candidate x SWEEP_SEEDS, scored on validation: `sweep.json`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same floats on any core count
    start = time.process_time()
    features, frozen_cache, rows = {}, {}, []  # tokenized reviews by data settings; frozen blocks' outputs
    try:
        with torch.random.fork_rng():
            for name, changes in SWEEP.items():
                cfg = replace(ClassifierConfig(), **changes)
                data = (cfg.model, cfg.n_train, cfg.max_length, cfg.truncation_side)
                if data not in features:
                    splits = imdb_splits(cfg.n_train, N_VALIDATION, n_test=1, seed=0)
                    features[data] = tokenize_reviews(splits, load_classifier(cfg)[1])
                for seed in SWEEP_SEEDS:
                    accuracy = validation_accuracy(cfg, seed, out / "trainer", features[data], frozen_cache)
                    rows.append({"candidate": name, "seed": seed, **asdict(cfg), "validation_accuracy": accuracy})
    finally:
        torch.set_num_threads(threads)
    shutil.rmtree(out / "trainer", ignore_errors=True)
    report = {"n_validation": N_VALIDATION, "cpu_seconds": round(time.process_time() - start, 1), "runs": rows}
    (out / "sweep.json").write_text(json.dumps(report, indent=1))


def load_sweep(folder: Path) -> dict:
    return json.loads((Path(folder) / "sweep.json").read_text())


def sweep_recipe() -> str:
    """Changes whenever the sweep would: its candidates, seeds, validation size and base settings."""
    spec = json.dumps({"base": asdict(ClassifierConfig()), "sweep": SWEEP, "seeds": SWEEP_SEEDS,
                       "n_validation": N_VALIDATION}, sort_keys=True)
    return "imdb classifier sweep v1 sha256 " + hashlib.sha256(spec.encode()).hexdigest()[:16]


ASSET = register_derived("imdb_classifier_sweep", "validation accuracy of notebook 4/02's candidate settings "
                         "(shared.train.review_classifier)", sweep, sweep_recipe)
