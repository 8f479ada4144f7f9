"""shared.nn.ddpm against diffusers' schedulers: the same noising, the same sampling steps."""
import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from shared.nn.ddpm import DDPM, classifier_free_guidance


def fake_eps(x, t):
    """A stand-in for the network: any smooth function of (x_t, t) exercises the step formulas."""
    return torch.tanh(0.7 * x + 0.001 * t)


def test_add_noise_matches_diffusers():
    ddpm, theirs = DDPM(), DDPMScheduler()
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.rand(8, 1, 16, 16, generator=g) * 2 - 1, torch.randn(8, 1, 16, 16, generator=g)
    t = torch.tensor([0, 1, 10, 100, 400, 700, 998, 999])
    torch.testing.assert_close(ddpm.add_noise(x0, noise, t), theirs.add_noise(x0, noise, t), rtol=0, atol=1e-6)
    torch.testing.assert_close(ddpm.alphas_cumprod, theirs.alphas_cumprod, rtol=0, atol=1e-7)


@pytest.mark.parametrize("num_steps", [1000, 50, 7])
def test_ddpm_sampling_matches_diffusers_step_by_step(num_steps):
    ddpm, theirs = DDPM(), DDPMScheduler()
    theirs.set_timesteps(num_steps)
    assert ddpm.timesteps(num_steps) == theirs.timesteps.tolist()
    ours = x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    g_ours, g_theirs = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
    steps = ddpm.timesteps(num_steps)
    for i, t in enumerate(steps):
        prev_t = steps[i + 1] if i + 1 < len(steps) else -1
        noise = torch.randn(x.shape, generator=g_ours) if t > 0 else None  # the draw diffusers makes
        ours = ddpm.ddpm_step(fake_eps(ours, t), t, ours, prev_t, noise)
        x = theirs.step(fake_eps(x, t), t, x, generator=g_theirs).prev_sample
        torch.testing.assert_close(ours, x, rtol=0, atol=1e-6, msg=f"step t={t}")


@pytest.mark.parametrize("num_steps, eta", [(50, 0.0), (10, 0.0), (20, 1.0)])
def test_ddim_sampling_matches_diffusers_step_by_step(num_steps, eta):
    ddpm, theirs = DDPM(), DDIMScheduler()
    theirs.set_timesteps(num_steps)
    assert ddpm.timesteps(num_steps) == theirs.timesteps.tolist()
    ours = x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(4)
    steps = ddpm.timesteps(num_steps)
    for i, t in enumerate(steps):
        prev_t = steps[i + 1] if i + 1 < len(steps) else -1
        noise = torch.randn(x.shape, generator=g)
        ours = ddpm.ddim_step(fake_eps(ours, t), t, ours, prev_t, eta=eta, noise=noise)
        x = theirs.step(fake_eps(x, t), t, x, eta=eta, variance_noise=noise if eta > 0 else None).prev_sample
        torch.testing.assert_close(ours, x, rtol=0, atol=1e-6, msg=f"step t={t}")


def test_sample_loop_equals_the_diffusers_loop():
    """DDPM.sample (DDIM, 25 steps) = the usual diffusers loop over scheduler.timesteps."""
    ddpm, theirs = DDPM(), DDIMScheduler()
    theirs.set_timesteps(25)
    ours = ddpm.sample(fake_eps, (2, 1, 8, 8), num_steps=25, method="ddim", generator=torch.Generator().manual_seed(5))
    x = torch.randn((2, 1, 8, 8), generator=torch.Generator().manual_seed(5))
    for t in theirs.timesteps:
        x = theirs.step(fake_eps(x, int(t)), t, x).prev_sample
    torch.testing.assert_close(ours, x, rtol=0, atol=1e-6)


def test_loss_is_zero_for_a_perfect_noise_predictor():
    ddpm = DDPM()
    x0, noise = torch.zeros(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    t = torch.tensor([5, 50, 500])
    assert ddpm.loss(lambda x_t, t: noise, x0, t, noise).item() == 0.0
    assert ddpm.loss(lambda x_t, t: torch.zeros_like(x_t), x0, t, noise).item() > 0.5


def test_guidance_scales():
    cond, uncond = torch.ones(2), torch.zeros(2)
    assert classifier_free_guidance(cond, uncond, 0.0).tolist() == [0.0, 0.0]   # ignore the prompt
    assert classifier_free_guidance(cond, uncond, 1.0).tolist() == [1.0, 1.0]   # plain conditional
    assert classifier_free_guidance(cond, uncond, 3.0).tolist() == [3.0, 3.0]


def test_bad_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="num_steps"):
        DDPM().timesteps(0)
    with pytest.raises(ValueError, match="noise"):
        DDPM().ddpm_step(torch.zeros(1), 10, torch.zeros(1), 9)
    with pytest.raises(ValueError, match="method"):
        DDPM().sample(fake_eps, (1, 1, 2, 2), num_steps=2, method="euler")
