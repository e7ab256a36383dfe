"""Stable Diffusion XL (`StableDiffusionXLPipeline`, the base model; no refiner): two CLIP text encoders whose
penultimate hidden states are concatenated, the second's projected pooled embedding, and micro-conditioning time ids
(original size, crop corner, target size) fed to the UNet's added embedding; the DDPM training process of SD 1.x /
2.x, epsilon or v. With `force_zeros_for_empty_prompt` (the base model's setting, how it was trained to drop text)
the empty prompt's conditioning is all zeros, as the diffusers pipeline's unconditional branch is."""

from __future__ import annotations

import torch

from .base import CLIP_TEXT_TARGETS, Conditioning
from .sd import StableDiffusion, tokens


class StableDiffusionXL(StableDiffusion):
    pipeline_class = "StableDiffusionXLPipeline"
    description = "Stable Diffusion XL"
    components = ("unet", "vae", "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2", "scheduler")
    text_encoder_targets = {"text_encoder": CLIP_TEXT_TARGETS, "text_encoder_2": CLIP_TEXT_TARGETS}
    default_guidance = 5.0  # StableDiffusionXLPipeline's default guidance_scale
    load_kwargs = {}  # no safety checker in this pipeline

    def encode(self, prompts: list[str]) -> Conditioning:
        pipe = self.pipe
        hidden = []
        for tokenizer, encoder in ((pipe.tokenizer, pipe.text_encoder), (pipe.tokenizer_2, pipe.text_encoder_2)):
            out = encoder(tokens(tokenizer, prompts).to(pipe.device), output_hidden_states=True)
            hidden.append(out.hidden_states[-2])
        embeds = torch.cat(hidden, dim=-1).to(pipe.text_encoder_2.dtype)
        pooled = out.text_embeds  # the second encoder's projection
        if pipe.config.force_zeros_for_empty_prompt and "" in prompts:
            empty = torch.tensor([p == "" for p in prompts], device=embeds.device)
            embeds = torch.where(empty[:, None, None], torch.zeros_like(embeds), embeds)
            pooled = torch.where(empty[:, None], torch.zeros_like(pooled), pooled)
        return Conditioning(embeds, pooled, self.time_ids(len(prompts)).to(embeds.device, embeds.dtype))

    def time_ids(self, n: int) -> torch.Tensor:
        """n x 6: original size, crop top-left, target size, all at the model's own square size and no crop (the
        diffusers pipeline's defaults at its default resolution)."""
        size = self.image_size
        return torch.tensor([[size, size, 0, 0, size, size]], dtype=torch.float32).repeat(n, 1)

    def denoise(self, latents: torch.Tensor, t: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        return self.denoiser(latents, t, encoder_hidden_states=cond.prompt_embeds,
                             added_cond_kwargs={"text_embeds": cond.pooled_embeds, "time_ids": cond.time_ids}).sample
