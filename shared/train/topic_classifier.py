"""Fine-tune a pre-trained encoder to classify documents by topic (20 Newsgroups) with `Trainer`:
the recipe of module 6, notebook 01, and its cached run.

    cfg = TopicClassifierConfig()
    splits = topic_splits(cfg)                       # train / validation / test, with topic names
    model, tokenizer = load_topic_classifier(cfg, topic_names(splits))
    trainer = make_trainer(model, tokenizer, tokenize_topics(splits, tokenizer), cfg, output_dir)
    trainer.train()                                  # best epoch by validation macro-F1

A run of the tiny profile (1,000 posts x 4 epochs with a 22M-parameter encoder, plus the forward
passes over 1,000 validation and 3,000 test posts) takes several CPU minutes, so `fine_tuned_dir`
trains it once and caches the model, its log and its validation and test logits (the derived
asset "newsgroups_classifier", built ahead by `journey assets`); the notebook replays its first
steps live and checks that the cached model gives the cached answers.
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


def _mean_pooled_class():
    """`BertForSequenceClassification` that classifies the **mean** of the token vectors instead
    of the `[CLS]` vector (BERT's pooler). Sentence encoders such as all-MiniLM-L6-v2 were trained
    to put a text's meaning into that mean, so a new head learns from it in far fewer steps. The
    weights keep BERT's names (`bert.*`, `classifier.*`): `from_pretrained` loads any BERT
    checkpoint into it, and `save_pretrained` folders reload with this class."""
    from torch import nn
    from transformers import BertForSequenceClassification, BertModel
    from transformers.modeling_outputs import SequenceClassifierOutput

    from ..nn.encoder import mean_pool

    class MeanPooledBertForSequenceClassification(BertForSequenceClassification):
        def __init__(self, config):
            super().__init__(config)
            self.bert = BertModel(config, add_pooling_layer=False)  # no [CLS] pooler: its weights go unused
            self.post_init()

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state        # (B, T, hidden)
            pooled = mean_pool(hidden, attention_mask)                                  # (B, hidden)
            logits = self.classifier(self.dropout(pooled))                              # (B, num_labels)
            loss = nn.functional.cross_entropy(logits.float(), labels) if labels is not None else None
            return SequenceClassifierOutput(loss=loss, logits=logits)

    return MeanPooledBertForSequenceClassification


MeanPooledBertForSequenceClassification = None  # set on first use (keeps `import torch` out of module import)


def mean_pooled_class():
    """The class above, created once."""
    global MeanPooledBertForSequenceClassification
    if MeanPooledBertForSequenceClassification is None:
        MeanPooledBertForSequenceClassification = _mean_pooled_class()
    return MeanPooledBertForSequenceClassification


@dataclass
class TopicClassifierConfig:
    """One fine-tuning run; the defaults are the tiny profile's cached run."""
    dataset: str = "20newsgroups"  # a shared.data dataset with text / label / topic columns
    model: str | None = None       # None: the profile's encoder (tiny: all-MiniLM-L6-v2)
    n_train: int = 1_000           # training posts (a seeded sample of the training split)
    n_validation: int = 1_000      # validation posts, held out of the training split
    n_test: int | None = 3_000     # test posts (a seeded sample; None: the whole test split)
    max_length: int = 128          # tokens read per post (subject line first, then the body)
    truncation_side: str = "right" # "right": keep the beginning (subject and opening lines)
    freeze_embeddings: bool = True # keep the token embeddings as pre-trained
    dropout: float = 0.1           # hidden and attention dropout (BERT's default)
    epochs: int = 4                # passes over the training posts; the best one is kept
    batch_size: int = 16           # posts per step
    lr: float = 2e-4               # peak learning rate (AdamW), linear warmup then linear decay
    warmup: float = 0.1            # fraction of the steps with a linear warmup
    weight_decay: float = 0.01     # AdamW weight decay
    eval_batch_size: int = 64      # posts per prediction batch
    precision: str = "bf16"        # "bf16" (CPUs with AMX, A100), "fp16" (T4), "fp32"
    seed: int = 0                  # the new head's initial weights and the batch order

    def cache_name(self) -> str:
        if self == TopicClassifierConfig():
            return "newsgroups_classifier"
        return "newsgroups_classifier_" + recipe(self).split()[-1]


def topic_splits(cfg: TopicClassifierConfig):
    """train / validation / test. Train and validation come from the dataset's training split
    (validation: the last `n_validation` posts of a seeded shuffle, so it stays the same whatever
    `n_train`), test is the whole test split (20 Newsgroups: by date, later than training) or a
    seeded sample of `n_test` posts."""
    from datasets import DatasetDict

    from ..data import load_dataset

    data = load_dataset(cfg.dataset)
    pool = data["train"].shuffle(seed=0)
    if cfg.n_train + cfg.n_validation > len(pool):
        raise ValueError(f"n_train + n_validation = {cfg.n_train + cfg.n_validation} > {len(pool)} training posts")
    test = data["test"] if cfg.n_test is None else data["test"].shuffle(seed=0).select(range(cfg.n_test))
    return DatasetDict(train=pool.select(range(cfg.n_train)),
                       validation=pool.select(range(len(pool) - cfg.n_validation, len(pool))),
                       test=test)


def topic_names(splits) -> list[str]:
    """The topic name of each label index (label i = i-th name)."""
    pairs = {label: topic for split in splits.values() for label, topic in zip(split["label"], split["topic"])}
    return [pairs[i] for i in range(len(pairs))]


def load_topic_classifier(cfg: TopicClassifierConfig, topics: list[str]):
    """(model, tokenizer): the pre-trained encoder (a BERT architecture) with a new
    `len(topics)`-way head on the mean of its token vectors (its token embeddings frozen if
    `cfg.freeze_embeddings`); the tokenizer cuts at `max_length`."""
    from ..models import load_encoder

    model, tokenizer = load_encoder(
        cfg.model, model_class=mean_pooled_class(), num_labels=len(topics),
        id2label=dict(enumerate(topics)), label2id={topic: i for i, topic in enumerate(topics)},
        hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout)
    if cfg.freeze_embeddings:
        model.base_model.embeddings.word_embeddings.requires_grad_(False)  # vocabulary x hidden
    tokenizer.truncation_side = cfg.truncation_side
    tokenizer.model_max_length = cfg.max_length     # saved with the tokenizer: a reloaded one cuts the same way
    return model, tokenizer


def tokenize_topics(splits, tokenizer):
    """input_ids and attention_mask of every post, cut at `model_max_length`; padding is left to
    the collator (each batch to its own longest post)."""
    return splits.map(lambda batch: tokenizer(batch["text"], truncation=True), batched=True,
                      remove_columns=["text", "topic"])


def classification_metrics(predictions, references) -> dict:
    """accuracy and macro / micro precision, recall and F1, from the course's `evaluate` metrics."""
    from ..metrics import load

    scores = load("accuracy").compute(predictions=predictions, references=references)
    for name in ("precision", "recall", "f1"):
        metric = load(name)
        for average in ("macro", "micro"):
            kwargs = {"zero_division": 0} if name != "f1" else {}
            scores[f"{average}_{name}"] = metric.compute(predictions=predictions, references=references,
                                                         average=average, **kwargs)[name]
    return scores


def compute_metrics(prediction) -> dict:
    """For `Trainer(compute_metrics=...)`: logits -> the predicted topic -> classification_metrics."""
    logits, references = prediction                  # (N, n_topics), (N,)
    return classification_metrics(np.asarray(logits).argmax(-1), references)


def make_trainer(model, tokenizer, features, cfg: TopicClassifierConfig, output_dir):
    """A `Trainer` over `features["train"]` that scores `features["validation"]` after every
    epoch and, at the end, goes back to the epoch with the best validation macro-F1."""
    from transformers import Trainer, TrainingArguments

    from ..utils import get_device

    args = TrainingArguments(
        output_dir=str(output_dir), num_train_epochs=cfg.epochs, learning_rate=cfg.lr,
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.eval_batch_size,
        lr_scheduler_type="linear", warmup_steps=cfg.warmup, weight_decay=cfg.weight_decay, max_grad_norm=1.0,
        logging_steps=1, eval_strategy="epoch", save_strategy="epoch", save_total_limit=1,
        load_best_model_at_end=True, metric_for_best_model="macro_f1", greater_is_better=True,
        save_only_model=True, report_to="none", bf16=cfg.precision == "bf16", fp16=cfg.precision == "fp16",
        use_cpu=get_device() == "cpu", dataloader_pin_memory=False, seed=cfg.seed, data_seed=cfg.seed)
    return Trainer(model=model, args=args, train_dataset=features["train"], eval_dataset=features["validation"],
                   processing_class=tokenizer, compute_metrics=compute_metrics)


def build(out: Path, cfg: TopicClassifierConfig | None = None) -> None:
    """Fine-tune with `cfg` and save the best epoch's model and tokenizer, `run.json` (config,
    topics, log history, CPU seconds) and the validation and test logits (`.npy`)."""
    import torch

    cfg = cfg or TopicClassifierConfig()
    threads = torch.get_num_threads()
    if not torch.cuda.is_available():
        torch.set_num_threads(1)  # the same floats on any core count
    start = time.process_time()
    try:
        with torch.random.fork_rng():
            torch.manual_seed(cfg.seed)  # the new head's initial weights
            splits = topic_splits(cfg)
            topics = topic_names(splits)
            model, tokenizer = load_topic_classifier(cfg, topics)
            features = tokenize_topics(splits, tokenizer)
            trainer = make_trainer(model, tokenizer, features, cfg, out / "trainer")
            train_output = trainer.train()
            logits = {split: trainer.predict(features[split]).predictions for split in ("validation", "test")}
    finally:
        torch.set_num_threads(threads)
    shutil.rmtree(out / "trainer", ignore_errors=True)  # checkpoints: the best one is loaded
    trainer.save_model(str(out / "model"))
    for split, values in logits.items():
        np.save(out / f"{split}_logits.npy", values.astype(np.float32))
    report = {"config": asdict(cfg), "topics": topics, "log_history": trainer.state.log_history,
              "best_checkpoint_step": int(trainer.state.best_model_checkpoint.rsplit("-", 1)[-1]),
              "train_runtime": train_output.metrics["train_runtime"],
              "cpu_seconds": round(time.process_time() - start, 1)}
    (out / "run.json").write_text(json.dumps(report, indent=1))


def recipe(cfg: TopicClassifierConfig | None = None) -> str:
    """Changes whenever the run would: the config, and the profile (its data and base model)."""
    from ..profile import active_profile

    cfg = cfg or TopicClassifierConfig()
    config = json.dumps({**asdict(cfg), "profile": active_profile().name}, sort_keys=True)
    return "topic classifier v1 sha256 " + hashlib.sha256(config.encode()).hexdigest()[:16]


def fine_tuned_dir(cfg: TopicClassifierConfig) -> Path:
    """The folder of the run with `cfg`: trained on first use, then cached (the tiny profile's
    default run is built ahead by `journey assets`)."""
    return build_once(cfg.cache_name(), partial(build, cfg=cfg), recipe(cfg))


def load_run(folder: Path) -> dict:
    """run.json plus the cached `validation_logits` and `test_logits` arrays."""
    folder = Path(folder)
    run = json.loads((folder / "run.json").read_text())
    for split in ("validation", "test"):
        run[f"{split}_logits"] = np.load(folder / f"{split}_logits.npy")
    return run


ASSET = register_derived("newsgroups_classifier", "all-MiniLM-L6-v2 fine-tuned on 1,000 20 Newsgroups posts, "
                         "with its validation and test logits (shared.train.topic_classifier)",
                         partial(build, cfg=TopicClassifierConfig()), recipe)
