"""Scaled dot-product attention and multi-head attention, written to be read.

    from shared.nn.attention import MultiHeadAttention, scaled_dot_product_attention, padding_mask
    out, weights = scaled_dot_product_attention(q, k, v, mask=padding_mask(attention_mask))
    mha = MultiHeadAttention.from_torch(torch_mha)   # same weights as a torch.nn.MultiheadAttention
    out, weights = mha(x, mask=padding_mask(attention_mask), is_causal=True)
    peak_memory_bytes(lambda: scaled_dot_product_attention(q, k, v))  # CPU bytes held at the peak

Masks follow `torch.nn.functional.scaled_dot_product_attention`: a boolean mask is True where a
query MAY attend to a key; a float mask is added to the scores. Shapes: B batch, H heads,
T queries, S keys, D model width, hd = D / H head width.
"""
import contextlib
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn


def causal_mask(num_queries: int, num_keys: int | None = None, device=None) -> torch.Tensor:
    """(T, S) boolean: query t may see keys 0..t (aligned top-left, as in torch's `is_causal`)."""
    num_keys = num_queries if num_keys is None else num_keys
    return torch.ones(num_queries, num_keys, dtype=torch.bool, device=device).tril()


def padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Hugging Face style (B, S) with 1 = real token, 0 = padding -> (B, 1, 1, S) boolean key mask."""
    return attention_mask.bool()[:, None, None, :]


def scaled_dot_product_attention(q, k, v, mask=None, is_causal: bool = False, dropout_p: float = 0.0):
    """softmax(q k^T / sqrt(hd) + mask) v.

    q (..., T, hd), k (..., S, hd), v (..., S, hd_v); mask broadcastable to (..., T, S).
    Returns (output (..., T, hd_v), weights (..., T, S)); each row of weights sums to 1.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])       # (..., T, S)
    if is_causal:
        scores = scores.masked_fill(~causal_mask(q.shape[-2], k.shape[-2], q.device), float("-inf"))
    if mask is not None and mask.dtype == torch.bool:
        scores = scores.masked_fill(~mask, float("-inf"))               # blocked keys get weight 0
    elif mask is not None:
        scores = scores + mask                                          # additive (float) mask
    weights = scores.softmax(dim=-1)                                    # (..., T, S)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights                                         # (..., T, hd_v), (..., T, S)


class MultiHeadAttention(nn.Module):
    """H attention heads side by side: each head attends in its own hd = D / H dimensional subspace.

    Four linear maps (query, key, value, output), the same parameters as
    `torch.nn.MultiheadAttention`; `from_torch` copies one, and `forward` then returns the same
    output (tests/test_attention.py).
    """

    def __init__(self, embed_dim: int, num_heads: int, bias: bool = True, dropout: float = 0.0):
        super().__init__()
        assert embed_dim % num_heads == 0, "embed_dim must be divisible by num_heads"
        self.num_heads, self.head_dim, self.dropout = num_heads, embed_dim // num_heads, dropout
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def split_heads(self, x):                                           # (*batch, T, D)
        x = x.unflatten(-1, (self.num_heads, self.head_dim))            # (*batch, T, H, hd)
        return x.transpose(-3, -2)                                      # (*batch, H, T, hd)

    def forward(self, query, key_value=None, mask=None, is_causal: bool = False):
        """query (*batch, T, D); key_value (*batch, S, D), None = self-attention; mask broadcastable
        to (*batch, H, T, S). `*batch` is any number of leading dimensions: none (one sequence),
        B, or more (B1, B2, ...).

        Returns (output (*batch, T, D), weights (*batch, H, T, S))."""
        key_value = query if key_value is None else key_value
        q = self.split_heads(self.q_proj(query))                        # (*batch, H, T, hd)
        k = self.split_heads(self.k_proj(key_value))                    # (*batch, H, S, hd)
        v = self.split_heads(self.v_proj(key_value))                    # (*batch, H, S, hd)
        out, weights = scaled_dot_product_attention(q, k, v, mask, is_causal,
                                                    self.dropout if self.training else 0.0)
        out = out.transpose(-3, -2).flatten(-2)                         # (*batch, T, D): heads side by side
        return self.out_proj(out), weights

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention) -> "MultiHeadAttention":
        """A copy of a `torch.nn.MultiheadAttention` (same embed_dim; q, k, v packed in in_proj)."""
        bias = mha.in_proj_bias is not None
        ours = cls(mha.embed_dim, mha.num_heads, bias=bias, dropout=mha.dropout)
        state = {"out_proj.weight": mha.out_proj.weight}
        for name, weight in zip("qkv", mha.in_proj_weight.chunk(3)):     # rows: q, then k, then v
            state[f"{name}_proj.weight"] = weight
        if bias:
            state["out_proj.bias"] = mha.out_proj.bias
            for name, b in zip("qkv", mha.in_proj_bias.chunk(3)):
                state[f"{name}_proj.bias"] = b
        ours.load_state_dict({name: t.detach().clone() for name, t in state.items()})
        return ours.to(device=mha.out_proj.weight.device, dtype=mha.out_proj.weight.dtype)


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence what C++ code writes to file descriptor 2 (the profiler's start/stop log lines)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def peak_memory_bytes(fn) -> int:
    """Largest number of bytes that the CPU tensors allocated while running `fn()` hold at once.

    PyTorch's profiler records every allocation (positive size) and free (negative size) in time
    order; the running sum's maximum is the peak. Tensors alive before the call are not counted."""
    from torch.profiler import ProfilerActivity, profile

    with _quiet_native_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]")
    held = peak = 0
    for _, size in events:
        held += size
        peak = max(peak, held)
    return peak
