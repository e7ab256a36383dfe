"""Stable Diffusion 1.x / 2.x (`StableDiffusionPipeline`): one CLIP text encoder, a UNet, a DDPM training process
predicting epsilon or v (the scheduler config's prediction_type). The DDPM process here is shared by SDXL."""

from __future__ import annotations

from functools import cached_property

import torch
from diffusers import DDPMScheduler

from .base import CLIP_TEXT_TARGETS, Conditioning, Family


def training_schedule(scheduler) -> DDPMScheduler:
    """The forward (noising) process the model was trained with, whatever scheduler its folder samples with:
    z_t = sqrt(abar_t) z_0 + sqrt(1 - abar_t) eps. A sampling scheduler's own `add_noise` can live in another
    space (Euler's is sigma-space: z_0 + sigma_t eps), which is right for its sampler and wrong for the UNet."""
    return DDPMScheduler.from_config(scheduler.config)


def to_epsilon(schedule, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A v-prediction output as epsilon (eps = sqrt(abar_t) v + sqrt(1 - abar_t) x_t, x_t being the UNet's
    input); an epsilon output as it is."""
    if schedule.config.prediction_type != "v_prediction":
        return output
    abar = schedule.alphas_cumprod.to(x_t.device)[t.long().to(x_t.device)].view(-1, 1, 1, 1).to(x_t.dtype)
    return abar.sqrt() * output + (1 - abar).sqrt() * x_t


def kappa(schedule, t: torch.Tensor, variant: str = "official") -> torch.Tensor:
    """MI-Tune's kappa_t from the training schedule: official beta_t T / (2 (1 - abar_t)); paper: also / alpha_t."""
    t = t.long().cpu()
    betas = schedule.betas[t].double()
    abar = schedule.alphas_cumprod[t].double()
    T = schedule.config.num_train_timesteps
    k = betas * T / (2 * (1 - abar))
    return k / (1 - betas) if variant == "paper" else k


def tokens(tokenizer, prompts: list[str]) -> torch.Tensor:
    """Token ids padded to the tokenizer's full length, as the diffusers pipelines tokenize."""
    return tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                     return_tensors="pt").input_ids


class StableDiffusion(Family):
    pipeline_class = "StableDiffusionPipeline"
    description = "Stable Diffusion 1.x / 2.x"
    components = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
    text_encoder_targets = {"text_encoder": CLIP_TEXT_TARGETS}
    default_guidance = 7.5  # StableDiffusionPipeline's default guidance_scale
    load_kwargs = {"safety_checker": None}

    def encode(self, prompts: list[str]) -> Conditioning:
        ids = tokens(self.pipe.tokenizer, prompts)
        return Conditioning(self.pipe.text_encoder(ids.to(self.pipe.device))[0])

    def denoise(self, latents: torch.Tensor, t: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        return self.denoiser(latents, t, encoder_hidden_states=cond.prompt_embeds).sample

    # the DDPM training process, epsilon or v
    @cached_property
    def schedule(self) -> DDPMScheduler:
        return training_schedule(self.pipe.scheduler)

    @property
    def num_train_timesteps(self) -> int:
        return self.schedule.config.num_train_timesteps

    def draw_timesteps(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randint(0, self.num_train_timesteps, (n,), generator=generator)

    def add_noise(self, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.schedule.add_noise(z0, noise, t)

    def target(self, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return noise if self.schedule.config.prediction_type == "epsilon" else self.schedule.get_velocity(z0, noise, t)

    def to_epsilon(self, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return to_epsilon(self.schedule, output, x_t, t)

    def mi_weight(self, t: torch.Tensor, variant: str = "official") -> torch.Tensor:
        return kappa(self.schedule, t, variant)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        config = self.denoiser.config
        return (config.in_channels, config.sample_size, config.sample_size)
