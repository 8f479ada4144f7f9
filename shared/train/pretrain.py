"""Pre-training loop for `shared.nn.gpt.GPT`: token files, random windows, AdamW with warmup +
cosine decay, gradient clipping and accumulation, mixed precision, periodic evaluation, and exact
checkpoint/resume.

    ids = tokenizer.encode(text).ids
    train = TokenWindows(write_tokens(ids_train, "train.bin"), block_size=128)
    trainer = Trainer(model, train, val, TrainConfig(max_steps=300))
    history = trainer.train()

Resume is exact: a checkpoint holds the model, the optimizer, the gradient scaler, the step and
every random state (batch sampling, and dropout on the CPU and the GPU), so a run stopped at step k
and resumed reaches the same loss, bit for bit, as an uninterrupted one (tests/test_pretrain.py).

Mixed precision (`amp`): "fp16" runs the forward pass under `torch.autocast` in float16 and scales
the loss with a `GradScaler` (a T4's tensor cores; small gradients would underflow without the
scaling), "bf16" autocasts to bfloat16 with no scaling (A100/H100, recent CPUs), "none" is float32.
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
        if len(self.tokens) < block_size + 1:
            raise ValueError(f"{path} has {len(self.tokens)} tokens: a window needs block_size + 1 = {block_size + 1}")

    def __len__(self):
        return len(self.tokens)

    def batch(self, batch_size: int, generator: torch.Generator):
        """x, y: (B, T) with y shifted one token to the right of x; any of the N - T windows."""
        # a window needs T + 1 tokens, so the valid starts are 0 .. N - T - 1 (randint's high is exclusive)
        starts = torch.randint(len(self.tokens) - self.block_size, (batch_size,), generator=generator)
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
    batch_size: int = 16          # windows per micro-batch
    grad_accum: int = 1           # micro-batches per optimizer step (effective batch: batch_size * grad_accum)
    lr: float = 3e-3              # peak learning rate (after warmup)
    min_lr: float = 3e-4          # floor of the cosine decay
    warmup_steps: int = 30        # linear warmup from 0 to lr
    weight_decay: float = 0.1     # AdamW, on matrices only (not biases, norms)
    betas: tuple = (0.9, 0.95)    # AdamW moments
    grad_clip: float = 1.0        # max global gradient norm (0 disables)
    clip_mode: str = "norm"       # "norm": rescale the whole gradient; "value": clamp each entry to ±grad_clip
    eval_interval: int = 50       # steps between held-out evaluations
    eval_max_batches: int = 20    # held-out batches per evaluation (sequential windows)
    checkpoint_interval: int = 0  # steps between checkpoints (0: none)
    amp: str = "none"             # mixed precision: "none" (float32), "fp16" (+ loss scaling), "bf16"
    seed: int = 0


def cosine_with_warmup(step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0) -> float:
    """The learning-rate multiplier at `step` (0-based): linear warmup from 0, then a cosine decay
    to `min_lr_ratio` at `total_steps`. Step for step the same as transformers'
    `get_cosine_with_min_lr_schedule_with_warmup(..., min_lr_rate=min_lr_ratio)` (and, with ratio 0,
    `get_cosine_schedule_with_warmup`), so a run can switch between them; tests/test_pretrain.py checks it."""
    if step < warmup_steps:
        return step / max(1, warmup_steps)  # step 0 trains at lr 0, as in transformers
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return max(0.0, cosine * (1.0 - min_lr_ratio) + min_lr_ratio)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """cfg.lr times the warmup + cosine multiplier, decaying to cfg.min_lr at cfg.max_steps."""
    return cfg.lr * cosine_with_warmup(step, cfg.warmup_steps, cfg.max_steps, cfg.min_lr / cfg.lr)


AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


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
                 checkpoint_dir=None, on_eval=None, optimizer=None, lr_schedule=None):
        self.model, self.train_data, self.val_data, self.cfg = model, train, val, cfg
        if cfg.amp not in ("none", *AMP_DTYPES):
            raise ValueError(f"amp={cfg.amp!r}: use 'none', 'fp16' or 'bf16'")
        if cfg.clip_mode not in ("norm", "value"):
            raise ValueError(f"clip_mode={cfg.clip_mode!r}: use 'norm' or 'value'")
        # default AdamW (make_optimizer); any torch optimizer can be passed instead (module 8 compares
        # SGD, Adam, AdamW): the schedule sets its groups' "lr" to lr_at(step) before every step
        self.optimizer = optimizer if optimizer is not None else make_optimizer(model, cfg)
        # the learning rate of each step: lr_schedule(step) (0-based) if given, else warmup + cosine (lr_at)
        self.lr_schedule = lr_schedule if lr_schedule is not None else (lambda step: lr_at(step, cfg))
        # loss scaling for float16 only: bfloat16 has float32's exponent range, so nothing underflows
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=cfg.amp == "fp16")
        self.generator = torch.Generator().manual_seed(cfg.seed)  # batch sampling
        torch.manual_seed(cfg.seed)                                 # dropout (CPU and every GPU)
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
            with self.autocast():
                losses.append(self.model(x.to(self.device), targets=y.to(self.device))[1].item())
        self.model.train()
        return float(np.mean(losses))

    def autocast(self):
        """The forward pass's precision: float32, or autocast to float16/bfloat16 (cfg.amp)."""
        return torch.autocast(self.device.type, dtype=AMP_DTYPES.get(self.cfg.amp), enabled=self.cfg.amp != "none")

    def train_step(self) -> float:
        """One optimizer step over cfg.grad_accum micro-batches; returns their mean loss."""
        lr = self.lr_schedule(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(self.cfg.grad_accum):
            x, y = self.train_data.batch(self.cfg.batch_size, self.generator)   # (B, T) each, built on the CPU
            with self.autocast():
                _, loss = self.model(x.to(self.device), targets=y.to(self.device))
            # each micro-batch holds the same number of tokens, so the mean of the K means is the
            # mean over all K*B*T tokens: divide by K, or the gradient is K times too large
            self.scaler.scale(loss / self.cfg.grad_accum).backward()
            total += loss.item() / self.cfg.grad_accum
        self.scaler.unscale_(self.optimizer)  # true gradients (a no-op without fp16) before clipping
        clip = self.cfg.grad_clip if self.cfg.grad_clip > 0 else float("inf")
        if self.cfg.clip_mode == "value":  # per entry; the recorded norm is the one before clipping, as below
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), float("inf")).item()
            torch.nn.utils.clip_grad_value_(self.model.parameters(), clip)
        else:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip).item()
        self.scaler.step(self.optimizer)      # skipped when fp16 gradients overflowed (inf/nan)
        self.scaler.update()
        self.step += 1
        h = self.history
        h.steps.append(self.step), h.train_loss.append(total), h.lr.append(lr), h.grad_norm.append(grad_norm)
        return total

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
            "scaler": self.scaler.state_dict(),       # fp16 loss scale (empty when disabled)
            "batch_rng": self.generator.get_state(),   # which windows come next
            "torch_rng": torch.get_rng_state(),        # dropout masks on the CPU
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,  # and on GPUs
            "config": asdict(self.cfg),
        }, path)
        return path

    def load(self, path) -> None:
        """Restore a checkpoint, also one saved on another device (a GPU run resumed on a CPU)."""
        state = torch.load(path, map_location=self.device, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = state["step"]
        self.history = History(**state["history"])
        self.generator.set_state(state["batch_rng"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda_rng"]])
