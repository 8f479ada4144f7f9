"""The from-scratch Adam(W) step (shared.train.optim) against torch.optim on the same gradients."""
import pytest
import torch

from shared.train.optim import AdamW, adam_step


def _run(make_optimizer, steps=20, seed=0):
    """Train a small two-layer net with fixed random data; return its final weights."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    opt = make_optimizer(net.parameters())
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(32, 8, generator=g), torch.randint(3, (32,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return [p.detach().clone() for p in net.parameters()]


@pytest.mark.parametrize("weight_decay", [0.0, 0.1, 1.0])
def test_adamw_equals_torch_adamw(weight_decay):
    kw = dict(lr=3e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=weight_decay)
    ours = _run(lambda p: AdamW(p, **kw))
    theirs = _run(lambda p: torch.optim.AdamW(p, **kw))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1, 1.0])
def test_coupled_variant_equals_torch_adam_with_l2(weight_decay):
    kw = dict(lr=3e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=weight_decay)
    ours = _run(lambda p: AdamW(p, decoupled=False, **kw))
    theirs = _run(lambda p: torch.optim.Adam(p, **kw))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_adam_with_l2_is_not_adamw():
    kw = dict(lr=3e-2, weight_decay=0.5)
    l2 = _run(lambda p: AdamW(p, decoupled=False, **kw))
    decoupled = _run(lambda p: AdamW(p, **kw))
    assert max((a - b).abs().max().item() for a, b in zip(l2, decoupled)) > 1e-3


def test_one_step_by_hand():
    """A scalar worked example: after step 1, m_hat = g and v_hat = g^2, so the step is lr * sign(g)."""
    p, g = torch.tensor([2.0]), torch.tensor([-0.5])
    m, v = torch.zeros(1), torch.zeros(1)
    adam_step(p, g, m, v, step=1, lr=0.1, eps=0.0, weight_decay=0.5)
    assert p.item() == pytest.approx(2.0 * (1 - 0.1 * 0.5) + 0.1)   # decay 2 -> 1.9, then +lr
    p2, m2, v2 = torch.tensor([2.0]), torch.zeros(1), torch.zeros(1)
    adam_step(p2, g, m2, v2, step=1, lr=0.1, eps=0.0, weight_decay=0.5, decoupled=False)
    assert p2.item() == pytest.approx(2.0 - 0.1)                     # g + 0.5 * 2 = 0.5 > 0: one step down
