"""Denoising diffusion (DDPM, Ho et al., 2020; DDIM, Song et al., 2021), written to be read.

The forward process adds Gaussian noise to an image x_0 in T small steps, with variances
beta_1..beta_T (a linear schedule from 1e-4 to 0.02 over T = 1000 steps, as in the paper). Because
a sum of Gaussians is Gaussian, any step can be reached in one jump:

    q(x_t | x_0) = N( sqrt(abar_t) x_0 , (1 - abar_t) I )     abar_t = prod_{s<=t} (1 - beta_s)
    x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps             eps ~ N(0, I)          (add_noise)

A network eps_theta(x_t, t) learns to predict the noise eps that was added: the loss is the mean
squared error || eps - eps_theta(x_t, t) ||^2 at a random t (the "simple" loss of the paper).

Sampling runs the chain backwards from pure noise x_T ~ N(0, I). From the predicted noise we get
a guess of the clean image, x0_hat = (x_t - sqrt(1 - abar_t) eps_theta) / sqrt(abar_t), and

- DDPM (ancestral) draws x_{t'} from the Gaussian posterior q(x_{t'} | x_t, x0_hat): its mean mixes
  x0_hat and x_t, its variance is fixed; fresh noise at every step, so it needs many steps;
- DDIM jumps deterministically (eta = 0) to x_{t'} = sqrt(abar_t') x0_hat + sqrt(1 - abar_t') eps_theta:
  the same trained network, far fewer steps (t' can be 50 steps below t).

    ddpm = DDPM()                                        # T = 1000, linear betas
    x_t = ddpm.add_noise(x0, noise, t)                   # (B, C, H, W), t: (B,) ints
    loss = ddpm.loss(eps_model, x0, t, noise)            # eps_model(x_t, t) -> (B, C, H, W)
    x0 = ddpm.sample(eps_model, (16, 1, 16, 16), num_steps=50, method="ddim", generator=g)

Every formula matches `diffusers`' `DDPMScheduler` and `DDIMScheduler` (default settings: epsilon
prediction, x0_hat clipped to [-1, 1], "leading" timestep spacing); `tests/test_ddpm.py` checks
`add_noise` and each sampling step against them to 1e-6.
"""
from collections.abc import Callable

import torch


class DDPM:
    """The noise schedule and the three operations of a diffusion model: noising, the loss, sampling."""

    def __init__(self, num_train_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
                 clip_sample: bool = True):
        if num_train_timesteps < 2:
            raise ValueError(f"num_train_timesteps must be >= 2, got {num_train_timesteps}")
        if not 0 < beta_start < beta_end < 1:
            raise ValueError(f"need 0 < beta_start < beta_end < 1, got {beta_start}, {beta_end}")
        self.T = num_train_timesteps
        self.clip_sample = clip_sample                                   # clamp x0_hat to the data range [-1, 1]
        self.betas = torch.linspace(beta_start, beta_end, self.T, dtype=torch.float32)  # (T,) beta_t
        self.alphas = 1.0 - self.betas                                   # (T,) alpha_t = 1 - beta_t
        self.alphas_cumprod = torch.cumprod(self.alphas, dim=0)          # (T,) abar_t: signal kept at step t

    def _abar(self, t: int) -> torch.Tensor:
        """abar_t, with abar_{-1} = 1 (the clean image: no noise at all) for the last step."""
        return self.alphas_cumprod[t] if t >= 0 else torch.tensor(1.0)

    # --- forward process and training ------------------------------------------------------------

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, one t per image: (B, ...) and (B,) -> (B, ...)."""
        abar = self.alphas_cumprod.to(x0.device, x0.dtype)[t]              # (B,)
        abar = abar.reshape(-1, *([1] * (x0.dim() - 1)))                   # (B, 1, 1, 1): broadcast over pixels
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise

    def loss(self, eps_model: Callable, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The simple loss: mean of (eps - eps_theta(x_t, t))^2 over images and pixels."""
        x_t = self.add_noise(x0, noise, t)
        return torch.nn.functional.mse_loss(eps_model(x_t, t), noise)

    # --- reverse process -------------------------------------------------------------------------

    def timesteps(self, num_steps: int) -> list[int]:
        """The t visited when sampling in `num_steps` steps, from noisy to clean, evenly spaced from 0
        ("leading"): T=1000, 4 steps -> [750, 500, 250, 0]."""
        if not 1 <= num_steps <= self.T:
            raise ValueError(f"num_steps must be between 1 and {self.T}, got {num_steps}")
        stride = self.T // num_steps
        return [i * stride for i in reversed(range(num_steps))]

    def predict_x0(self, x_t: torch.Tensor, eps: torch.Tensor, t: int) -> torch.Tensor:
        """x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t): the clean image the noise estimate implies."""
        abar = self._abar(t)
        x0 = (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()
        return x0.clamp(-1, 1) if self.clip_sample else x0

    def ddpm_step(self, eps: torch.Tensor, t: int, x_t: torch.Tensor, prev_t: int,
                  noise: torch.Tensor | None = None) -> torch.Tensor:
        """One ancestral step x_t -> x_{prev_t} ~ q(x_{prev_t} | x_t, x0_hat) (eq. 6-7 of Ho et al.).
        With prev_t = t - 1 it is the paper's step; a larger jump uses the same posterior with
        beta = 1 - abar_t / abar_{prev_t}. `noise` (like x_t) is needed unless t == 0."""
        abar_t, abar_prev = self._abar(t), self._abar(prev_t)
        alpha = abar_t / abar_prev                                          # signal kept from prev_t to t
        beta = 1 - alpha                                                    # variance added from prev_t to t
        x0 = self.predict_x0(x_t, eps, t)
        # the posterior mean: a mix of the clean guess and the current sample
        mean = (abar_prev.sqrt() * beta / (1 - abar_t)) * x0 + (alpha.sqrt() * (1 - abar_prev) / (1 - abar_t)) * x_t
        if t == 0:
            return mean                                                     # the last step adds no noise
        if noise is None:
            raise ValueError("ddpm_step needs `noise` (shaped like x_t) for t > 0")
        variance = ((1 - abar_prev) / (1 - abar_t) * beta).clamp(min=1e-20)  # beta_tilde: the posterior variance
        return mean + variance.sqrt() * noise

    def ddim_step(self, eps: torch.Tensor, t: int, x_t: torch.Tensor, prev_t: int, eta: float = 0.0,
                  noise: torch.Tensor | None = None) -> torch.Tensor:
        """One DDIM step x_t -> x_{prev_t} (eq. 12 of Song et al.): the clean guess moved back to
        noise level prev_t along the predicted noise. eta = 0: deterministic; eta = 1: DDPM-like."""
        abar_t, abar_prev = self._abar(t), self._abar(prev_t)
        x0 = self.predict_x0(x_t, eps, t)
        sigma = eta * ((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)).sqrt()
        x_prev = abar_prev.sqrt() * x0 + (1 - abar_prev - sigma**2).sqrt() * eps
        if eta > 0:
            if noise is None:
                raise ValueError("ddim_step with eta > 0 needs `noise` (shaped like x_t)")
            x_prev = x_prev + sigma * noise
        return x_prev

    @torch.no_grad()
    def sample(self, eps_model: Callable, shape: tuple, num_steps: int | None = None, method: str = "ddpm",
               generator: torch.Generator | None = None, x_T: torch.Tensor | None = None,
               progress: Callable = iter, device: str | torch.device | None = None) -> torch.Tensor:
        """Images (shape) from pure noise: `num_steps` steps (default T) of `method` ("ddpm" or
        "ddim"); eps_model(x_t, t) -> predicted noise; all randomness from `generator` (a CPU one:
        the noise is drawn on the CPU, then moved to `device`, so a GPU run starts from the same noise)."""
        if method not in ("ddpm", "ddim"):
            raise ValueError(f"method must be 'ddpm' or 'ddim', got {method!r}")
        steps = self.timesteps(num_steps or self.T)
        x = (torch.randn(shape, generator=generator) if x_T is None else x_T).to(device)   # x_T ~ N(0, I)
        for i in progress(range(len(steps))):
            t, prev_t = steps[i], steps[i + 1] if i + 1 < len(steps) else -1
            eps = eps_model(x, t)                                            # (B, C, H, W)
            if method == "ddim":
                x = self.ddim_step(eps, t, x, prev_t)
            else:
                noise = torch.randn(shape, generator=generator).to(device) if t > 0 else None
                x = self.ddpm_step(eps, t, x, prev_t, noise)
        return x


def classifier_free_guidance(eps_cond: torch.Tensor, eps_uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """eps_uncond + scale * (eps_cond - eps_uncond) (Ho & Salimans, 2022): scale 0 ignores the
    prompt, 1 is the plain conditional model, > 1 pushes further in the prompt's direction."""
    return eps_uncond + scale * (eps_cond - eps_uncond)
