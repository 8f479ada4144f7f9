"""LayerNorm and RMSNorm from scratch, and a switch between them.

    from shared.nn.norms import LayerNorm, RMSNorm, make_norm
    norm = make_norm("rms", 64)          # or "layer"; library="torch" for PyTorch's kernels

LayerNorm (Ba et al., 2016) centres each vector and divides by its standard deviation, then
scales and shifts: (x - mean) / sqrt(var + eps) * weight + bias.
RMSNorm (Zhang & Sennrich, 2019) skips the centring and the bias: x / sqrt(mean(x^2) + eps) * weight.
Both normalise over the last dimension (the model width D). tests/test_norms.py checks them
against torch.nn.LayerNorm and torch.nn.RMSNorm.
"""
import torch
from torch import nn

from .llama_parts import RMSNorm  # the Llama module's RMSNorm is exactly this one: reuse it

__all__ = ["LayerNorm", "RMSNorm", "make_norm", "NORMS", "TORCH_NORMS"]


class LayerNorm(nn.Module):
    """(x - mean) / sqrt(var + eps) * weight + bias, statistics over the last dimension."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x):                                        # (..., D)
        mean = x.mean(-1, keepdim=True)                          # (..., 1)
        var = (x - mean).pow(2).mean(-1, keepdim=True)           # (..., 1) biased variance, as torch
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


NORMS = {"layer": LayerNorm, "rms": RMSNorm}


TORCH_NORMS = {"layer": nn.LayerNorm, "rms": nn.RMSNorm}  # the same maths, PyTorch's kernels


def make_norm(kind: str, dim: int, eps: float = 1e-5, library: str = "ours") -> nn.Module:
    """`kind` is "layer" (LayerNorm) or "rms" (RMSNorm); `library` "ours" (this file) or "torch"."""
    if kind not in NORMS:
        raise ValueError(f"unknown norm {kind!r}; use one of {', '.join(NORMS)}")
    if library not in ("ours", "torch"):
        raise ValueError(f"unknown library {library!r}; use 'ours' or 'torch'")
    return (NORMS if library == "ours" else TORCH_NORMS)[kind](dim, eps=eps)
