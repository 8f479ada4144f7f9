"""Several pre-trained models on IMDB under one protocol: module 6, notebook 02, and its cached runs.

    cfg = ComparisonConfig()                         # the same reviews, tokens and seeds for every model
    minilm = load_results(encoder_run(cfg))          # an encoder fine-tuned with Trainer (module 4's recipe)
    smol = load_results(decoder_features_run(cfg))   # a frozen decoder's features, for a new linear head
    mlm = load_results(small_mlm_run(cfg))           # module 2's small MLM encoder, fine-tuned

The protocol, the same for every contender:
- data: `imdb_splits(n_train, n_validation, n_test, seed=0)` (module 4's split: the same training and
  validation reviews), each model reading the **last** `max_length` tokens of a review (its own
  tokenizer's tokens; the verdict is usually at the end);
- choices (learning rate, epochs, pooling, regularisation) on the validation reviews only; the test
  reviews are predicted once per seed;
- costs measured the same way: CPU seconds of training and of predicting on one torch thread.

Each run takes one to three CPU minutes, so each is a derived asset ("imdb_compare_minilm",
"imdb_compare_smollm2", "imdb_compare_mlm"; `journey assets` builds them ahead) keyed by a hash
of its recipe and the profile; the notebook fits the TF-IDF baseline and the decoder's head live.
"""
import hashlib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from ..assets import build_once, register_derived


@dataclass(frozen=True)
class ComparisonConfig:
    """The shared protocol and each contender's recipe; the defaults are the tiny profile's runs."""
    n_train: int = 384               # training reviews (module 4's 384)
    n_validation: int = 200          # validation reviews (module 4's 200)
    n_test: int = 800                # test reviews, predicted once per seed
    max_length: int = 128            # tokens each model reads: the end of the review
    seeds: tuple = (0, 1, 2)         # training seeds (head initialisation, batch order)
    precision: str = "bf16"          # "bf16" (CPU with AMX, A100), "fp16" (T4), "fp32"
    encoder: str | None = None       # None: the profile's encoder (tiny: all-MiniLM-L6-v2)
    encoder_lr: float = 2e-4         # module 4's validation sweep chose these four on the same reviews
    encoder_dropout: float = 0.1
    encoder_epochs: int = 1
    encoder_frozen_layers: int = 3   # lower blocks kept frozen (the token embeddings always are)
    batch_size: int = 8              # reviews per step
    decoder: str | None = None       # None: the profile's decoder LM (tiny: SmolLM2-135M-Instruct)
    feature_batch_size: int = 16     # reviews per forward pass of the frozen decoder
    mlm_lrs: tuple = (1e-3, 3e-3)    # small MLM: learning rates tried (chosen on validation)
    mlm_epochs: int = 6              # small MLM: epochs (the best one chosen on validation)
    mlm_batch_size: int = 16

    def splits(self):
        from .review_classifier import imdb_splits

        return imdb_splits(self.n_train, self.n_validation, self.n_test, seed=0)

    def classifier_config(self, model: str | None = None):
        """The `review_classifier.ClassifierConfig` of the encoder runs (module 4's recipe)."""
        from .review_classifier import ClassifierConfig

        return ClassifierConfig(model=model if model is not None else self.encoder, n_train=self.n_train,
                                max_length=self.max_length, truncation_side="left",
                                frozen_layers=self.encoder_frozen_layers, dropout=self.encoder_dropout,
                                epochs=self.encoder_epochs, batch_size=self.batch_size, lr=self.encoder_lr,
                                precision=self.precision)


def recipe(kind: str, cfg: ComparisonConfig, model: str | None = None) -> str:
    """Changes whenever the run would: its kind, the config, the model and the profile (and, for the
    small MLM, the recipe of the pretrained "mlm_tiny" it starts from)."""
    from ..profile import active_profile

    extra = {}
    if kind == "mlm":
        from .tiny_mlm import recipe_string

        extra["pretrained"] = recipe_string()
    spec = json.dumps({"kind": kind, "model": model, **asdict(cfg), "profile": active_profile().name, **extra},
                      sort_keys=True)
    return f"imdb comparison {kind} v1 sha256 " + hashlib.sha256(spec.encode()).hexdigest()[:16]


def _cache_name(kind: str, cfg: ComparisonConfig, model: str | None) -> str:
    default = {"encoder": "imdb_compare_minilm", "decoder": "imdb_compare_smollm2", "mlm": "imdb_compare_mlm"}[kind]
    if cfg == ComparisonConfig() and model is None:
        return default
    return default + "_" + recipe(kind, cfg, model).split()[-1]


def _one_thread():
    """Torch on one thread on a CPU (the same floats on any core count); returns a restore function."""
    import torch

    threads = torch.get_num_threads()
    if not torch.cuda.is_available():
        torch.set_num_threads(1)
    return lambda: torch.set_num_threads(threads)


def count_parameters(model) -> tuple[int, int]:
    """(all parameters, trained parameters)."""
    return (sum(p.numel() for p in model.parameters()),
            sum(p.numel() for p in model.parameters() if p.requires_grad))


def _save(out: Path, results: dict, **arrays) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=1))
    np.savez(out / "arrays.npz", **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})


def load_results(folder: Path) -> dict:
    """results.json plus its arrays (validation_probs / test_probs: (seeds, reviews) P(positive);
    features_*: (reviews, hidden))."""
    folder = Path(folder)
    results = json.loads((folder / "results.json").read_text())
    with np.load(folder / "arrays.npz") as arrays:
        results.update({k: arrays[k] for k in arrays.files})
    return results


def positive_probability(logits) -> np.ndarray:
    """(N, 2) logits -> (N,) softmax probability of the positive class."""
    logits = np.asarray(logits, dtype=np.float64)
    return 1 / (1 + np.exp(logits[:, 0] - logits[:, 1]))


# --- 1. an encoder fine-tuned with Trainer (module 4's recipe) --------------------------------------

def build_encoder(out: Path, cfg: ComparisonConfig, model: str | None = None) -> None:
    """Fine-tune the encoder once per seed; save P(positive) on validation and test and the costs."""
    import torch

    from .review_classifier import load_classifier, make_trainer, tokenize_reviews

    restore = _one_thread()
    splits, rows, probs = cfg.splits(), [], {"validation": [], "test": []}
    try:
        for seed in cfg.seeds:
            with torch.random.fork_rng():
                torch.manual_seed(seed)                      # the new head's initial weights
                classifier_cfg = cfg.classifier_config(model)
                network, tokenizer = load_classifier(classifier_cfg)
                features = tokenize_reviews(splits, tokenizer)
                trainer = make_trainer(network, tokenizer, features, classifier_cfg, out / "trainer", seed)
                start = time.process_time()
                trainer.train()
                train_cpu = time.process_time() - start
                start = time.process_time()
                for split, values in probs.items():
                    values.append(positive_probability(trainer.predict(features[split]).predictions))
                predict_cpu = time.process_time() - start
            total, trained = count_parameters(network)
            rows.append({"seed": seed, "train_cpu_s": train_cpu,
                         "predict_ms_per_review": 1000 * predict_cpu / (cfg.n_validation + cfg.n_test)})
    finally:
        restore()
    shutil.rmtree(out / "trainer", ignore_errors=True)
    _save(out, {"kind": "encoder", "model": model or cfg.encoder, "parameters": total, "trained_parameters": trained,
                "runs": rows}, validation_probs=probs["validation"], test_probs=probs["test"])


def encoder_run(cfg: ComparisonConfig, model: str | None = None) -> Path:
    """The cached fine-tuning runs of `model` (None: cfg.encoder), trained on first use."""
    return build_once(_cache_name("encoder", cfg, model), partial(build_encoder, cfg=cfg, model=model),
                      recipe("encoder", cfg, model))


# --- 2. a frozen decoder LM's features, for a new linear head ---------------------------------------

def decoder_features(model, tokenizer, texts, max_length: int, batch_size: int, precision: str = "bf16"):
    """Hidden states of a decoder's last layer (after its final norm) for each text's last
    `max_length` tokens: {"last": (N, d) the final token's vector (what
    `AutoModelForSequenceClassification` puts its `score` head on), "mean": (N, d) the mean over
    the tokens}. Texts are batched by length, so little padding is computed."""
    import torch

    tokenizer.truncation_side = "left"
    tokenizer.padding_side = "right"
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    last, mean = np.zeros((len(texts), model.config.hidden_size), np.float32), None
    mean = np.zeros_like(last)
    device = next(model.parameters()).device
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    for start in range(0, len(texts), batch_size):
        rows = order[start:start + batch_size]
        batch = tokenizer([texts[i] for i in rows], truncation=True, max_length=max_length, padding=True,
                          return_tensors="pt").to(device)
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            hidden = model.base_model(**batch).last_hidden_state.float()          # (B, T, d)
        mask = batch["attention_mask"].unsqueeze(-1).float()                       # (B, T, 1)
        final = batch["attention_mask"].sum(1) - 1                                 # (B,) index of the last token
        last[rows] = hidden[torch.arange(len(rows)), final].cpu().numpy()
        mean[rows] = ((hidden * mask).sum(1) / mask.sum(1)).cpu().numpy()
    return {"last": last, "mean": mean}


def load_decoder(cfg: ComparisonConfig):
    """(model, tokenizer): the decoder LM, in float32 on a CPU (autocast does bfloat16) and float16
    on a GPU."""
    import torch

    from ..models import load_causal_lm

    on_gpu = torch.cuda.is_available()
    model, tokenizer = load_causal_lm(cfg.decoder, dtype=torch.float16 if on_gpu else torch.float32)
    return model.to("cuda" if on_gpu else "cpu").eval(), tokenizer


def build_decoder(out: Path, cfg: ComparisonConfig) -> None:
    """Features of every review (train, validation, test) from the frozen decoder, and their cost."""
    restore = _one_thread()
    try:
        model, tokenizer = load_decoder(cfg)
        splits, arrays, cpu = cfg.splits(), {}, {}
        for split in ("train", "validation", "test"):
            start = time.process_time()
            for pooling, values in decoder_features(model, tokenizer, splits[split]["text"], cfg.max_length,
                                                    cfg.feature_batch_size, cfg.precision).items():
                arrays[f"features_{split}_{pooling}"] = values
            cpu[split] = time.process_time() - start
    finally:
        restore()
    total, _ = count_parameters(model.base_model)
    _save(out, {"kind": "decoder", "model": cfg.decoder, "parameters": total, "hidden_size": model.config.hidden_size,
                "features_cpu_s": cpu, "features_ms_per_review": {s: 1000 * cpu[s] / len(splits[s]) for s in cpu}},
          **arrays)


def decoder_features_run(cfg: ComparisonConfig) -> Path:
    return build_once(_cache_name("decoder", cfg, None), partial(build_decoder, cfg=cfg), recipe("decoder", cfg))


# --- 3. module 2's small MLM encoder, fine-tuned ----------------------------------------------------

def mlm_chunks(tokenizer, texts, max_length: int, block: int) -> np.ndarray:
    """(N, K, block) token ids: the last K * (block - 2) word pieces of each text, K = max_length //
    block, cut into K chunks of `[CLS] ... [SEP]` (the small MLM was pretrained on `block`-token
    sequences), filled from the first chunk, padded with [PAD]; the same `max_length` positions as
    the other models read."""
    k, body = max_length // block, block - 2
    ids = np.full((len(texts), k, block), tokenizer.pad_token_id, dtype=np.int64)
    for row, pieces in enumerate(tokenizer(list(texts), add_special_tokens=False)["input_ids"]):
        pieces = pieces[-k * body:]
        for chunk in range(k):
            part = pieces[chunk * body:(chunk + 1) * body]
            ids[row, chunk, :len(part) + 2] = [tokenizer.cls_token_id, *part, tokenizer.sep_token_id]
    return ids


def _mlm_classifier_class():
    import torch
    from torch import nn

    class SmallMLMClassifier(nn.Module):
        """The pretrained small MLM's embeddings, blocks and final norm (its word-prediction layer
        dropped) + a new linear head on the mean of the review's word-piece vectors."""

        def __init__(self, mlm, pad_id: int, special_ids: list[int], n_labels: int = 2):
            super().__init__()
            self.tokens, self.positions, self.encoder, self.norm = mlm.tokens, mlm.positions, mlm.encoder, mlm.norm
            self.embed_scale, self.pad_id = mlm.embed_scale, pad_id
            self.register_buffer("special_ids", torch.tensor(special_ids), persistent=False)
            self.head = nn.Linear(mlm.norm.normalized_shape[0], n_labels)

        def forward(self, ids):                                                   # ids (B, K, T)
            b, k, t = ids.shape
            flat = ids.view(b * k, t)                                             # (B*K, T)
            x = self.embed_scale * self.tokens(flat) + self.positions(torch.arange(t, device=ids.device))
            hidden = self.norm(self.encoder(x, src_key_padding_mask=flat == self.pad_id))  # (B*K, T, d)
            words = ~torch.isin(flat, self.special_ids)                          # (B*K, T) word pieces only
            hidden = (hidden * words.unsqueeze(-1)).view(b, k * t, -1).sum(1)     # (B, d)
            pooled = hidden / words.view(b, k * t).sum(1, keepdim=True).clamp(min=1)
            return self.head(pooled)                                              # (B, n_labels)

    return SmallMLMClassifier


def load_small_mlm(seed: int):
    """(classifier, tokenizer, block): pretraining seed `seed` of module 2's small MLM ("mlm_tiny"),
    with a new 2-way head."""
    import torch
    from transformers import PreTrainedTokenizerFast

    from .tiny_mlm import MLMRecipe, make_model, pretrained_mlm

    folder, mlm_recipe = pretrained_mlm(), MLMRecipe()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(folder / "tokenizer"))
    mlm = make_model(mlm_recipe, len(tokenizer), seed)
    mlm.load_state_dict(torch.load(folder / f"seed{seed}.pt", map_location="cpu"))
    specials = [tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id]
    torch.manual_seed(seed)                                                       # the new head's weights
    return _mlm_classifier_class()(mlm, tokenizer.pad_token_id, specials), tokenizer, mlm_recipe.block


def train_small_mlm(seed: int, lr: float, cfg: ComparisonConfig, ids: dict, labels: dict):
    """Fine-tune everything with AdamW (linear decay); returns (validation accuracy per epoch,
    P(positive) on validation and test after each epoch, training CPU seconds)."""
    import torch
    from torch.nn import functional as F

    model, _, _ = load_small_mlm(seed)
    steps_per_epoch = -(-cfg.n_train // cfg.mlm_batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / (steps_per_epoch * cfg.mlm_epochs))
    generator = torch.Generator().manual_seed(seed)
    x_train, y_train = torch.from_numpy(ids["train"]), torch.from_numpy(labels["train"])
    accuracy, probs, cpu = [], [], 0.0
    for _ in range(cfg.mlm_epochs):
        start = time.process_time()
        model.train()
        for rows in torch.randperm(len(x_train), generator=generator).split(cfg.mlm_batch_size):
            loss = F.cross_entropy(model(x_train[rows]), y_train[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
        cpu += time.process_time() - start
        model.eval()
        with torch.no_grad():
            epoch_probs = {s: torch.softmax(model(torch.from_numpy(ids[s])), -1)[:, 1].numpy() for s in ("validation", "test")}
        accuracy.append(float(np.mean((epoch_probs["validation"] > 0.5) == labels["validation"])))
        probs.append(epoch_probs)
    return accuracy, probs, cpu


def build_small_mlm(out: Path, cfg: ComparisonConfig) -> None:
    """Every learning rate x seed, scored on validation after every epoch; the (learning rate,
    epoch) with the best mean validation accuracy over the seeds is kept."""
    import torch

    restore = _one_thread()
    try:
        splits = cfg.splits()
        model, tokenizer, block = load_small_mlm(cfg.seeds[0])
        ids = {s: mlm_chunks(tokenizer, splits[s]["text"], cfg.max_length, block) for s in splits}
        labels = {s: np.array(splits[s]["label"]) for s in splits}
        sweep, runs = [], {}
        with torch.random.fork_rng():
            for lr in cfg.mlm_lrs:
                for seed in cfg.seeds:
                    accuracy, probs, cpu = train_small_mlm(seed, lr, cfg, ids, labels)
                    runs[lr, seed] = probs, cpu
                    sweep += [{"lr": lr, "seed": seed, "epoch": e + 1, "validation_accuracy": a}
                              for e, a in enumerate(accuracy)]
        start = time.process_time()
        with torch.no_grad():
            model.eval()(torch.from_numpy(ids["test"]))
        predict_ms = 1000 * (time.process_time() - start) / cfg.n_test
    finally:
        restore()
    means = {}
    for row in sweep:
        means.setdefault((row["lr"], row["epoch"]), []).append(row["validation_accuracy"])
    best_lr, best_epoch = max(means, key=lambda key: (np.mean(means[key]), -key[1]))
    total, trained = count_parameters(model)
    rows = [{"seed": seed, "train_cpu_s": runs[best_lr, seed][1] * best_epoch / cfg.mlm_epochs,
             "predict_ms_per_review": predict_ms} for seed in cfg.seeds]
    _save(out, {"kind": "mlm", "model": "mlm_tiny", "parameters": total, "trained_parameters": trained,
                "chosen": {"lr": best_lr, "epoch": best_epoch}, "sweep": sweep, "runs": rows},
          validation_probs=[runs[best_lr, s][0][best_epoch - 1]["validation"] for s in cfg.seeds],
          test_probs=[runs[best_lr, s][0][best_epoch - 1]["test"] for s in cfg.seeds])


def small_mlm_run(cfg: ComparisonConfig) -> Path:
    return build_once(_cache_name("mlm", cfg, None), partial(build_small_mlm, cfg=cfg), recipe("mlm", cfg))


# --- statistics shared by the comparison ------------------------------------------------------------

def bootstrap_accuracy(correct: np.ndarray, n_resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean accuracy over seeds. `correct`: (seeds, reviews) bools;
    the test reviews are resampled (the same resample for every seed)."""
    correct = np.atleast_2d(correct).astype(np.float64)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, correct.shape[1], (n_resamples, correct.shape[1]))       # (R, N)
    means = correct[:, rows].mean(axis=(0, 2))                                      # (R,)
    return tuple(np.percentile(means, [2.5, 97.5]))


def mcnemar_p(a_correct: np.ndarray, b_correct: np.ndarray) -> float:
    """Exact two-sided McNemar test on paired predictions: the p-value of "A and B are equally
    accurate", from the reviews exactly one of them gets right."""
    from scipy.stats import binomtest

    a_only = int(np.sum(a_correct & ~b_correct))
    b_only = int(np.sum(~a_correct & b_correct))
    if a_only + b_only == 0:
        return 1.0
    return float(binomtest(a_only, a_only + b_only, 0.5).pvalue)


ASSETS = [
    register_derived("imdb_compare_minilm", "all-MiniLM-L6-v2 fine-tuned on 384 IMDB reviews, 3 seeds, with its "
                     "validation and test predictions (shared.train.model_comparison)",
                     partial(build_encoder, cfg=ComparisonConfig()), partial(recipe, "encoder", ComparisonConfig())),
    register_derived("imdb_compare_smollm2", "SmolLM2-135M features of 1,384 IMDB reviews "
                     "(shared.train.model_comparison)",
                     partial(build_decoder, cfg=ComparisonConfig()), partial(recipe, "decoder", ComparisonConfig())),
    register_derived("imdb_compare_mlm", "module 2's small MLM fine-tuned on 384 IMDB reviews, 3 seeds "
                     "(shared.train.model_comparison)",
                     partial(build_small_mlm, cfg=ComparisonConfig()), partial(recipe, "mlm", ComparisonConfig())),
]
