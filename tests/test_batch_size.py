"""The gradient noise scale estimator (shared.train.batch_size) on gradients with a known G and Σ,
and the group gradients against torch's gradient of the whole batch."""
import pytest
import torch

from shared.nn.gpt import GPT, GPTConfig
from shared.train.batch_size import BatchSweepConfig, group_gradients, noise_scale


@pytest.mark.parametrize("group_size", [1, 4, 16])
def test_noise_scale_recovers_known_trace_and_norm(group_size):
    # per-example gradients g_i ~ N(G, diag(s^2)): tr(Σ) = Σ s^2, |G|^2 known, B_simple = their ratio
    gen = torch.Generator().manual_seed(0)
    P, k = 200, 400
    G = torch.randn(P, generator=gen, dtype=torch.float64) * 0.1
    s = torch.rand(P, generator=gen, dtype=torch.float64) * 0.5
    per_example = G + s * torch.randn(k, group_size, P, generator=gen, dtype=torch.float64)
    est = noise_scale(per_example.mean(dim=1), group_size)                 # k group means
    assert est["trace_sigma"] == pytest.approx(s.square().sum().item(), rel=0.05)
    assert est["g2"] == pytest.approx(G.square().sum().item(), rel=0.1)
    assert est["b_simple"] == pytest.approx((s.square().sum() / G.square().sum()).item(), rel=0.15)


def test_noise_scale_needs_two_groups():
    with pytest.raises(ValueError):
        noise_scale(torch.zeros(1, 5), 4)


def test_group_gradients_average_to_the_batch_gradient():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=17, block_size=8, n_layer=1, n_head=2, n_embd=16, dropout=0.0))
    x, y = torch.randint(17, (12, 8)), torch.randint(17, (12, 8))
    groups = group_gradients(model, x, y, group_size=4)                    # (3, P)
    assert groups.shape == (3, sum(p.numel() for p in model.parameters()))
    assert all(p.grad is None for p in model.parameters())                # .grad untouched
    model(x, targets=y)[1].backward()
    full = torch.cat([p.grad.flatten() for p in model.parameters()])
    torch.testing.assert_close(groups.mean(dim=0), full, rtol=1e-5, atol=1e-6)
    model.zero_grad()
    model(x[4:8], targets=y[4:8])[1].backward()
    torch.testing.assert_close(groups[1], torch.cat([p.grad.flatten() for p in model.parameters()]))


def test_sweep_config_budgets():
    cfg = BatchSweepConfig()
    assert all(cfg.eval_every % b == 0 for b in cfg.batch_sizes)          # every run is evaluated on the same grid
    assert cfg.steps(1) == cfg.token_budget and cfg.steps(cfg.batch_sizes[-1]) == cfg.step_budget
    assert cfg.lr(4 * cfg.base_batch) == pytest.approx(2 * cfg.base_lr)   # square-root scaling
    assert BatchSweepConfig(seeds=(0,)).cache_name() != cfg.cache_name()
