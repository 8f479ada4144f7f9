"""The test bench of module 8: one small byte-level GPT on one corpus, so that every notebook of the
module (initialisation, optimisers, schedules, clipping, precision, batch size) trains the same model
on the same tokens and their numbers can be compared.

    bench = ByteBench.build(work_dir, train_chars=3_000_000, block_size=32, n_layer=2, n_head=4, n_embd=64)
    trainer = bench.train(TrainConfig(max_steps=64, batch_size=16, lr=3e-3), seed=0)
    trainer.history.val_loss[-1]

The corpus is module 5's (`load_dataset("wikitext")`: whole Wikipedia articles in train / validation
/ test splits) read as UTF-8 bytes, so the vocabulary is 256 and no tokenizer is trained.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..nn.gpt import GPT, GPTConfig
from .pretrain import TokenWindows, TrainConfig, Trainer, write_tokens


def byte_windows(texts, path, block_size: int) -> TokenWindows:
    """Articles joined by blank lines, written once as a byte-token file, read as random windows."""
    data = "\n\n".join(texts).encode("utf-8")
    return TokenWindows(write_tokens(np.frombuffer(data, dtype=np.uint8), path), block_size)  # (N,) values 0..255


@dataclass
class ByteBench:
    train_data: TokenWindows     # training articles
    val_data: TokenWindows       # validation articles: every choice is made on these
    test_data: TokenWindows      # test articles: reported once
    model_config: GPTConfig

    @classmethod
    def build(cls, work_dir, train_chars: int, block_size: int, n_layer: int, n_head: int, n_embd: int,
              dropout: float = 0.0) -> "ByteBench":
        from ..data import load_dataset
        from ..text.tokenization import take_up_to

        corpus = load_dataset("wikitext")
        work_dir = Path(work_dir)
        work_dir.mkdir(parents=True, exist_ok=True)
        splits = {"train": take_up_to(corpus["train"]["text"], train_chars),
                  "validation": corpus["validation"]["text"], "test": corpus["test"]["text"]}
        windows = {name: byte_windows(texts, work_dir / f"{name}.bin", block_size) for name, texts in splits.items()}
        config = GPTConfig(vocab_size=256, block_size=block_size, n_layer=n_layer, n_head=n_head, n_embd=n_embd,
                           dropout=dropout)
        return cls(windows["train"], windows["validation"], windows["test"], config)

    def model(self, seed: int = 0, **overrides) -> GPT:
        """A fresh GPT-2-initialised model; the seed fixes its weights (overrides: e.g. n_layer=12)."""
        torch.manual_seed(seed)
        config = GPTConfig(**{**self.model_config.__dict__, **overrides})
        return GPT(config)

    def train(self, train_cfg: TrainConfig, seed: int = 0, model=None, optimizer=None, device="cpu",
              progress: bool = False, lr_schedule=None) -> Trainer:
        """Train `model` (default: a fresh one from `seed`) for train_cfg.max_steps and return the Trainer
        (its `.history` and `.model`). `optimizer(model)` builds another optimizer than AdamW;
        `lr_schedule(step)` gives another learning rate per step than warmup + cosine."""
        model = (model if model is not None else self.model(seed)).to(device)
        train_cfg.seed = seed  # batch order and dropout follow the same seed as the weights
        trainer = Trainer(model, self.train_data, self.val_data, train_cfg,
                          optimizer=optimizer(model) if optimizer else None, lr_schedule=lr_schedule)
        trainer.train(progress=progress)
        return trainer

    def unigram_loss(self, windows: TokenWindows, n_tokens: int) -> float:
        """A no-context baseline: -log P(byte) under add-one byte frequencies of the training file,
        averaged over the first n_tokens targets of `windows`."""
        counts = np.bincount(self.train_data.tokens, minlength=256) + 1   # (256,)
        logprob = np.log(counts / counts.sum())
        return float(-logprob[windows.tokens[1:n_tokens + 1].astype(np.int64)].mean())
