"""shared.nn.norms against torch.nn.LayerNorm and torch.nn.RMSNorm with the same parameters."""
import pytest
import torch
from torch import nn

from shared.nn.norms import LayerNorm, RMSNorm, make_norm

TOL = dict(rtol=1e-5, atol=1e-5)


def random_affine(*modules, seed=0):
    """Give every module the same random weight (and bias), so the affine part is tested too."""
    g = torch.Generator().manual_seed(seed)
    dim = modules[0].weight.numel()
    weight, bias = torch.randn(dim, generator=g), torch.randn(dim, generator=g)
    with torch.no_grad():
        for module in modules:
            module.weight.copy_(weight)
            if getattr(module, "bias", None) is not None:
                module.bias.copy_(bias)


@pytest.mark.parametrize("shape", [(4, 32), (2, 5, 32)])
def test_layernorm_matches_torch(shape):
    ours, theirs = LayerNorm(32, eps=1e-5), nn.LayerNorm(32, eps=1e-5)
    random_affine(ours, theirs)
    x = torch.randn(*shape) * 3 + 1
    torch.testing.assert_close(ours(x), theirs(x), **TOL)


@pytest.mark.parametrize("shape", [(4, 32), (2, 5, 32)])
def test_rmsnorm_matches_torch(shape):
    ours, theirs = RMSNorm(32, eps=1e-6), nn.RMSNorm(32, eps=1e-6)
    random_affine(ours, theirs)
    x = torch.randn(*shape) * 3 + 1
    torch.testing.assert_close(ours(x), theirs(x), **TOL)


def test_gradients_match_torch():
    for ours, theirs in [(LayerNorm(16), nn.LayerNorm(16)), (RMSNorm(16), nn.RMSNorm(16, eps=1e-5))]:
        random_affine(ours, theirs)
        x = torch.randn(3, 16, requires_grad=True)
        x_ref = x.detach().clone().requires_grad_()
        (ours(x) ** 2).sum().backward()
        (theirs(x_ref) ** 2).sum().backward()
        torch.testing.assert_close(x.grad, x_ref.grad, **TOL)
        torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, **TOL)


def test_layernorm_output_has_zero_mean_unit_variance():
    y = LayerNorm(64)(torch.randn(10, 64) * 5 + 3)
    torch.testing.assert_close(y.mean(-1), torch.zeros(10), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(-1, unbiased=False), torch.ones(10), atol=1e-3, rtol=0)


def test_rmsnorm_keeps_the_mean_and_has_unit_root_mean_square():
    x = torch.randn(10, 64) + 3
    y = RMSNorm(64)(x)
    torch.testing.assert_close(y.pow(2).mean(-1), torch.ones(10), atol=1e-3, rtol=0)
    assert y.mean() > 0.5, "RMSNorm does not centre: a positive mean stays positive"


def test_make_norm():
    assert isinstance(make_norm("layer", 8), LayerNorm) and isinstance(make_norm("rms", 8), RMSNorm)
    assert sum(p.numel() for p in make_norm("layer", 8).parameters()) == 16  # weight + bias
    assert sum(p.numel() for p in make_norm("rms", 8).parameters()) == 8     # weight only
    with pytest.raises(ValueError, match="unknown norm"):
        make_norm("batch", 8)


def test_make_norm_can_return_torch_kernels():
    assert isinstance(make_norm("layer", 8, library="torch"), nn.LayerNorm)
    assert isinstance(make_norm("rms", 8, library="torch"), nn.RMSNorm)
    with pytest.raises(ValueError, match="unknown library"):
        make_norm("rms", 8, library="apex")
