"""Bottleneck adapters in the style of Houlsby et al. (2019), written to be read.

An adapter is a small two-layer network inserted into a frozen transformer. It reads a sub-layer's
output h (width d), squeezes it to m << d numbers, and adds the result back:

    adapter(h) = h + up(act(down(h)))        down: Linear(d, m)   up: Linear(m, d), zero-initialised

Houlsby et al. put one after the attention block's output projection and one after the feed-forward
block, before each residual addition, and train only the adapters (plus the layer norms, optionally).
`up` starts at zero, so an adapter starts as the identity and the model as the pre-trained one.

Unlike LoRA, the adapter is a nonlinear function of h and sits *in series* with the layer, so it cannot
be merged into the weights: every token pays for it at inference.

    model = add_adapters(model, ["o_proj", "down_proj"], bottleneck=16)   # Llama: after attention, after MLP

The `peft` library has no bottleneck adapter, so this is the course's own (tested in tests/test_adapters.py).
"""
from torch import nn


class BottleneckAdapter(nn.Module):
    """h + up(act(down(h))): (..., d) -> (..., d), the identity at initialisation."""

    def __init__(self, dim: int, bottleneck: int, activation: type[nn.Module] = nn.GELU):
        super().__init__()
        self.down = nn.Linear(dim, bottleneck)            # (d) -> (m): the squeeze
        self.act = activation()
        self.up = nn.Linear(bottleneck, dim)              # (m) -> (d): back to the residual width
        nn.init.zeros_(self.up.weight)                    # zero: the adapter starts as the identity
        nn.init.zeros_(self.up.bias)

    def forward(self, h):                                 # h: (..., d)
        return h + self.up(self.act(self.down(h)))        # (..., d)


class WithAdapter(nn.Module):
    """A frozen module followed by an adapter on its output: adapter(base(x))."""

    def __init__(self, base: nn.Module, adapter: BottleneckAdapter):
        super().__init__()
        self.base, self.adapter = base, adapter

    def forward(self, x):
        h = self.base(x)                                  # (..., d) the sub-layer's output
        return self.adapter(h.to(self.adapter.down.weight.dtype)).to(h.dtype)


def add_adapters(model: nn.Module, target_modules, bottleneck: int, train_norms: bool = False) -> nn.Module:
    """Freeze `model` and put a `BottleneckAdapter` after every `nn.Linear` whose name ends with one of
    `target_modules`. `train_norms=True` also trains the normalisation layers' gains, as Houlsby et al.
    did. In place; returns `model`."""
    if isinstance(target_modules, str):
        target_modules = [target_modules]
    for p in model.parameters():
        p.requires_grad_(False)
    targets = [name for name, m in model.named_modules()
               if isinstance(m, nn.Linear) and any(name == t or name.endswith("." + t) for t in target_modules)]
    if not targets:
        raise ValueError(f"no nn.Linear named like {list(target_modules)} in the model")
    for name in targets:
        base = model.get_submodule(name)
        adapter = BottleneckAdapter(base.out_features, bottleneck).to(base.weight.device)
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, WithAdapter(base, adapter))
    if train_norms:
        for name, p in model.named_parameters():
            if "norm" in name:
                p.requires_grad_(True)
    return model
