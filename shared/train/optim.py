"""Adam and AdamW written out, one update at a time, to see what "decoupled weight decay" changes.

    opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)                   # == torch.optim.AdamW
    opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.1, decoupled=False)  # == torch.optim.Adam(weight_decay=0.1)

Adam with L2 adds `weight_decay * w` to the gradient, so the decay passes through Adam's
per-weight scaling 1 / sqrt(v): a weight whose gradients are large is barely decayed, one whose
gradients are small is decayed hard. AdamW (Loshchilov & Hutter, 2019) shrinks every weight by the
same factor `1 - lr * weight_decay` outside the adaptive step. tests/test_optim.py checks both
against torch on the same gradients.
"""
import torch


@torch.no_grad()
def adam_step(param, grad, exp_avg, exp_avg_sq, step: int, lr: float, betas=(0.9, 0.999), eps: float = 1e-8,
              weight_decay: float = 0.0, decoupled: bool = True) -> None:
    """Update `param` in place with one Adam(W) step; `exp_avg`, `exp_avg_sq` (same shape) are updated too.

    step is 1-based (the bias corrections divide by 1 - beta**step)."""
    beta1, beta2 = betas
    if weight_decay and decoupled:
        param.mul_(1 - lr * weight_decay)          # AdamW: shrink the weight itself, outside the adaptive step
    elif weight_decay:
        grad = grad + weight_decay * param         # Adam + L2: the decay is part of the gradient ...
    exp_avg.lerp_(grad, 1 - beta1)                 # m = beta1 m + (1 - beta1) g        (first moment)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # v = beta2 v + (1 - beta2) g^2
    # bias correction (m and v start at 0): m_hat = m / (1 - beta1^t), v_hat = v / (1 - beta2^t); the step
    # lr * m_hat / (sqrt(v_hat) + eps), in torch's order of operations so that the rounding matches too
    denom = (exp_avg_sq.sqrt() / (1 - beta2 ** step) ** 0.5).add_(eps)
    param.addcdiv_(exp_avg, denom, value=-lr / (1 - beta1 ** step))  # ... and the L2 term is divided by sqrt(v) like g


class AdamW(torch.optim.Optimizer):
    """`adam_step` on every parameter; decoupled=True is AdamW, False is Adam with L2 in the gradient."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, decoupled: bool = True):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, decoupled=decoupled))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:                       # first step: moments start at zero
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                adam_step(p, p.grad, state["exp_avg"], state["exp_avg_sq"], state["step"], group["lr"],
                          group["betas"], group["eps"], group["weight_decay"], group["decoupled"])
        return loss


def decay_groups(model, weight_decay: float) -> list[dict]:
    """Parameter groups as `shared.train.pretrain.make_optimizer` builds them: weight decay on
    matrices and embeddings only, none on biases and norm gains."""
    return [{"params": [p for p in model.parameters() if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in model.parameters() if p.dim() < 2], "weight_decay": 0.0}]
