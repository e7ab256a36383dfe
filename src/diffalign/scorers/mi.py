"""Point-wise mutual information between a prompt and an image (MI-Tune, Eq. 2).

    I(z, p) = E_t [ kappa_t * || eps(z_t, p, t) - eps(z_t, null, t) ||^2 ]

summed over latent dimensions (nats, as in the paper): the "orthogonal" estimator. The "standard" one
(Kong et al. 2024, "Interpretable diffusion via information decomposition") measures the same quantity as
the gap in denoising error, kappa_t (||eps - eps(z_t, null, t)||^2 - ||eps - eps(z_t, p, t)||^2) for the noise
eps that made z_t: both agree in expectation for an ideal denoiser, but only the standard one can go negative,
as the point-wise MI of an image that contradicts its prompt does. It needs eps, so only `image_mi` has it.
Two ways of computing share `kappa`:
- `PointwiseMIHook` fills the estimate in for free while sampling with classifier-free guidance:
  both predictions are already computed at every visited timestep.
- `image_mi` scores an existing image: encode to z_0, draw stratified timesteps and noise, and
  average the same quantity (Monte-Carlo, with its standard error).
Timesteps at or below `min_timestep` are skipped: the estimator's variance explodes near t = 0
(the official MI-Tune code keeps t > 50).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import torch

from ..errors import UserInputError
from ..sampling.hooks import StepState
from ..sampling.sampler import encode_prompts, to_epsilon
from .base import register

KappaVariant = Literal["official", "paper"]
Estimator = Literal["orthogonal", "standard"]
KAPPA_VARIANTS, ESTIMATORS = get_args(KappaVariant), get_args(Estimator)


@dataclass(frozen=True)
class MIConfig:
    kappa: KappaVariant = "official"  # official: beta_t T / (2 (1 - abar_t)); paper: also / alpha_t
    min_timestep: int = 50  # keep only t > min_timestep
    estimator: Estimator = "orthogonal"  # orthogonal: Eq. 2; standard: the gap in denoising error (image_mi only)


def kappa(scheduler, t: torch.Tensor, variant: KappaVariant = "official") -> torch.Tensor:
    """kappa_t from the model's training schedule (betas, alphas_cumprod of its scheduler config)."""
    t = t.long().cpu()
    betas = scheduler.betas[t].double()
    abar = scheduler.alphas_cumprod[t].double()
    T = scheduler.config.num_train_timesteps
    k = betas * T / (2 * (1 - abar))
    return k / (1 - betas) if variant == "paper" else k


class PointwiseMIHook:
    """Sampler hook: mean over kept steps of kappa_t * ||eps_cond - eps_uncond||^2 per sample."""

    name = "mi"

    def __init__(self, scheduler, config: MIConfig = MIConfig()):
        if config.estimator != "orthogonal":  # the standard estimator needs the noise that made z_t
            raise ValueError("a sampling hook estimates MI with the orthogonal estimator only; use image_mi")
        self.scheduler, self.config = scheduler, config

    def begin(self, batch_size: int) -> None:
        self.total = torch.zeros(batch_size, dtype=torch.float64)
        self.count = 0

    def step(self, state: StepState) -> None:
        if state.eps_uncond is None:
            raise ValueError("point-wise MI needs classifier-free guidance (guidance > 1)")
        t = state.timestep
        if int(t) <= self.config.min_timestep:
            return
        sq = (state.eps_cond.float() - state.eps_uncond.float()).pow(2).flatten(1).sum(1).double().cpu()
        self.total += kappa(self.scheduler, t, self.config.kappa) * sq
        self.count += 1

    def end(self) -> dict[str, torch.Tensor]:
        return {self.name: self.total / max(self.count, 1)}


@dataclass
class ImageMI:
    mean: np.ndarray  # per image
    stderr: np.ndarray  # standard error of the Monte-Carlo mean


@torch.no_grad()
def image_mi(pipe, images: np.ndarray, prompts: list[str], n_timesteps: int = 32, seed: int = 0,
             config: MIConfig = MIConfig(), batch_size: int = 32) -> ImageMI:
    """MI of existing (image, prompt) pairs: stratified t over (min_timestep, T), fresh noise per draw."""
    scheduler = pipe.scheduler
    T = scheduler.config.num_train_timesteps
    gen = torch.Generator("cpu").manual_seed(seed)
    edges = np.linspace(config.min_timestep + 1, T, n_timesteps + 1)
    uncond = encode_prompts(pipe, [""])
    means, errs = [], []
    for start in range(0, len(prompts), batch_size):
        x = torch.from_numpy(images[start : start + batch_size]).permute(0, 3, 1, 2).float() / 127.5 - 1
        x = x.to(pipe.device, pipe.vae.dtype)
        z0 = pipe.vae.encode(x).latent_dist.mean * pipe.vae.config.scaling_factor
        cond = encode_prompts(pipe, prompts[start : start + batch_size])
        n = len(z0)
        draws = torch.zeros(n, n_timesteps, dtype=torch.float64)
        for j in range(n_timesteps):
            lo, hi = int(edges[j]), max(int(edges[j + 1]), int(edges[j]) + 1)
            t = torch.randint(lo, hi, (n,), generator=gen)
            noise = torch.randn(z0.shape, generator=gen).to(z0)
            z_t = scheduler.add_noise(z0, noise, t.to(z0.device))
            out = pipe.unet(torch.cat([z_t, z_t]), torch.cat([t, t]).to(z0.device),
                            encoder_hidden_states=torch.cat([uncond.expand(n, -1, -1), cond])).sample
            eps_u, eps_c = to_epsilon(scheduler, out, torch.cat([z_t, z_t]), torch.cat([t, t])).chunk(2)
            if config.estimator == "standard":
                sq = (noise - eps_u).float().pow(2) - (noise - eps_c).float().pow(2)
            else:
                sq = (eps_c.float() - eps_u.float()).pow(2)
            draws[:, j] = kappa(scheduler, t, config.kappa) * sq.flatten(1).sum(1).double().cpu()
        means.append(draws.mean(1).numpy())
        errs.append((draws.std(1) / np.sqrt(n_timesteps)).numpy())
    return ImageMI(np.concatenate(means), np.concatenate(errs))



@register("mi")
class MIScorer:
    """Point-wise MI of existing images under the model itself (the model is the scorer). Its options are
    MIConfig's fields (a recipe sets those in [mi]) and the Monte-Carlo size and seed ([scorer_options.mi])."""

    name = "mi"
    higher_is_better = True
    needs_model = True

    def __init__(self, pipe, kappa: KappaVariant = "official", min_timestep: int = 50,
                 estimator: Estimator = "orthogonal", n_timesteps: int = 32, seed: int = 0, cache_dir=None):
        if pipe is None:
            raise UserInputError("the mi scorer needs the model: pass --model")
        self.pipe, self.config = pipe, MIConfig(kappa, min_timestep, estimator)
        check_mi_config(self.config)
        self.n_timesteps, self.seed = n_timesteps, seed

    def score(self, images: np.ndarray, prompts: list[str]) -> dict[str, np.ndarray]:
        result = image_mi(self.pipe, images, prompts, self.n_timesteps, self.seed, self.config)
        return {"mi": result.mean, "mi_stderr": result.stderr}


def check_mi_config(config: MIConfig) -> None:
    for field, value, allowed in (("kappa", config.kappa, KAPPA_VARIANTS),
                                  ("estimator", config.estimator, ESTIMATORS)):
        if value not in allowed:
            raise UserInputError(f"unknown MI {field} {value!r}; choose from {', '.join(allowed)}")
