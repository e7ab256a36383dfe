"""Rectified-flow maths shared by the flow-matching families (SD3 / SD3.5, Flux), as pure functions of sigma.

The forward process is x_s = (1 - s) x_0 + s eps for s = sigma in [0, 1] (the scheduler's shifted sigma; the
timestep grid is t = s T), the denoiser predicts the velocity v = eps - x_0, so eps = x_s + (1 - s) v. Point-wise
MI (Kong et al.'s i(x; y) = 1/2 int ||eps(x_a, y) - eps(x_a)||^2 da over a = log SNR = 2 log((1 - s) / s)) is then
int_0^1 ||eps_y - eps||^2 / (s (1 - s)) ds = int_0^1 ((1 - s) / s) ||v_y - v||^2 ds: the derivation and its
scale against the DDPM families' kappa_t are in docs/models.md, "MI for flow matching".
"""

from __future__ import annotations

import torch


def _per_sample(sigma: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A scalar or B-vector sigma shaped to broadcast over B x ... tensors like `like`."""
    sigma = torch.as_tensor(sigma).to(like.device, like.dtype)
    return sigma.reshape(-1, *([1] * (like.dim() - 1)))


def add_noise(z0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """x_s = (1 - s) x_0 + s eps."""
    s = _per_sample(sigma, z0)
    return (1 - s) * z0 + s * noise


def velocity(z0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The training target d x_s / d s = eps - x_0."""
    return noise - z0


def to_epsilon(v: torch.Tensor, x_t: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """The noise a velocity implies at x_s: eps = x_s + (1 - s) v (so eps_c - eps_u = (1 - s)(v_c - v_u))."""
    return x_t + (1 - _per_sample(sigma, x_t)) * v


def mi_weight(sigma: torch.Tensor) -> torch.Tensor:
    """The float64 weight of ||eps_p - eps_null||^2 at s when s is drawn uniformly from [0, 1]: 1 / (s (1 - s)),
    i.e. 1/2 |d log SNR / ds|. At s = 1 (pure noise, where the flow samplers start) both predictions are x_s itself
    and the integrand ((1 - s) / s) ||v_p - v_null||^2 vanishes, so the weight is 0 there (not inf times 0)."""
    s = torch.as_tensor(sigma).double().cpu()
    return torch.where(s < 1, 1 / (s * (1 - s)).clamp_min(torch.finfo(torch.float64).tiny), torch.zeros_like(s))


def riemann_spans(sigmas: torch.Tensor) -> torch.Tensor:
    """The width s_i - s_{i+1} each visited sigma stands for in the Riemann sum of an integral over s (the sampler
    ends at s = 0): a sampler's shifted sigmas are not evenly spaced, so a plain mean over its steps would weight
    the integral by the shift's density instead of ds."""
    s = torch.as_tensor(sigmas).double().cpu()
    return s - torch.cat([s[1:], s.new_zeros(1)])
