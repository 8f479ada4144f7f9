"""Batch size: the sweep of module 8, notebook 06, and the gradient noise scale.

    cfg = BatchSweepConfig()                      # the tiny profile's sweep
    results = load_results(sweep_dir(cfg))        # validation curves of every (batch size, seed) run
    g = group_gradients(model, x, y, group_size=16)   # (k, n_params): mean gradient of each group
    noise = noise_scale(g, group_size=16)         # {"trace_sigma", "g2", "b_simple"}

The sweep trains the module's bench (`shared.train.byte_lm.ByteBench`) at several batch sizes with
AdamW, warmup then a *constant* learning rate scaled as sqrt(B) (the square-root rule for Adam), so
that a run's loss after a number of steps or windows does not depend on how long the run was
planned to be. Every run is evaluated on the same validation windows every `eval_every` training
windows, and trains for max(token_budget / B, step_budget) steps (the batch size whose noise scale is
tracked: up to its last checkpoint, if that is later): one set of curves answers "which
batch size at a fixed token budget" and "at a fixed step budget", and how many steps each batch size
needs to reach a loss.

The gradient noise scale (McCandlish et al., 2018) is B_simple = tr(Σ) / |G|², with G the true
gradient and Σ the covariance of one example's gradient (here: one window). From k groups of b
examples: each group's mean gradient has covariance Σ / b, so tr(Σ) = b · Σ_p var_k(g_kp), and the
mean over all N = k·b examples has E|ḡ|² = |G|² + tr(Σ) / N, so |G|² = |ḡ|² - tr(Σ) / N (both
unbiased). tests/test_batch_size.py checks the estimator on gradients with a known G and Σ.
"""
import hashlib
import json
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import torch

from ..assets import build_once, register_derived


@torch.no_grad()
def noise_scale(group_grads: torch.Tensor, group_size: int) -> dict:
    """tr(Σ), |G|² and B_simple = tr(Σ) / |G|² from the mean gradients of k groups of `group_size`
    examples each, `group_grads` (k, P)."""
    g = group_grads.double()
    k = g.shape[0]
    if k < 2:
        raise ValueError("the variance between groups needs at least 2 groups")
    trace_sigma = group_size * g.var(dim=0, unbiased=True).sum()          # tr(Σ) of one example's gradient
    g2 = g.mean(dim=0).square().sum() - trace_sigma / (k * group_size)     # |G|², noise of the mean removed
    return {"trace_sigma": trace_sigma.item(), "g2": g2.item(), "b_simple": (trace_sigma / g2).item()}


def group_gradients(model, x: torch.Tensor, y: torch.Tensor, group_size: int) -> torch.Tensor:
    """The gradient of the mean loss of each group of `group_size` consecutive rows of x, y (N, T):
    (N // group_size, n_params), one flattened gradient per group. The model's .grad is untouched."""
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for first in range(0, len(x) - group_size + 1, group_size):
        loss = model(x[first:first + group_size], targets=y[first:first + group_size])[1]
        rows.append(torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)]))
    return torch.stack(rows)                                                # (k, P)


def peak_bytes(fn, device) -> int:
    """Peak bytes of the tensors allocated while fn() runs, on `device`: torch.cuda's peak counter
    on a GPU, the profiler's allocation record on the CPU (`shared.nn.attention.peak_memory_bytes`).
    Tensors alive before the call (weights, optimizer state already created) are not counted."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    from ..nn.attention import peak_memory_bytes

    return peak_memory_bytes(fn)


@dataclass
class BatchSweepConfig:
    """The runs of the sweep (defaults: the tiny profile, notebook 01's bench)."""
    train_chars: int = 3_000_000        # characters of training articles
    block_size: int = 32                # bytes per window: one example is one window
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    batch_sizes: tuple = (1, 2, 4, 8, 16, 32, 64, 128)   # windows per step
    token_budget: int = 2048            # windows seen in the fixed-token comparison
    step_budget: int = 128              # steps in the fixed-step comparison
    base_lr: float = 2e-3               # AdamW's rate at base_batch (notebook 01's choice) ...
    base_batch: int = 8                 # ... scaled as sqrt(B / base_batch) for the other batch sizes
    warmup_steps: int = 10              # linear warmup, then constant
    eval_every: int = 128               # training windows between validation evaluations
    eval_windows: int = 128             # the fixed validation windows scored at each evaluation
    seeds: tuple = (0, 1, 2)
    checkpoint_batch: int = 16          # the run (seed 0) whose weights are saved for the noise scale ...
    checkpoint_steps: tuple = (0, 64, 256)   # ... at these steps
    noise_every: int = 2                # in that run, the noise scale is measured every noise_every steps ...
    noise_groups: int = 8               # ... from this many groups ...
    noise_group_size: int = 8           # ... of this many fresh training windows
    amp: str = "none"                   # "fp16" on a T4

    def lr(self, batch_size: int) -> float:
        return self.base_lr * (batch_size / self.base_batch) ** 0.5

    def steps(self, batch_size: int) -> int:
        """max(token_budget / B, step_budget); the checkpoint batch size runs on to its last checkpoint,
        where the noise scale is tracked (all its seeds, so that every batch size has one curve length)."""
        steps = max(self.token_budget // batch_size, self.step_budget)
        return max(steps, *self.checkpoint_steps) if batch_size == self.checkpoint_batch else steps

    def cache_name(self) -> str:
        return "batch_size_sweep" if self == BatchSweepConfig() else "batch_size_sweep_" + _hash(self)


def _hash(cfg: BatchSweepConfig) -> str:
    return hashlib.sha256(json.dumps(asdict(cfg), sort_keys=True, default=list).encode()).hexdigest()[:16]


def bench_for(cfg: BatchSweepConfig, work_dir):
    from .byte_lm import ByteBench

    return ByteBench.build(work_dir, train_chars=cfg.train_chars, block_size=cfg.block_size, n_layer=cfg.n_layer,
                           n_head=cfg.n_head, n_embd=cfg.n_embd)


def validation_windows(bench, n_windows: int):
    """The first n_windows sequential validation windows, as one batch: x, y (n_windows, T)."""
    x, y = next(bench.val_data.sequential(n_windows))
    return x, y


def train_one(bench, cfg: BatchSweepConfig, batch_size: int, seed: int, device="cpu", checkpoints=None) -> dict:
    """One run of the sweep: validation loss every cfg.eval_every windows (and at step 0)."""
    from .pretrain import TrainConfig, Trainer

    if cfg.eval_every % batch_size:
        raise ValueError(f"eval_every={cfg.eval_every} must be a multiple of every batch size ({batch_size})")
    lr = cfg.lr(batch_size)
    train_cfg = TrainConfig(max_steps=cfg.steps(batch_size), batch_size=batch_size, lr=lr, min_lr=lr,
                            warmup_steps=cfg.warmup_steps, amp=cfg.amp, seed=seed)
    model = bench.model(seed).to(device)
    trainer = Trainer(model, bench.train_data, None, train_cfg,
                      lr_schedule=lambda step: lr * min(1.0, step / cfg.warmup_steps))
    x_val, y_val = (t.to(device) for t in validation_windows(bench, cfg.eval_windows))

    @torch.no_grad()
    def evaluate() -> float:
        model.eval()
        with trainer.autocast():
            loss = model(x_val, targets=y_val)[1].item()
        model.train()
        return loss

    curve = {"steps": [0], "val_loss": [evaluate()], "train_loss": [], "noise": []}
    noise_rng = torch.Generator().manual_seed(10_000 + seed)     # windows apart from the training batches
    for step in range(1, train_cfg.max_steps + 1):
        if checkpoints is not None and step - 1 in cfg.checkpoint_steps:
            checkpoints[step - 1] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        if checkpoints is not None and (step - 1) % cfg.noise_every == 0:   # before the step: the model at step - 1
            x, y = (t.to(device) for t in bench.train_data.batch(cfg.noise_groups * cfg.noise_group_size, noise_rng))
            grads = group_gradients(model, x, y, cfg.noise_group_size)   # float32: no fp16 underflow
            curve["noise"].append({"step": step - 1, **noise_scale(grads.float(), cfg.noise_group_size)})
        curve["train_loss"].append(trainer.train_step())
        if step * batch_size % cfg.eval_every == 0:
            curve["steps"].append(step)
            curve["val_loss"].append(evaluate())
    if checkpoints is not None and train_cfg.max_steps in cfg.checkpoint_steps:
        checkpoints[train_cfg.max_steps] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return {"batch_size": batch_size, "seed": seed, "lr": lr, **curve}


def build(out: Path, cfg: BatchSweepConfig | None = None) -> None:
    """Every (batch size, seed) run; results.json and the checkpoints of one run."""
    from ..utils import get_device, tqdm

    cfg = cfg or BatchSweepConfig()
    device = get_device()
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)         # the same numbers on every machine (and one core in CI)
    try:
        bench = bench_for(cfg, out / "bench")
        runs, checkpoints = [], {}
        jobs = [(b, s) for s in cfg.seeds for b in cfg.batch_sizes]
        for batch_size, seed in tqdm(jobs, desc="batch-size sweep"):
            keep = checkpoints if (batch_size, seed) == (cfg.checkpoint_batch, cfg.seeds[0]) else None
            runs.append(train_one(bench, cfg, batch_size, seed, device, keep))
    finally:
        torch.set_num_threads(threads)
    torch.save(checkpoints, out / "checkpoints.pt")
    for f in (out / "bench").glob("*"):   # the byte files are rebuilt from the corpus in a second
        f.unlink()
    (out / "bench").rmdir()
    (out / "results.json").write_text(json.dumps({"config": asdict(cfg), "runs": runs}, indent=1))


def recipe(cfg: BatchSweepConfig | None = None) -> str:
    return "batch size sweep v2 sha256 " + _hash(cfg or BatchSweepConfig())


def sweep_dir(cfg: BatchSweepConfig) -> Path:
    """The folder of the sweep with `cfg`: trained on first use, then cached."""
    return build_once(cfg.cache_name(), partial(build, cfg=cfg), recipe(cfg))


def load_results(folder: Path) -> dict:
    return json.loads((Path(folder) / "results.json").read_text())


def load_checkpoints(folder: Path) -> dict:
    """step -> the state dict of the checkpoint run at that step."""
    return torch.load(Path(folder) / "checkpoints.pt", weights_only=True)


ASSET = register_derived(BatchSweepConfig().cache_name(),
                         "module 8 batch-size sweep: byte GPT at 8 batch sizes x 3 seeds (shared.train.batch_size)",
                         partial(build, cfg=BatchSweepConfig()), recipe)
