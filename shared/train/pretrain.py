"""Pre-training loop for `shared.nn.gpt.GPT`: token files, random windows, AdamW with warmup +
cosine decay, gradient clipping, periodic evaluation, and exact checkpoint/resume.

    ids = tokenizer.encode(text).ids
    train = TokenWindows(write_tokens(ids_train, "train.bin"), block_size=128)
    trainer = Trainer(model, train, val, TrainConfig(max_steps=300))
    history = trainer.train()

Resume is exact: a checkpoint holds the model, the optimizer, the step and every random state
(batch sampling and dropout), so a run stopped at step k and resumed reaches the same loss, bit
for bit, as an uninterrupted one (tests/test_pretrain.py).
"""
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..utils import tqdm


def write_tokens(ids, path) -> Path:
    """Save token ids once as a flat binary file (uint16 when the vocabulary allows)."""
    ids = np.asarray(ids)
    dtype = np.uint16 if ids.max() < 2**16 else np.uint32
    path = Path(path)
    ids.astype(dtype).tofile(path)
    path.with_suffix(".dtype").write_text(np.dtype(dtype).name)
    return path


class TokenWindows:
    """Random (input, target) windows from a memory-mapped token file: nothing is loaded whole."""

    def __init__(self, path, block_size: int):
        path = Path(path)
        dtype = np.dtype(path.with_suffix(".dtype").read_text())
        self.tokens = np.memmap(path, dtype=dtype, mode="r")  # (N,)
        self.block_size = block_size
        if len(self.tokens) <= block_size:
            raise ValueError(f"{path} has {len(self.tokens)} tokens, fewer than block_size + 1")

    def __len__(self):
        return len(self.tokens)

    def batch(self, batch_size: int, generator: torch.Generator):
        """x, y: (B, T) with y shifted one token to the right of x."""
        starts = torch.randint(len(self.tokens) - self.block_size - 1, (batch_size,), generator=generator)
        rows = [torch.from_numpy(self.tokens[s:s + self.block_size + 1].astype(np.int64)) for s in starts.tolist()]
        chunk = torch.stack(rows)                   # (B, T + 1)
        return chunk[:, :-1], chunk[:, 1:]

    def sequential(self, batch_size: int):
        """Every non-overlapping window once, in order (for a deterministic held-out loss)."""
        T = self.block_size
        n = (len(self.tokens) - 1) // T
        data = torch.from_numpy(self.tokens[: n * T + 1].astype(np.int64))
        for first in range(0, n, batch_size):
            rows = range(first, min(first + batch_size, n))
            yield (torch.stack([data[r * T:(r + 1) * T] for r in rows]),
                   torch.stack([data[r * T + 1:(r + 1) * T + 1] for r in rows]))


@dataclass
class TrainConfig:
    max_steps: int = 300          # optimizer steps
    batch_size: int = 16          # windows per step
    lr: float = 3e-3              # peak learning rate (after warmup)
    min_lr: float = 3e-4          # floor of the cosine decay
    warmup_steps: int = 30        # linear warmup from 0 to lr
    weight_decay: float = 0.1     # AdamW, on matrices only (not biases, norms)
    betas: tuple = (0.9, 0.95)    # AdamW moments
    grad_clip: float = 1.0        # max global gradient norm (0 disables)
    eval_interval: int = 50       # steps between held-out evaluations
    eval_max_batches: int = 20    # held-out batches per evaluation (sequential windows)
    checkpoint_interval: int = 0  # steps between checkpoints (0: none)
    seed: int = 0


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to cfg.lr, then cosine decay to cfg.min_lr at cfg.max_steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (cfg.lr - cfg.min_lr)


def make_optimizer(model, cfg: TrainConfig) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.dim() >= 2]      # weight matrices and embeddings
    no_decay = [p for p in model.parameters() if p.dim() < 2]    # biases and norm gains
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


@dataclass
class History:
    steps: list = field(default_factory=list)        # step of each training loss
    train_loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)
    eval_steps: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)


class Trainer:
    def __init__(self, model, train: TokenWindows, val: TokenWindows | None, cfg: TrainConfig,
                 checkpoint_dir=None, on_eval=None):
        self.model, self.train_data, self.val_data, self.cfg = model, train, val, cfg
        self.optimizer = make_optimizer(model, cfg)
        self.generator = torch.Generator().manual_seed(cfg.seed)  # batch sampling
        torch.manual_seed(cfg.seed)                                 # dropout
        self.step = 0
        self.history = History()
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.on_eval = on_eval  # called as on_eval(trainer) after each evaluation (e.g. print samples)

    @property
    def device(self) -> torch.device:
        """Where the model lives; batches are moved there."""
        return next(self.model.parameters()).device

    @torch.no_grad()
    def evaluate(self) -> float:
        """Mean loss over the first `eval_max_batches` sequential held-out batches."""
        self.model.eval()
        losses = []
        for i, (x, y) in enumerate(self.val_data.sequential(self.cfg.batch_size)):
            if i == self.cfg.eval_max_batches:
                break
            losses.append(self.model(x.to(self.device), targets=y.to(self.device))[1].item())
        self.model.train()
        return float(np.mean(losses))

    def train_step(self) -> float:
        lr = lr_at(self.step, self.cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x, y = self.train_data.batch(self.cfg.batch_size, self.generator)   # built on the CPU
        _, loss = self.model(x.to(self.device), targets=y.to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip = self.cfg.grad_clip if self.cfg.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip).item()
        self.optimizer.step()
        self.step += 1
        h = self.history
        h.steps.append(self.step), h.train_loss.append(loss.item()), h.lr.append(lr), h.grad_norm.append(grad_norm)
        return loss.item()

    def train(self, until_step: int | None = None, progress: bool = True) -> History:
        """Train up to `until_step` (default: max_steps), evaluating and checkpointing on schedule."""
        stop = min(until_step or self.cfg.max_steps, self.cfg.max_steps)
        self.model.train()
        bar = tqdm(range(self.step, stop), desc="training", disable=not progress, leave=False)
        for _ in bar:
            loss = self.train_step()
            bar.set_postfix(loss=f"{loss:.3f}")
            if self.val_data is not None and (self.step % self.cfg.eval_interval == 0 or self.step == self.cfg.max_steps):
                self.history.eval_steps.append(self.step)
                self.history.val_loss.append(self.evaluate())
                if self.on_eval:
                    self.on_eval(self)
            if self.checkpoint_dir and self.cfg.checkpoint_interval and self.step % self.cfg.checkpoint_interval == 0:
                self.save(self.checkpoint_dir / f"step{self.step:06d}.pt")
        return self.history

    def save(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "history": asdict(self.history),
            "batch_rng": self.generator.get_state(),   # which windows come next
            "torch_rng": torch.get_rng_state(),        # dropout masks
            "config": asdict(self.cfg),
        }, path)
        return path

    def load(self, path) -> None:
        state = torch.load(path, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = state["step"]
        self.history = History(**state["history"])
        self.generator.set_state(state["batch_rng"])
        torch.set_rng_state(state["torch_rng"])
