"""Batched, classifier-free-guided sampling that is deterministic per (prompt, seed).

Initial noise comes from one CPU generator per sample, exactly as a diffusers pipeline called
with a list of generators draws it, so a sample does not depend on what else is in its batch
and `pipe(prompt, generator=[...])` reproduces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm import tqdm

from ..models import Conditioning, default_guidance, family_of
from .hooks import LatentSteer, SamplerHook, StepState
from .schedulers import make_scheduler, scale_input, step as scheduler_step


@dataclass(frozen=True)
class SamplerConfig:
    steps: int = 20
    guidance: float | None = None  # None: the model's own (models.default_guidance); <= 1 disables guidance
    scheduler: str | None = None  # a name of SCHEDULERS; None keeps the model's scheduler
    batch_size: int = 64
    keep_latents: bool = False  # return z_0 (for fine-tuning without a VAE encode)


@dataclass
class Sample:
    prompt: str
    seed: int
    image: np.ndarray  # H x W x 3 uint8
    latent: torch.Tensor | None = None  # scaled z_0, as the UNet sees it
    scores: dict[str, float] = field(default_factory=dict)


@torch.no_grad()
def encode_prompts(pipe, prompts: list[str]) -> Conditioning:
    """The model family's conditioning of the prompts ("" is the unconditional one), without gradients."""
    return family_of(pipe).encode(prompts)


def initial_noise(pipe, seeds: list[int], shape: tuple[int, ...]) -> tuple[torch.Tensor, list[torch.Generator]]:
    generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
    noise = torch.cat([torch.randn((1, *shape), generator=g) for g in generators])
    return noise.to(pipe.device, family_of(pipe).denoiser.dtype), generators


@torch.no_grad()
def sample(pipe, prompts: list[str], seeds: list[int], config: SamplerConfig = SamplerConfig(),
           hooks: tuple[SamplerHook, ...] = (), progress: bool = True) -> list[Sample]:
    """Generate one image per (prompt, seed) pair, in batches of config.batch_size."""
    if len(prompts) != len(seeds):
        raise ValueError("prompts and seeds must pair up")
    if config.guidance is None:
        config = replace(config, guidance=default_guidance(pipe.name_or_path))
    # classifier-free guidance needs the empty prompt's branch; a guidance-distilled family takes the scale as an
    # input instead and makes the unconditional pass only for hooks (MI), never mixing the two
    guided = bool(hooks) if family_of(pipe).guidance_distilled else config.guidance > 1.0
    uncond = encode_prompts(pipe, [""]) if guided else None
    out: list[Sample] = []
    starts = range(0, len(prompts), config.batch_size)
    for start in tqdm(starts, desc="sampling", disable=not progress or len(starts) < 2):
        batch_prompts = prompts[start : start + config.batch_size]
        batch_seeds = seeds[start : start + config.batch_size]
        latents = _denoise(pipe, batch_prompts, batch_seeds, config, uncond, hooks)
        scores = {}
        for hook in hooks:
            scores.update({k: v.float().cpu() for k, v in hook.end().items()})
        images = decode(pipe, latents)
        for i, (p, s) in enumerate(zip(batch_prompts, batch_seeds)):
            out.append(Sample(p, s, images[i], latents[i].cpu() if config.keep_latents else None,
                              {k: float(v[i]) for k, v in scores.items()}))
    return out


def _denoise(pipe, prompts, seeds, config: SamplerConfig, uncond: Conditioning | None, hooks) -> torch.Tensor:
    family = family_of(pipe)
    scheduler = make_scheduler(config.scheduler, pipe.scheduler)
    family.set_timesteps(scheduler, config.steps, pipe.device)
    cond = encode_prompts(pipe, prompts)
    n = len(prompts)
    latents, generators = initial_noise(pipe, seeds, family.latent_shape)
    latents = latents * getattr(scheduler, "init_noise_sigma", 1.0)  # flow matching starts at x_1 = eps
    context = Conditioning.cat([uncond.expand(n), cond]) if uncond is not None else cond
    if family.guidance_distilled:
        context = replace(context, guidance=torch.full_like(context.guidance, config.guidance))
    steering = [h for h in hooks if isinstance(h, LatentSteer)]
    for hook in hooks:
        hook.begin(n)
    for hook in steering:
        hook.start(latents, context, prompts, scheduler, generators)
    for index, t in enumerate(scheduler.timesteps):
        for hook in steering:
            latents = hook.steer(index, t, latents)
        model_in = torch.cat([latents, latents]) if uncond is not None else latents
        model_in = scale_input(scheduler, model_in, t)
        output = family.denoise(model_in, t, context)
        if uncond is not None:
            out_uncond, out_cond = output.chunk(2)
            guided = out_cond if family.guidance_distilled else out_uncond + config.guidance * (out_cond - out_uncond)
        else:
            out_uncond, out_cond, guided = None, output, output
        if hooks:
            x_t = model_in[n:] if uncond is not None else model_in
            state = StepState(index, t, latents, family.to_epsilon(out_cond, x_t, t),
                              None if out_uncond is None else family.to_epsilon(out_uncond, x_t, t))
            for hook in hooks:
                hook.step(state)
        latents = scheduler_step(scheduler, guided, t, latents, generators)
    for hook in steering:
        latents = hook.finish(latents)
    return latents


@torch.no_grad()
def encode_images(pipe, images: np.ndarray) -> torch.Tensor:
    """Scaled VAE latents (posterior mean) of uint8 H x W x 3 images: the UNet's z_0, on the model's device."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    x = x.to(pipe.device, pipe.vae.dtype)
    return family_of(pipe).from_vae(pipe.vae.encode(x).latent_dist.mean)


DECODE_PIXELS = 4 * 512 * 512  # output pixels one VAE decode makes: 4 images at 512 px, a 64-image batch at 64 px


@torch.no_grad()
def decode(pipe, latents: torch.Tensor, max_pixels: int = DECODE_PIXELS) -> np.ndarray:
    """uint8 images of scaled latents, decoded in slices of at most `max_pixels` output pixels (the VAE decoder's
    activations grow with them; a 64-image batch at 512 px would need tens of GB at once)."""
    scale = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    per_image = latents.shape[-2] * latents.shape[-1] * scale * scale
    size = max(1, max_pixels // per_image)
    return np.concatenate([_decode(pipe, latents[i : i + size]) for i in range(0, len(latents), size)])


def _decode(pipe, latents: torch.Tensor) -> np.ndarray:
    images = pipe.vae.decode(family_of(pipe).to_vae(latents)).sample
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
