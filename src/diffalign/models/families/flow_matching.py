"""Rectified-flow maths shared by the flow-matching families (SD3 / SD3.5, Flux), as pure functions of sigma.

The forward process is x_s = (1 - s) x_0 + s eps for s = sigma in [0, 1] (the scheduler's shifted sigma; the
timestep grid is t = s T), the denoiser predicts the velocity v = eps - x_0, so eps = x_s + (1 - s) v. Point-wise
MI (Kong et al.'s i(x; y) = 1/2 int ||eps(x_a, y) - eps(x_a)||^2 da over a = log SNR = 2 log((1 - s) / s)) is then
int_0^1 ||eps_y - eps||^2 / (s (1 - s)) ds = int_0^1 ((1 - s) / s) ||v_y - v||^2 ds: the derivation and its
scale against the DDPM families' kappa_t are in docs/models.md, "MI for flow matching".
"""

from __future__ import annotations

from functools import cached_property

import torch

from ...errors import UserInputError
from .base import ATTENTION_PROJECTIONS, Family


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


def check_flow_scheduler(scheduler, pipeline_class: str) -> None:
    """A flow model samples with a flow-matching scheduler; --scheduler's DDPM-family ones would read its velocity
    as epsilon."""
    if not type(scheduler).__name__.startswith("FlowMatch"):
        raise UserInputError(f"a {pipeline_class} samples with its own flow-matching scheduler, not "
                             f"{type(scheduler).__name__}: drop --scheduler")


class FlowMatching(Family):
    """What SD3 and Flux share: the rectified-flow training process on the grid t = s T, velocity targets, epsilon
    and the MI weight from the functions above, and FlowMatchEuler's timesteps (with a resolution-dependent shift
    mu when the scheduler config asks for dynamic shifting, as the diffusers pipelines compute it)."""

    denoiser_name = "transformer"
    named_schedulers = False
    unet_lora_keys = False
    # every attention's projections; MMDiT's joint attention also projects the text stream (add_*, to_add_out)
    lora_targets = ATTENTION_PROJECTIONS + ("add_q_proj", "add_k_proj", "add_v_proj", "to_add_out")

    @cached_property
    def training_scheduler(self):
        """The scheduler's own training grid (its sigmas at num_train_timesteps, shifted unless the shift is
        dynamic), which `draw_timesteps` samples uniformly, as diffusers' SD3 / Flux LoRA scripts do."""
        from diffusers import FlowMatchEulerDiscreteScheduler

        return FlowMatchEulerDiscreteScheduler.from_config(self.pipe.scheduler.config)

    @property
    def num_train_timesteps(self) -> int:
        return self.pipe.scheduler.config.num_train_timesteps

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(t) / self.num_train_timesteps

    def draw_timesteps(self, n: int, generator: torch.Generator) -> torch.Tensor:
        grid = self.training_scheduler.timesteps
        return grid[torch.randint(0, len(grid), (n,), generator=generator)]

    def add_noise(self, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return add_noise(z0, noise, self.sigma(t))

    def target(self, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return velocity(z0, noise)

    def to_epsilon(self, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return to_epsilon(output, x_t, self.sigma(t))

    def mi_weight(self, t: torch.Tensor, variant: str = "official") -> torch.Tensor:
        return mi_weight(self.sigma(t))  # one weight: the variants differ only in DDPM's discretisation

    def mi_spans(self, timesteps: torch.Tensor) -> torch.Tensor:
        return riemann_spans(self.sigma(timesteps))

    def image_tokens(self) -> int:
        """Transformer tokens of one image at the default size (the input of the dynamic shift)."""
        raise NotImplementedError

    def set_timesteps(self, scheduler, steps: int, device) -> None:
        check_flow_scheduler(scheduler, self.pipeline_class)
        extra = {}
        if scheduler.config.get("use_dynamic_shifting"):
            from diffusers.pipelines.flux.pipeline_flux import calculate_shift

            c = scheduler.config
            extra["mu"] = calculate_shift(self.image_tokens(), c.get("base_image_seq_len", 256),
                                          c.get("max_image_seq_len", 4096), c.get("base_shift", 0.5),
                                          c.get("max_shift", 1.15))
        scheduler.set_timesteps(steps, device=device, **extra)
