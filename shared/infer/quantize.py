"""Weight quantization from scratch: integers plus a scale (and a zero point) per tensor, row or group.

    q, scale = absmax_quantize(w, bits=8, axis=0)           # symmetric, one scale per output row
    w_hat = absmax_dequantize(q, scale)
    q, scale, zero = zeropoint_quantize(w, bits=8)          # asymmetric: [min, max] -> [0, 2^bits - 1]
    w_hat = zeropoint_dequantize(q, scale, zero)
    w_hat = groupwise_fake_quantize(w, bits=4, group_size=32)  # GGUF Q4_1-style: scale and min per 32 weights

Conventions (those of torch.fake_quantize_per_*_affine, which tests/test_quantize.py checks against):
- absmax (symmetric): scale = max|w| / (2^(bits-1) - 1), q = round(w / scale) in [-(2^(bits-1) - 1), 2^(bits-1) - 1];
  zero maps to zero exactly; the range is symmetric even when the weights are not.
- zero point (asymmetric): scale = (max - min) / (2^bits - 1), zero = round(-min / scale),
  q = clamp(round(w / scale) + zero, 0, 2^bits - 1); uses every level when the weights are skewed.
- `axis=None` is one scale for the whole tensor (per-tensor); `axis=0` one per row of a Linear
  weight (out_features, in_features), i.e. per output channel.
- q = round(w * (1 / scale)), half to even, as torch's quantize functions compute it: w / scale
  would round a few weights that sit on a half step the other way.
"""
import torch


def _reduce(t, axis, fn):
    """fn (amax or amin) over the whole tensor (axis=None) or over every dim but `axis`, kept broadcastable."""
    if axis is None:
        return fn(t)
    dims = [d for d in range(t.dim()) if d != axis % t.dim()]
    return fn(t, dim=dims, keepdim=True)


def absmax_quantize(w: torch.Tensor, bits: int = 8, axis: int | None = None):
    """Symmetric quantization: (q int8, scale); scale is a scalar (axis=None) or one per slice along `axis`."""
    qmax = 2 ** (bits - 1) - 1                                          # 127 for 8 bits
    scale = (_reduce(w.abs(), axis, torch.amax) / qmax).clamp(min=1e-12)  # avoid 0/0 on an all-zero row
    q = torch.clamp(torch.round(w * (1.0 / scale)), -qmax, qmax).to(torch.int8)
    return q, scale


def absmax_dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return q.float() * scale


def zeropoint_quantize(w: torch.Tensor, bits: int = 8, axis: int | None = None):
    """Asymmetric quantization: (q uint8, scale, zero); the range [min, max] (widened to hold 0) fills 0..2^bits-1."""
    qmax = 2 ** bits - 1                                                # 255 for 8 bits
    low = _reduce(w, axis, torch.amin).clamp(max=0)                     # the range always holds 0,
    high = _reduce(w, axis, torch.amax).clamp(min=0)                    # so zero is exactly representable
    scale = ((high - low) / qmax).clamp(min=1e-12)
    zero = torch.clamp(torch.round(-low / scale), 0, qmax)
    q = torch.clamp(torch.round(w * (1.0 / scale)) + zero, 0, qmax).to(torch.uint8)
    return q, scale, zero


def zeropoint_dequantize(q: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor) -> torch.Tensor:
    return (q.float() - zero) * scale


def groupwise_quantize(w: torch.Tensor, bits: int = 4, group_size: int = 32):
    """Weight-only group-wise quantization of a 2-D weight (out, in): each row is cut into groups of
    `group_size` consecutive weights with their own scale and zero point (asymmetric), as GGUF's
    Q4_1 does with a scale and a minimum per 32 weights. Returns q (out, in // group_size, group_size)
    and scale, zero of shape (out, in // group_size, 1)."""
    out_features, in_features = w.shape
    if in_features % group_size:
        raise ValueError(f"in_features {in_features} is not a multiple of group_size {group_size}")
    groups = w.reshape(out_features, in_features // group_size, group_size)   # (out, n_groups, group_size)
    qmax = 2 ** bits - 1                                                # 15 for 4 bits
    low = groups.amin(dim=-1, keepdim=True).clamp(max=0)                # (out, n_groups, 1)
    high = groups.amax(dim=-1, keepdim=True).clamp(min=0)
    scale = ((high - low) / qmax).clamp(min=1e-12)
    zero = torch.clamp(torch.round(-low / scale), 0, qmax)
    q = torch.clamp(torch.round(groups * (1.0 / scale)) + zero, 0, qmax).to(torch.uint8)  # (out, n_groups, group_size)
    return q, scale, zero


def groupwise_dequantize(q, scale, zero) -> torch.Tensor:
    """Back to a 2-D float weight (out, in)."""
    return ((q.float() - zero) * scale).flatten(1)


def groupwise_fake_quantize(w: torch.Tensor, bits: int = 4, group_size: int = 32) -> torch.Tensor:
    """Quantize and dequantize: the float weight a group-wise quantized model computes with."""
    return groupwise_dequantize(*groupwise_quantize(w, bits, group_size))


def quantized_bytes(shape, bits: int, group_size: int | None = None, per_row: bool = True,
                    scale_bytes: int = 4, zero_point: bool = False) -> int:
    """Storage of a quantized 2-D weight: bits per weight plus its scales (and zero points)."""
    out_features, in_features = shape
    n_scales = out_features * (in_features // group_size) if group_size else (out_features if per_row else 1)
    return (out_features * in_features * bits + 7) // 8 + n_scales * scale_bytes * (2 if zero_point else 1)


class FakeQuantize(torch.nn.Module):
    """A weight parametrization for quantization-aware training (QAT).

    The forward sees the weight quantized and de-quantized (group-wise, zero point; `group_size=None`
    means one group per row, i.e. per channel); the backward passes the gradient straight through the
    rounding, as if it were the identity (the straight-through estimator): w + (q(w) - w).detach().

        torch.nn.utils.parametrize.register_parametrization(linear, "weight", FakeQuantize(bits=4))
    """

    def __init__(self, bits: int = 4, group_size: int | None = None):
        super().__init__()
        self.bits, self.group_size = bits, group_size

    def forward(self, w):
        w_q = groupwise_fake_quantize(w, self.bits, self.group_size or w.shape[1])
        return w + (w_q - w).detach()          # value: w_q; gradient: d/dw of w = identity


def fake_quantize_linears(model: torch.nn.Module, bits: int = 4, group_size: int | None = None,
                          keep: bool = False, filter_fn=None) -> torch.nn.Module:
    """Fake-quantize the weight of every nn.Linear (that `filter_fn(name, module)` accepts) in place.

    keep=False bakes the quantized weights in (post-training quantization); keep=True leaves a
    FakeQuantize parametrization on each weight, so training sees quantized weights (QAT). Call
    again with keep=False after QAT to bake them in."""
    from torch.nn.utils import parametrize

    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or (filter_fn and not filter_fn(name, module)):
            continue
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
            if keep:
                parametrize.register_parametrization(module, "weight", FakeQuantize(bits, group_size))
            continue
        parametrize.register_parametrization(module, "weight", FakeQuantize(bits, group_size))
        if not keep:
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return model
