"""The fine-tuning runs of notebook 9/04 (pruning), built once as the derived asset `pruned_gpts`:
a byte-level GPT (module 8's `ByteBench`: wikitext as UTF-8 bytes) trained dense, then pruned and
fine-tuned in several ways on the same batches and steps, so that their held-out losses compare.

    folder = pruning_runs()                  # built on first use, then cached
    base = load_base(folder, PruneRecipe())  # the dense model every run starts from
    results = json.loads((folder / "results.json").read_text())

Runs (each `ft_steps` per stage, the same batches in the same order for all of them):
- dense: `ft_steps * (1 + len(schedule))` more steps without pruning (the control);
- magnitude, iterative: `ft_steps` dense, then for each sparsity of `schedule`: prune the smallest
  |w| among the kept weights (`global_magnitude_masks`), fine-tune `ft_steps` with the mask held;
- movement, iterative: the same, but the weights removed are those with the lowest movement score
  -sum W * dL/dW accumulated over all the fine-tuning so far (Sanh et al., 2020);
- magnitude, one-shot: `ft_steps` dense, prune to the last sparsity at once, fine-tune the same
  remaining steps;
- structured: `ft_steps` dense, remove the least important half of every MLP's neurons
  (`prune_mlp_neurons`), fine-tune the remaining steps.
"""
import copy
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import torch

from ..assets import build_once, register_derived
from ..infer.prune import (
    MovementScores,
    apply_masks,
    global_magnitude_masks,
    global_masks,
    mlp_neuron_importance,
    prune_mlp_neurons,
)
from .byte_lm import ByteBench
from .pretrain import TrainConfig


@dataclass(frozen=True)
class PruneRecipe:
    train_chars: int = 2_000_000   # training text (wikitext train, UTF-8 bytes)
    block_size: int = 64           # bytes per window
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    batch_size: int = 16           # windows per step
    base_steps: int = 400          # dense training before any pruning
    lr: float = 3e-3               # peak learning rate of the dense training
    ft_lr: float = 1e-3            # constant learning rate of every fine-tuning
    ft_steps: int = 30             # fine-tuning steps per stage
    schedule: tuple = (0.5, 0.7, 0.8, 0.9)  # sparsities of the iterative runs (of the block Linear weights)
    structured_keep: float = 0.5   # fraction of MLP neurons kept by the structured run
    eval_batches: int = 16         # held-out batches per evaluation
    seed: int = 0

    def cache_name(self) -> str:
        return "pruned_gpts" if self == PruneRecipe() else f"pruned_gpts_{fingerprint(self)}"


def fingerprint(recipe: PruneRecipe) -> str:
    return hashlib.sha256(json.dumps(asdict(recipe), sort_keys=True).encode()).hexdigest()[:16]


def recipe_string(recipe: PruneRecipe | None = None) -> str:
    from ..profile import active_profile

    recipe = recipe or PruneRecipe()
    return f"pruning v1 {fingerprint(recipe)} profile {active_profile().name}"


def bench_of(recipe: PruneRecipe, work_dir) -> ByteBench:
    return ByteBench.build(work_dir, train_chars=recipe.train_chars, block_size=recipe.block_size,
                           n_layer=recipe.n_layer, n_head=recipe.n_head, n_embd=recipe.n_embd)


def prunable(model) -> dict:
    """The weights that unstructured pruning acts on: every Linear weight inside the blocks (the
    tied embedding / output layer and the position embeddings are kept dense)."""
    return {f"{name}.weight": m.weight for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and name.startswith("transformer.h.")}


@torch.no_grad()
def held_out_loss(model, windows, recipe: PruneRecipe) -> float:
    """Mean next-byte loss (nats) over the first eval_batches sequential held-out batches."""
    model.eval()
    device = next(model.parameters()).device
    losses = []
    for i, (x, y) in enumerate(windows.sequential(recipe.batch_size)):
        if i == recipe.eval_batches:
            break
        losses.append(model(x.to(device), targets=y.to(device))[1].item())
    model.train()
    return sum(losses) / len(losses)


class FineTuner:
    """Constant-learning-rate AdamW fine-tuning that keeps pruned weights at zero and can accumulate
    movement scores; its batches come from its own generator, so two runs see the same ones."""

    def __init__(self, model, bench: ByteBench, recipe: PruneRecipe, scores: MovementScores | None = None):
        self.model, self.bench, self.recipe, self.scores = model, bench, recipe, scores
        self.masks = None
        self.opt = torch.optim.AdamW(model.parameters(), lr=recipe.ft_lr, betas=(0.9, 0.95), weight_decay=0.0)
        self.generator = torch.Generator().manual_seed(recipe.seed + 1)
        self.device = next(model.parameters()).device

    def prune(self, masks: dict) -> None:
        self.masks = masks
        apply_masks(prunable(self.model), masks)

    def steps(self, n: int) -> None:
        self.model.train()
        for _ in range(n):
            x, y = self.bench.train_data.batch(self.recipe.batch_size, self.generator)
            _, loss = self.model(x.to(self.device), targets=y.to(self.device))
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.scores is not None:
                self.scores.accumulate()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.opt.step()
            if self.masks is not None:
                apply_masks(prunable(self.model), self.masks)     # pruned weights stay at zero


def build(out: Path, recipe: PruneRecipe | None = None) -> None:
    """Writes `base.pt` (the dense model) and `results.json` (validation and test losses of every run
    at every stage, and the CPU seconds) into `out`."""
    recipe = recipe or PruneRecipe()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)                                    # the same floats on any core count
    try:
        cpu_start = time.process_time()
        bench = bench_of(recipe, Path(out) / "data")
        trainer = bench.train(TrainConfig(max_steps=recipe.base_steps, batch_size=recipe.batch_size, lr=recipe.lr,
                                          min_lr=recipe.lr / 10, warmup_steps=recipe.base_steps // 10,
                                          eval_interval=recipe.base_steps, eval_max_batches=recipe.eval_batches,
                                          seed=recipe.seed), seed=recipe.seed, device=device)
        base = trainer.model
        torch.save(base.state_dict(), Path(out) / "base.pt")

        def losses(model):
            return {"val": held_out_loss(model, bench.val_data, recipe), "test": held_out_loss(model, bench.test_data, recipe)}

        results = {"recipe": asdict(recipe), "base": losses(base), "runs": {}}
        n = recipe.ft_steps
        total = n * (1 + len(recipe.schedule))
        # dense control: the same number of fine-tuning steps, nothing pruned
        tuner = FineTuner(copy.deepcopy(base), bench, recipe)
        tuner.steps(total)
        results["runs"]["dense"] = {"sparsity": [0.0], "loss": [losses(tuner.model)]}
        # iterative magnitude and movement pruning
        for method in ("magnitude", "movement"):
            model = copy.deepcopy(base)
            tuner = FineTuner(model, bench, recipe, MovementScores(prunable(model)))
            tuner.steps(n)                                          # dense warm-up: movement scores start here
            run = {"sparsity": [], "loss": []}
            for s in recipe.schedule:
                keep = tuner.masks
                if method == "magnitude":
                    masks = global_magnitude_masks(prunable(model), s, keep=keep)
                else:
                    masks = global_masks(tuner.scores.scores, s, keep=keep)
                tuner.prune(masks)
                tuner.steps(n)
                run["sparsity"].append(s)
                run["loss"].append(losses(model))
                print(f"{method} {s:.0%}: {run['loss'][-1]}", flush=True)
            results["runs"][f"{method}_iterative"] = run
        # one-shot magnitude to the last sparsity, then the same remaining steps
        tuner = FineTuner(copy.deepcopy(base), bench, recipe)
        tuner.steps(n)
        tuner.prune(global_magnitude_masks(prunable(tuner.model), recipe.schedule[-1]))
        results["runs"]["magnitude_oneshot_before_finetune"] = {"sparsity": [recipe.schedule[-1]], "loss": [losses(tuner.model)]}
        tuner.steps(total - n)
        results["runs"]["magnitude_oneshot"] = {"sparsity": [recipe.schedule[-1]], "loss": [losses(tuner.model)]}
        # structured: half of every MLP's neurons removed, then the same remaining steps
        model = copy.deepcopy(base)
        tuner = FineTuner(model, bench, recipe)
        tuner.steps(n)
        calibration = [bench.val_data.batch(recipe.batch_size, torch.Generator().manual_seed(recipe.seed))[0]]
        prune_mlp_neurons(model, mlp_neuron_importance(model, calibration), recipe.structured_keep)
        results["runs"]["structured_before_finetune"] = {"loss": [losses(model)]}
        generator = tuner.generator
        tuner = FineTuner(model, bench, recipe)                     # a new optimizer for the smaller layers
        tuner.generator = generator                                 # the same batches as the others' remaining steps
        tuner.steps(total - n)
        results["runs"]["structured"] = {"loss": [losses(model)]}
        torch.save(model.state_dict(), Path(out) / "structured.pt")
        results["cpu_seconds"] = round(time.process_time() - cpu_start, 1)
        (Path(out) / "results.json").write_text(json.dumps(results))
    finally:
        torch.set_num_threads(threads)


def pruning_runs(recipe: PruneRecipe | None = None) -> Path:
    """The folder of the runs with `recipe`: built on first use, then cached."""
    recipe = recipe or PruneRecipe()
    return build_once(recipe.cache_name(), partial(build, recipe=recipe), recipe_string(recipe))


def load_base(folder: Path, bench: ByteBench, device: str = "cpu"):
    """The dense GPT every run started from."""
    model = bench.model()
    model.load_state_dict(torch.load(Path(folder) / "base.pt", map_location=device))
    return model.to(device).eval()


ASSET = register_derived("pruned_gpts", "byte-level GPT pruned (magnitude, movement, one-shot, structured) and "
                         "fine-tuned (shared.train.pruning, notebook 9/04)", partial(build, recipe=PruneRecipe()),
                         recipe_string)
