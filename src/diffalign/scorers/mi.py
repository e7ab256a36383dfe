"""Point-wise mutual information between a prompt and an image (MI-Tune, Eq. 2).

    I(z, p) = E_t [ kappa_t * || eps(z_t, p, t) - eps(z_t, null, t) ||^2 ]

summed over latent dimensions (nats, as in the paper): the "orthogonal" estimator. The "standard" one
(Kong et al. 2024, "Interpretable diffusion via information decomposition") measures the same quantity as
the gap in denoising error, kappa_t (||eps - eps(z_t, null, t)||^2 - ||eps - eps(z_t, p, t)||^2) for the noise
eps that made z_t: both agree in expectation for an ideal denoiser, but only the standard one can go negative,
as the point-wise MI of an image that contradicts its prompt does. It needs eps, so only `image_mi` has it.
The "contrastive" one asks the same denoising errors a sharper question: by how much the prompt explains the
image better than its closest rival among the null prompt and the prompts the model confuses with it
(contrasts.py: attributes swapped or leaked, another relation, a count one off), min_c (e_c - e_p) in nats: the
model as its own zero-shot classifier (Li et al. 2023), with the margin kept rather than a softmax, which
saturates for every well-aligned image. The point-wise MI of every prompt carries the same image-specific terms
(how much detail there is to denoise); under paired draws the contrast cancels them and leaves the binding.
Two ways of computing share kappa_t, the model family's `mi_weight` (models/families):
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
from ..models import family_of
from ..sampling.hooks import StepState
from ..sampling.sampler import encode_images, encode_prompts
from .base import BaseScorer, register
from .contrasts import contrast_prompts

KappaVariant = Literal["official", "paper"]
Estimator = Literal["orthogonal", "standard", "contrastive"]
KAPPA_VARIANTS, ESTIMATORS = get_args(KappaVariant), get_args(Estimator)


@dataclass(frozen=True)
class MIConfig:
    """Every MI setting, read by the sampling hook and the image scorer alike (a recipe's [mi] table)."""

    # the weight of ||eps_p - eps_null||^2 at t (the family's mi_weight): for DDPM families official is
    # beta_t T / (2 (1 - abar_t)), paper also / alpha_t
    kappa: KappaVariant = "official"
    min_timestep: int = 50  # keep only t > min_timestep
    # orthogonal: Eq. 2; standard: the gap in denoising error; contrastive: that gap over the closest contrast
    # prompt (the last two on finished images only, image_mi)
    estimator: Estimator = "orthogonal"
    n_timesteps: int = 32  # image_mi: Monte-Carlo timestep draws per image
    seed: int = 0  # image_mi: the draws' generator
    batch_size: int = 32  # image_mi: images per UNet batch (each with its compared prompts)


def check_mi_config(config: MIConfig) -> None:
    for field, value, allowed in (("kappa", config.kappa, KAPPA_VARIANTS),
                                  ("estimator", config.estimator, ESTIMATORS)):
        if value not in allowed:
            raise UserInputError(f"unknown MI {field} {value!r}; choose from {', '.join(allowed)}")
    for field in ("n_timesteps", "batch_size"):
        if getattr(config, field) < 1:
            raise UserInputError(f"MI {field} (mi.{field}) must be at least 1, got {getattr(config, field)}")
    if config.min_timestep < 0:
        raise UserInputError(f"MI min_timestep (mi.min_timestep) must not be negative, got {config.min_timestep}")


class PointwiseMIHook:
    """Sampler hook: per sample, the average over kept steps of kappa_t * ||eps_cond - eps_uncond||^2, each step
    weighted by the family's `mi_spans` (equal for evenly spaced DDPM timesteps; the Riemann spans of a flow
    sampler's shifted sigmas), so it is the sum approximating the integral `image_mi` samples."""

    name = "mi"

    def __init__(self, pipe, config: MIConfig = MIConfig()):
        if config.estimator != "orthogonal":  # the standard estimator needs the noise that made z_t
            raise ValueError("a sampling hook estimates MI with the orthogonal estimator only; use image_mi")
        self.family, self.config = family_of(pipe), config

    def begin(self, batch_size: int) -> None:
        self.batch_size, self.timesteps, self.terms = batch_size, [], []

    def step(self, state: StepState) -> None:
        if state.eps_uncond is None:
            raise ValueError("point-wise MI needs classifier-free guidance (guidance > 1)")
        t = state.timestep
        self.timesteps.append(float(t))  # every visited step: a kept step's span reaches to the next one
        if int(t) <= self.config.min_timestep:
            self.terms.append(None)
            return
        sq = (state.eps_cond.float() - state.eps_uncond.float()).pow(2).flatten(1).sum(1).double().cpu()
        self.terms.append(self.family.mi_weight(t, self.config.kappa) * sq)

    def end(self) -> dict[str, torch.Tensor]:
        kept = [i for i, term in enumerate(self.terms) if term is not None]
        if not kept:
            return {self.name: torch.zeros(self.batch_size, dtype=torch.float64)}
        spans = self.family.mi_spans(torch.tensor(self.timesteps, dtype=torch.float64))
        weights = [1.0] * len(kept) if spans is None else [float(spans[i]) for i in kept]
        total = sum(w * self.terms[i] for w, i in zip(weights, kept))
        return {self.name: total / sum(weights)}


@dataclass
class ImageMI:
    mean: np.ndarray  # per image
    stderr: np.ndarray  # standard error of the Monte-Carlo mean (jackknife over the timestep draws)


@torch.no_grad()
def image_mi(pipe, images: np.ndarray, prompts: list[str], config: MIConfig = MIConfig()) -> ImageMI:
    """MI of existing (image, prompt) pairs: stratified t over (min_timestep, T), fresh noise per draw, the
    same draw for every prompt an image is compared under (paired, so what the prompts share cancels)."""
    family = family_of(pipe)
    T = family.num_train_timesteps
    n_timesteps, batch_size = config.n_timesteps, config.batch_size
    gen = torch.Generator("cpu").manual_seed(config.seed)
    if not 0 <= config.min_timestep < T - 1:
        raise UserInputError(f"MI min_timestep must be in [0, {T - 1}) for a model trained on {T} timesteps, "
                             f"got {config.min_timestep}")
    edges = np.linspace(config.min_timestep + 1, T, n_timesteps + 1)
    means, errs = [], []
    for start in range(0, len(prompts), batch_size):
        z0 = encode_images(pipe, images[start : start + batch_size])
        texts, columns = compared_prompts(prompts[start : start + batch_size], config.estimator)
        embeds = encode_prompts(pipe, texts)
        index = {text: n for n, text in enumerate(texts)}
        rows = [(i, k, index[text]) for i, column in enumerate(columns) for k, text in enumerate(column)]
        image, column = torch.tensor([r[0] for r in rows]), torch.tensor([r[1] for r in rows])
        draws = torch.zeros(len(z0), max(map(len, columns)), n_timesteps, dtype=torch.float64)
        for j in range(n_timesteps):
            lo, hi = int(edges[j]), max(int(edges[j + 1]), int(edges[j]) + 1)
            t = torch.randint(lo, hi, (len(z0),), generator=gen)
            noise = torch.randn(z0.shape, generator=gen).to(z0)
            eps = _predict(family, family.add_noise(z0, noise, t.to(z0.device)), t, embeds, rows, 2 * batch_size)
            weight = family.mi_weight(t, config.kappa)
            if config.estimator == "orthogonal":  # the prompt's prediction against the null prompt's
                on_device = column.to(eps.device)
                draws[:, 0, j] = weight * _sq(eps[on_device == 0] - eps[on_device == 1])
            else:  # the denoising error under each prompt
                draws[image, column, j] = weight[image] * _sq(noise[image.to(noise.device)] - eps)
        valid = torch.tensor([[k < len(c) for k in range(draws.shape[1])] for c in columns])
        mean, stderr = _jackknife(draws, lambda d: _reduce(config.estimator, d, valid))
        means.append(mean.numpy())
        errs.append(stderr.numpy())
    return ImageMI(np.concatenate(means), np.concatenate(errs))


def compared_prompts(prompts: list[str], estimator: Estimator) -> tuple[list[str], list[list[str]]]:
    """Per image, the prompts its noise predictions are compared under: its own, the null prompt, and for the
    contrastive estimator its contrasts. Returns the distinct texts (to encode once) and each image's column."""
    columns = [[p, "", *(contrast_prompts(p) if estimator == "contrastive" else ())] for p in prompts]
    return list(dict.fromkeys(t for column in columns for t in column)), columns


def _predict(family, z_t, t, embeds, rows, chunk: int) -> torch.Tensor:
    """The denoiser's epsilon for each (image, column, text index) row, in chunks of at most `chunk` rows."""
    out = []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        images = torch.tensor([r[0] for r in part], device=z_t.device)
        x, steps = z_t[images], t.to(z_t.device)[images]
        cond = embeds[torch.tensor([r[2] for r in part], device=embeds.prompt_embeds.device)]
        out.append(family.to_epsilon(family.denoise(x, steps, cond), x, steps))
    return torch.cat(out)


def _sq(x: torch.Tensor) -> torch.Tensor:
    """Squared norm per row, summed over latent dimensions, in float64 on the CPU."""
    return x.float().pow(2).flatten(1).sum(1).double().cpu()


def _reduce(estimator: Estimator, d: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per image, the estimate from its columns' mean over draws: d[:, 0] for orthogonal; the gap in denoising
    error (null minus prompt) for standard; for contrastive, the smallest such gap over the null prompt and the
    contrasts, min_c (e_c - e_p): the prompt's point-wise MI less its closest rival's, which with no contrasts is
    the standard estimate."""
    if estimator == "orthogonal":
        return d[:, 0]
    if estimator == "standard":
        return d[:, 1] - d[:, 0]
    return (d[:, 1:] - d[:, :1]).masked_fill(~valid[:, 1:], torch.inf).min(1).values


def _jackknife(draws: torch.Tensor, estimate) -> tuple[torch.Tensor, torch.Tensor]:
    """estimate(mean over the last axis) and its jackknife standard error over that axis; for an estimate linear
    in the mean this is the sample standard deviation over sqrt(n), as for a plain Monte-Carlo mean."""
    n = draws.shape[-1]
    full = estimate(draws.mean(-1))
    if n < 2:
        return full, torch.full_like(full, torch.nan)
    leave_one_out = torch.stack([estimate((draws.sum(-1) - draws[..., j]) / (n - 1)) for j in range(n)], -1)
    spread = (leave_one_out - leave_one_out.mean(-1, keepdim=True)).pow(2).sum(-1)
    return full, (spread * (n - 1) / n).sqrt()


@register("mi")
class MIScorer(BaseScorer):
    """Point-wise MI of existing images under the model itself (the model is the scorer); its options are
    MIConfig (a recipe's [mi] table, which the sampling hook reads too)."""

    name = "mi"
    needs_model = True
    Options = MIConfig

    def __init__(self, options: MIConfig = MIConfig(), pipe=None, cache_dir=None):
        if pipe is None:
            raise UserInputError("the mi scorer needs the model: pass --model")
        self.pipe, self.config = pipe, options

    @classmethod
    def columns(cls, options: MIConfig) -> tuple[str, ...]:
        """The hook fills mi alone while sampling (orthogonal); image_mi adds its standard error."""
        return ("mi",) if options.estimator == "orthogonal" else ("mi", "mi_stderr")

    @classmethod
    def check(cls, options: MIConfig) -> None:
        check_mi_config(options)

    def score(self, images: np.ndarray, prompts: list[str]) -> dict[str, np.ndarray]:
        result = image_mi(self.pipe, images, prompts, self.config)
        return {"mi": result.mean, "mi_stderr": result.stderr}
