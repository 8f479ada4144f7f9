"""Pruning from scratch: which weights to remove (magnitude, movement) and how (unstructured masks,
or structurally smaller layers).

    masks = global_magnitude_masks(weights, sparsity=0.7)      # {name: bool keep-mask}, one threshold for all
    apply_masks(weights, masks)                                 # zero the pruned weights in place
    scores = MovementScores(weights); ...; scores.accumulate()  # after each backward: S -= W * dL/dW
    masks = global_masks(scores.scores, sparsity=0.7, keep=masks)  # prune the lowest scores among those kept
    small = prune_mlp_neurons(gpt, importance, keep_fraction=0.5)  # structured: narrower MLPs, fewer FLOPs

Unstructured: `global_magnitude_masks` removes the weights with the smallest |w| across all the given
tensors together, exactly as `torch.nn.utils.prune.global_unstructured(..., L1Unstructured)` does
(tests/test_prune.py compares the masks on the same inputs). The zeros stay in a dense tensor, so a
dense matmul costs the same: the saving needs sparse kernels or a sparse format.

Movement pruning (Sanh et al., 2020) scores a weight by how fine-tuning moves it: S = -sum over steps of
W * dL/dW, large when the weight grows away from zero, negative when it is pushed toward zero.

Structured: removing whole MLP neurons (a row of c_fc and the matching column of c_proj) leaves
smaller dense matrices, so the FLOPs and the time really go down.
"""
import torch


def global_masks(scores: dict, sparsity: float, keep: dict | None = None) -> dict:
    """Keep-masks {name: bool tensor} that remove round(sparsity * total) entries with the lowest score
    across all tensors together. With `keep`, entries already pruned stay pruned (and count toward the
    sparsity): the lowest-scoring of the kept ones are removed until the total reaches the target."""
    names = list(scores)
    flat = torch.cat([scores[n].detach().flatten().float() for n in names])          # (N,)
    if keep is not None:
        alive = torch.cat([keep[n].flatten() for n in names])
        flat = torch.where(alive, flat, torch.tensor(float("-inf")))                 # pruned first, always
    n_prune = round(sparsity * flat.numel())
    mask = torch.ones(flat.numel(), dtype=torch.bool)
    if n_prune > 0:
        mask[torch.topk(flat, n_prune, largest=False).indices] = False
    masks, start = {}, 0
    for n in names:
        size = scores[n].numel()
        masks[n] = mask[start:start + size].view_as(scores[n])
        start += size
    return masks


def global_magnitude_masks(weights: dict, sparsity: float, keep: dict | None = None) -> dict:
    """Global unstructured magnitude pruning: the fraction `sparsity` of all the weights with the smallest |w|."""
    return global_masks({n: w.abs() for n, w in weights.items()}, sparsity, keep)


@torch.no_grad()
def apply_masks(weights: dict, masks: dict) -> None:
    """Zero the pruned entries of each weight in place."""
    for n, w in weights.items():
        w.mul_(masks[n])


def sparsity_of(weights: dict) -> float:
    """Fraction of exact zeros over all the given tensors."""
    zeros = sum((w == 0).sum().item() for w in weights.values())
    return zeros / sum(w.numel() for w in weights.values())


class MovementScores:
    """Movement-pruning scores: call `accumulate()` after each backward pass (before the optimizer
    step) to add -W * dL/dW to each weight's score. A weight the gradient pushes away from zero
    (W and -grad of the same sign) gains score; one pushed toward zero loses it."""

    def __init__(self, weights: dict):
        self.weights = weights
        self.scores = {n: torch.zeros_like(w, dtype=torch.float32) for n, w in weights.items()}

    @torch.no_grad()
    def accumulate(self) -> None:
        for n, w in self.weights.items():
            if w.grad is not None:
                self.scores[n] -= (w * w.grad).float()


def mlp_neuron_importance(model, batches) -> list[torch.Tensor]:
    """For each block of a `shared.nn.gpt.GPT`: the importance of each MLP neuron (4 * n_embd,), the
    mean |activation| after the GELU over the tokens of `batches` (each (B, T) ids) times the norm of
    the neuron's output column in c_proj: how much the neuron writes into the residual stream."""
    activations = [torch.zeros(block.mlp.c_fc.out_features) for block in model.transformer.h]
    count = 0
    hooks = []
    for i, block in enumerate(model.transformer.h):
        def hook(module, inputs, output, i=i):
            activations[i] += torch.nn.functional.gelu(output, approximate="tanh").abs().flatten(0, -2).sum(0).cpu()
        hooks.append(block.mlp.c_fc.register_forward_hook(hook))
    with torch.no_grad():
        for x in batches:
            model(x.to(next(model.parameters()).device))
            count += x.numel()
    for h in hooks:
        h.remove()
    return [a / count * block.mlp.c_proj.weight.detach().norm(dim=0).cpu()
            for a, block in zip(activations, model.transformer.h)]


@torch.no_grad()
def prune_mlp_neurons(model, importance: list[torch.Tensor], keep_fraction: float):
    """Structured pruning, in place: keep the `keep_fraction` most important neurons of each block's
    MLP, by slicing c_fc's rows (and bias) and c_proj's columns into smaller nn.Linear layers."""
    for block, imp in zip(model.transformer.h, importance):
        fc, proj = block.mlp.c_fc, block.mlp.c_proj
        n_keep = max(1, round(keep_fraction * fc.out_features))
        kept = imp.topk(n_keep).indices.sort().values.to(fc.weight.device)        # (n_keep,)
        new_fc = torch.nn.Linear(fc.in_features, n_keep, bias=fc.bias is not None).to(fc.weight)
        new_fc.weight.copy_(fc.weight[kept])
        if fc.bias is not None:
            new_fc.bias.copy_(fc.bias[kept])
        new_proj = torch.nn.Linear(n_keep, proj.out_features, bias=proj.bias is not None).to(proj.weight)
        new_proj.weight.copy_(proj.weight[:, kept])
        if proj.bias is not None:
            new_proj.bias.copy_(proj.bias)
        block.mlp.c_fc, block.mlp.c_proj = new_fc, new_proj
    return model
