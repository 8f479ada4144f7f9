"""shared.infer.quantize against PyTorch's own quantize functions on the same weights and scales."""
import pytest
import torch

from shared.infer.quantize import (
    absmax_dequantize,
    absmax_quantize,
    groupwise_dequantize,
    groupwise_fake_quantize,
    groupwise_quantize,
    quantized_bytes,
    zeropoint_dequantize,
    zeropoint_quantize,
)


@pytest.fixture
def w():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(48, 64, generator=g) * 0.02
    w[3, 5] = 0.5                     # an outlier: it stretches the range of its row (and the tensor's)
    w[7] = w[7].abs()                 # a skewed row: all positive
    return w


# torch.quantize_per_* (the quantized dtypes) are deprecated in torch 2.13; they still show the integers
DEPRECATED_QTENSORS = pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")


@DEPRECATED_QTENSORS
def test_absmax_per_tensor_matches_torch(w):
    q, scale = absmax_quantize(w, bits=8)
    ours = absmax_dequantize(q, scale)
    theirs = torch.fake_quantize_per_tensor_affine(w, scale.item(), 0, -127, 127)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    assert q.dtype == torch.int8 and q.abs().max() == 127
    qt = torch.quantize_per_tensor(w, scale.item(), 0, torch.qint8)   # the quantized tensor holds the same ints
    assert torch.equal(qt.int_repr(), q)


@DEPRECATED_QTENSORS
def test_absmax_per_channel_matches_torch(w):
    q, scale = absmax_quantize(w, bits=8, axis=0)                      # scale (48, 1)
    assert scale.shape == (48, 1)
    theirs = torch.fake_quantize_per_channel_affine(w, scale.flatten(), torch.zeros(48, dtype=torch.int32), 0, -127, 127)
    torch.testing.assert_close(absmax_dequantize(q, scale), theirs, rtol=0, atol=0)
    qt = torch.quantize_per_channel(w, scale.flatten().double(), torch.zeros(48, dtype=torch.long), 0, torch.qint8)
    assert torch.equal(qt.int_repr(), q)


@pytest.mark.parametrize("axis", [None, 0])
def test_zeropoint_matches_torch(w, axis):
    q, scale, zero = zeropoint_quantize(w, bits=8, axis=axis)
    ours = zeropoint_dequantize(q, scale, zero)
    if axis is None:
        theirs = torch.fake_quantize_per_tensor_affine(w, scale.item(), int(zero.item()), 0, 255)
    else:
        theirs = torch.fake_quantize_per_channel_affine(w, scale.flatten(), zero.flatten().int(), 0, 0, 255)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    assert q.dtype == torch.uint8


def test_per_channel_beats_per_tensor_with_an_outlier(w):
    per_tensor = (absmax_dequantize(*absmax_quantize(w)) - w).abs().mean()
    per_channel = (absmax_dequantize(*absmax_quantize(w, axis=0)) - w).abs().mean()
    assert per_channel < per_tensor / 5


def test_zeropoint_uses_the_levels_of_a_skewed_row(w):
    row = w[7:8]                                                       # all positive
    symmetric = (absmax_dequantize(*absmax_quantize(row, bits=4)) - row).abs().mean()
    asymmetric = (zeropoint_dequantize(*zeropoint_quantize(row, bits=4)) - row).abs().mean()
    assert asymmetric < symmetric * 0.7


def test_groupwise_4bit_matches_torch_per_channel_on_groups(w):
    q, scale, zero = groupwise_quantize(w, bits=4, group_size=16)       # q (48, 4, 16), scale (48, 4, 1)
    assert q.shape == (48, 4, 16) and scale.shape == (48, 4, 1) and q.max() <= 15
    groups = w.reshape(-1, 16)                                           # each group is one "channel" for torch
    theirs = torch.fake_quantize_per_channel_affine(groups, scale.flatten(), zero.flatten().int(), 0, 0, 15)
    torch.testing.assert_close(groupwise_dequantize(q, scale, zero), theirs.reshape(48, 64), rtol=0, atol=0)
    torch.testing.assert_close(groupwise_fake_quantize(w, 4, 16), theirs.reshape(48, 64), rtol=0, atol=0)


def test_smaller_groups_quantize_better(w):
    errors = [(groupwise_fake_quantize(w, 4, g) - w).abs().mean() for g in (64, 32, 16)]
    assert errors[0] > errors[1] > errors[2]


def test_groupwise_needs_whole_groups(w):
    with pytest.raises(ValueError, match="multiple of group_size"):
        groupwise_quantize(w, group_size=48)


def test_quantized_bytes():
    assert quantized_bytes((576, 1536), bits=8) == 576 * 1536 + 576 * 4                       # int8 + a scale per row
    assert quantized_bytes((576, 1536), bits=4, group_size=32, zero_point=True) == 576 * 768 + 576 * 48 * 8


def test_fake_quantize_forward_is_quantized_and_backward_is_straight_through(w):
    from shared.infer.quantize import FakeQuantize

    w = w.clone().requires_grad_(True)
    out = FakeQuantize(bits=4, group_size=16)(w)
    torch.testing.assert_close(out, groupwise_fake_quantize(w.detach(), 4, 16), rtol=0, atol=0)
    (out * torch.arange(64.0)).sum().backward()
    torch.testing.assert_close(w.grad, torch.arange(64.0).expand(48, 64))   # the identity's gradient


def test_fake_quantize_linears_ptq_and_qat():
    from torch.nn.utils import parametrize

    from shared.infer.quantize import fake_quantize_linears

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(32, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    original = net[0].weight.detach().clone()
    fake_quantize_linears(net, bits=4, keep=True)                    # QAT: a parametrization on each weight
    assert parametrize.is_parametrized(net[0], "weight")
    torch.testing.assert_close(net[0].weight, groupwise_fake_quantize(original, 4, 32), rtol=0, atol=0)
    net(torch.randn(2, 32)).sum().backward()
    assert net[0].parametrizations.weight.original.grad is not None  # the float weight learns
    fake_quantize_linears(net, bits=4, keep=False)                   # bake in: plain Linear, 16 levels per row
    assert not parametrize.is_parametrized(net[0], "weight")
    assert max(len(torch.unique(row)) for row in net[0].weight) <= 16
