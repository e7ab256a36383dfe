"""Stable Diffusion 3 / 3.5 (`StableDiffusion3Pipeline`): an MMDiT (SD3Transformer2DModel) on two CLIP encoders with
projection (their penultimate states and pooled vectors concatenated) and T5, a rectified flow (flow_matching.py)
sampled by FlowMatchEuler with shift 3, classifier-free guidance on the velocity."""

from __future__ import annotations

import torch

from .base import CLIP_TEXT_TARGETS, Conditioning
from .flow_matching import FlowMatching


class StableDiffusion3(FlowMatching):
    pipeline_class = "StableDiffusion3Pipeline"
    description = "Stable Diffusion 3 / 3.5"
    components = ("transformer", "vae", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2",
                  "text_encoder_3", "tokenizer_3", "scheduler")
    # the CLIP encoders, as StableDiffusion3Pipeline.save_lora_weights stores them (T5 is not adapted)
    text_encoder_targets = {"text_encoder": CLIP_TEXT_TARGETS, "text_encoder_2": CLIP_TEXT_TARGETS}
    default_guidance = 7.0  # StableDiffusion3Pipeline's default guidance_scale

    def encode(self, prompts: list[str]) -> Conditioning:
        """The pipeline's own encode_prompt (CLIP tokens zero-padded to T5's width, then T5's 256 tokens)."""
        embeds, _, pooled, _ = self.pipe.encode_prompt(prompts, None, None, device=self.pipe.device,
                                                       do_classifier_free_guidance=False)
        return Conditioning(embeds, pooled_embeds=pooled)

    def denoise(self, latents: torch.Tensor, t: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        t = torch.as_tensor(t, device=latents.device).float().expand(len(latents))
        return self.denoiser(hidden_states=latents, timestep=t, encoder_hidden_states=cond.prompt_embeds,
                             pooled_projections=cond.pooled_embeds, return_dict=False)[0]

    @property
    def latent_shape(self) -> tuple[int, ...]:
        config = self.denoiser.config
        return (config.in_channels, config.sample_size, config.sample_size)

    def image_tokens(self) -> int:
        return (self.latent_shape[-1] // self.denoiser.config.patch_size) ** 2
