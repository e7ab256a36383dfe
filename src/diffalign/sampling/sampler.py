"""Batched, classifier-free-guided sampling that is deterministic per (prompt, seed).

Initial noise comes from one CPU generator per sample, exactly as a diffusers pipeline called
with a list of generators draws it, so a sample does not depend on what else is in its batch
and `pipe(prompt, generator=[...])` reproduces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from diffusers import DDPMScheduler
from tqdm import tqdm

from ..models import default_guidance
from .hooks import LatentSteer, SamplerHook, StepState
from .schedulers import make_scheduler, step as scheduler_step


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
def encode_prompts(pipe, prompts: list[str]) -> torch.Tensor:
    tokens = pipe.tokenizer(prompts, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                            truncation=True, return_tensors="pt")
    return pipe.text_encoder(tokens.input_ids.to(pipe.device))[0]


def initial_noise(pipe, seeds: list[int], shape: tuple[int, ...]) -> tuple[torch.Tensor, list[torch.Generator]]:
    generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
    noise = torch.cat([torch.randn((1, *shape), generator=g) for g in generators])
    return noise.to(pipe.device, pipe.unet.dtype), generators


def training_schedule(scheduler) -> DDPMScheduler:
    """The forward (noising) process the model was trained with, whatever scheduler its folder samples with:
    z_t = sqrt(abar_t) z_0 + sqrt(1 - abar_t) eps. A sampling scheduler's own `add_noise` can live in another
    space (Euler's is sigma-space: z_0 + sigma_t eps), which is right for its sampler and wrong for the UNet."""
    return DDPMScheduler.from_config(scheduler.config)


def to_epsilon(scheduler, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Hooks always see epsilon; a v-prediction output is converted with the training schedule
    (eps = sqrt(abar_t) v + sqrt(1 - abar_t) x_t, x_t being the UNet's input)."""
    if scheduler.config.prediction_type != "v_prediction":
        return output
    abar = scheduler.alphas_cumprod.to(x_t.device)[t.long().to(x_t.device)].view(-1, 1, 1, 1).to(x_t.dtype)
    return abar.sqrt() * output + (1 - abar).sqrt() * x_t


@torch.no_grad()
def sample(pipe, prompts: list[str], seeds: list[int], config: SamplerConfig = SamplerConfig(),
           hooks: tuple[SamplerHook, ...] = (), progress: bool = True) -> list[Sample]:
    """Generate one image per (prompt, seed) pair, in batches of config.batch_size."""
    if len(prompts) != len(seeds):
        raise ValueError("prompts and seeds must pair up")
    if config.guidance is None:
        config = replace(config, guidance=default_guidance(pipe.name_or_path))
    guided = config.guidance > 1.0
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


def _denoise(pipe, prompts, seeds, config: SamplerConfig, uncond, hooks) -> torch.Tensor:
    unet = pipe.unet
    scheduler = make_scheduler(config.scheduler, pipe.scheduler)
    scheduler.set_timesteps(config.steps, device=pipe.device)
    cond = encode_prompts(pipe, prompts)
    n = len(prompts)
    size = unet.config.sample_size
    latents, generators = initial_noise(pipe, seeds, (unet.config.in_channels, size, size))
    latents = latents * scheduler.init_noise_sigma
    context = torch.cat([uncond.expand(n, -1, -1), cond]) if uncond is not None else cond
    steering = [h for h in hooks if isinstance(h, LatentSteer)]
    for hook in hooks:
        hook.begin(n)
    for hook in steering:
        hook.start(latents, context, prompts, scheduler, generators)
    for index, t in enumerate(scheduler.timesteps):
        for hook in steering:
            latents = hook.steer(index, t, latents)
        model_in = torch.cat([latents, latents]) if uncond is not None else latents
        model_in = scheduler.scale_model_input(model_in, t)
        output = unet(model_in, t, encoder_hidden_states=context).sample
        if uncond is not None:
            out_uncond, out_cond = output.chunk(2)
            guided = out_uncond + config.guidance * (out_cond - out_uncond)
        else:
            out_uncond, out_cond, guided = None, output, output
        if hooks:
            x_t = model_in[n:] if uncond is not None else model_in
            state = StepState(index, t, latents, to_epsilon(scheduler, out_cond, x_t, t),
                              None if out_uncond is None else to_epsilon(scheduler, out_uncond, x_t, t))
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
    return pipe.vae.encode(x).latent_dist.mean * pipe.vae.config.scaling_factor


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
    images = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
