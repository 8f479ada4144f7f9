"""LoRA (Hu et al., 2021), written to be read: a frozen Linear layer plus a trainable low-rank update.

A pre-trained `nn.Linear` computes `y = x W^T + b` with W of shape (out, in). Fine-tuning changes W
to W + ΔW. LoRA's bet: ΔW has low rank, so write it as a product of two thin matrices

    ΔW = (alpha / r) * B @ A        B: (out, r)   A: (r, in)   r << min(in, out)

and train only A and B: r * (in + out) numbers instead of in * out. B starts at zero, so at step 0
the model is exactly the pre-trained one; A starts random (the same Kaiming init as `nn.Linear`),
so the gradient reaching B is not zero.

    layer = LoRALinear(nn.Linear(576, 576), r=8, alpha=16)   # 576*576 frozen, 8*(576+576) trained
    model = add_lora(model, ["q_proj", "v_proj"], r=8, alpha=16)   # every q_proj / v_proj wrapped
    model = merge_lora(model)                                 # W <- W + (alpha/r) B A: plain Linear again

The parameter names (`lora_A`, `lora_B`) and shapes are those of the `peft` library, so weights
copy across in both directions (`tests/test_lora.py` checks that both give the same outputs).
"""
import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    """`base(x) + (alpha / r) * dropout(x) @ A^T @ B^T`, with `base` frozen and only A, B trained."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        if r < 1:
            raise ValueError(f"rank r must be >= 1, got {r}")
        self.base = base                                  # the pre-trained layer, W: (out, in)
        for p in self.base.parameters():                  # frozen: no gradient, no optimizer state
            p.requires_grad_(False)
        self.r, self.alpha = r, alpha
        self.scaling = alpha / r                          # keeps the update's size comparable across ranks
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()  # on the LoRA path only
        in_features, out_features = base.in_features, base.out_features
        weight = base.weight
        # A: (r, in), random like an nn.Linear(in, r); B: (out, r), zero -> ΔW = 0 at the start
        self.lora_A = nn.Parameter(torch.empty(r, in_features, dtype=weight.dtype, device=weight.device))
        self.lora_B = nn.Parameter(torch.zeros(out_features, r, dtype=weight.dtype, device=weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def delta_weight(self) -> torch.Tensor:
        """ΔW = (alpha / r) * B @ A, the dense update the two thin matrices stand for: (out, in)."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (..., in)
        frozen = self.base(x)                                        # (..., out)  x W^T + b
        # never build ΔW: go through the rank-r bottleneck, (..., in) -> (..., r) -> (..., out)
        low_rank = self.dropout(x).to(self.lora_A.dtype) @ self.lora_A.T @ self.lora_B.T
        return frozen + self.scaling * low_rank.to(frozen.dtype)

    def merged(self) -> nn.Linear:
        """A plain `nn.Linear` with W + ΔW: the same function (in eval mode), no extra cost per token."""
        base = self.base
        layer = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None,
                          device=base.weight.device, dtype=base.weight.dtype)
        with torch.no_grad():
            layer.weight.copy_(base.weight + self.delta_weight().to(base.weight.dtype))
            if base.bias is not None:
                layer.bias.copy_(base.bias)
        return layer

    def extra_repr(self) -> str:
        return f"r={self.r}, alpha={self.alpha}, scaling={self.scaling:g}"


def _matches(name: str, target_modules) -> bool:
    """peft's rule: a module is targeted if its full name ends with `.target` (or is `target`)."""
    return any(name == t or name.endswith("." + t) for t in target_modules)


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    """Put `new` where the submodule called `name` ("model.layers.0.self_attn.q_proj") is."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def add_lora(model: nn.Module, target_modules, r: int, alpha: float, dropout: float = 0.0) -> nn.Module:
    """Freeze every parameter of `model`, then wrap each `nn.Linear` whose name ends with one of
    `target_modules` (e.g. ["q_proj", "v_proj"]) in a `LoRALinear`. Modifies `model` in place and
    returns it; only the new A and B matrices are trainable."""
    if isinstance(target_modules, str):
        target_modules = [target_modules]
    for p in model.parameters():                          # everything frozen, including embeddings
        p.requires_grad_(False)
    targets = [name for name, module in model.named_modules()
               if isinstance(module, nn.Linear) and _matches(name, target_modules)]
    if not targets:
        raise ValueError(f"no nn.Linear named like {list(target_modules)} in the model")
    for name in targets:                                  # replace after listing: don't mutate while iterating
        _replace(model, name, LoRALinear(model.get_submodule(name), r, alpha, dropout))
    return model


def lora_layers(model: nn.Module) -> dict[str, LoRALinear]:
    """name -> LoRALinear for every LoRA layer in `model`."""
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the trained tensors (every A and B): what a LoRA checkpoint needs to store."""
    return {name: p.detach() for name, p in model.named_parameters() if "lora_A" in name or "lora_B" in name}


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every `LoRALinear` by a plain `nn.Linear` holding W + (alpha/r) B A. In place; returns
    `model`. After merging, inference costs exactly what the base model costs."""
    for name, layer in lora_layers(model).items():
        _replace(model, name, layer.merged())
    return model
