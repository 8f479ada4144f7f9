"""shared.infer.prune against torch.nn.utils.prune on the same inputs, and the structured pruning of
a GPT's MLP neurons against the same computation done on the full model with the neurons masked."""
import copy

import pytest
import torch
import torch.nn.utils.prune as tprune

from shared.infer.prune import (
    MovementScores,
    apply_masks,
    global_magnitude_masks,
    global_masks,
    mlp_neuron_importance,
    prune_mlp_neurons,
    sparsity_of,
)
from shared.nn.gpt import GPT, GPTConfig


def small_gpt(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=16))


def block_linears(model):
    return [(m, "weight") for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n.startswith("transformer.h.")]


@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.9])
def test_global_magnitude_masks_equal_torch_global_unstructured(sparsity):
    model = small_gpt()
    ours = global_magnitude_masks({f"{i}": m.weight for i, (m, _) in enumerate(block_linears(model))}, sparsity)
    theirs = copy.deepcopy(model)
    tprune.global_unstructured(block_linears(theirs), pruning_method=tprune.L1Unstructured, amount=sparsity)
    for i, (m, _) in enumerate(block_linears(theirs)):
        assert torch.equal(ours[f"{i}"], m.weight_mask.bool())


def test_iterative_masks_keep_pruned_weights_pruned_and_reach_the_target():
    g = torch.Generator().manual_seed(0)
    weights = {"a": torch.randn(20, 10, generator=g), "b": torch.randn(30, generator=g)}
    first = global_magnitude_masks(weights, 0.5)
    apply_masks(weights, first)
    scores = {n: torch.randn(w.shape, generator=g) for n, w in weights.items()}   # any other criterion
    second = global_masks(scores, 0.8, keep=first)
    for n in weights:
        assert not (second[n] & ~first[n]).any()                                   # nothing comes back
    total = sum(m.numel() for m in second.values())
    assert sum((~m).sum().item() for m in second.values()) == round(0.8 * total)
    apply_masks(weights, second)
    assert sparsity_of(weights) == pytest.approx(0.8, abs=1 / total)


def test_movement_scores_are_minus_weight_times_gradient_summed():
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    scores = MovementScores({"w": w})
    for grad in ([0.5, 0.5, -1.0], [1.0, -1.0, 0.0]):
        w.grad = torch.tensor(grad)
        scores.accumulate()
    assert torch.allclose(scores.scores["w"], -(w.detach() * torch.tensor([1.5, -0.5, -1.0])))


def test_structured_mlp_pruning_equals_masking_the_neurons():
    model = small_gpt()
    x = torch.randint(50, (3, 16))
    importance = mlp_neuron_importance(model, [x])
    masked = copy.deepcopy(model)
    with torch.no_grad():
        for block, imp in zip(masked.transformer.h, importance):
            drop = imp.topk(round(0.5 * len(imp)), largest=False).indices
            block.mlp.c_fc.weight[drop] = 0
            block.mlp.c_fc.bias[drop] = 0                       # gelu(0) = 0: the neuron writes nothing
    small = prune_mlp_neurons(copy.deepcopy(model), importance, keep_fraction=0.5)
    assert small.transformer.h[0].mlp.c_fc.out_features == 32
    torch.testing.assert_close(small(x)[0], masked(x)[0], rtol=1e-5, atol=1e-5)
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters())
