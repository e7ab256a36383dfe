"""Flux (`FluxPipeline`): FluxTransformer2DModel on CLIP's pooled vector and T5's tokens, 2 x 2 patches of the
16-channel latent packed into tokens with their positions (img/txt ids), a rectified flow (flow_matching.py)
sampled by FlowMatchEuler with a resolution-dependent shift. FLUX.1-dev is guidance-distilled: the guidance scale
is an input of the transformer (`Conditioning.guidance`), not classifier-free guidance (docs/models.md)."""

from __future__ import annotations

import torch

from .base import CLIP_TEXT_TARGETS, Conditioning
from .flow_matching import FlowMatching, check_flow_scheduler


class Flux(FlowMatching):
    pipeline_class = "FluxPipeline"
    description = "Flux"
    components = ("transformer", "vae", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2", "scheduler")
    text_encoder_targets = {"text_encoder": CLIP_TEXT_TARGETS}  # CLIP, as FluxPipeline.save_lora_weights stores it
    default_guidance = 3.5  # FluxPipeline's default guidance_scale: the embedding, not a CFG scale
    guidance_distilled = True
    joint_text_first = True  # FluxAttnProcessor concatenates [text; image]

    @property
    def tokenizer(self):
        """T5's: Flux attends to T5's tokens only (CLIP gives the pooled vector)."""
        return self.pipe.tokenizer_2

    def encode(self, prompts: list[str]) -> Conditioning:
        """The pipeline's own encode_prompt (T5's 512 tokens, CLIP's pooled vector), at the default guidance."""
        embeds, pooled, text_ids = self.pipe.encode_prompt(prompts, None, device=self.pipe.device)
        n = len(prompts)
        return Conditioning(embeds, pooled_embeds=pooled, text_ids=text_ids.repeat(n, 1, 1),
                            guidance=torch.full((n,), self.default_guidance, device=embeds.device))

    def denoise(self, latents: torch.Tensor, t: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        from diffusers import FluxPipeline

        n, c, h, w = latents.shape
        tokens = FluxPipeline._pack_latents(latents, n, c, h, w)
        image_ids = FluxPipeline._prepare_latent_image_ids(n, h // 2, w // 2, latents.device, latents.dtype)
        t = torch.as_tensor(t, device=latents.device).to(latents.dtype).expand(n)
        guidance = cond.guidance.float() if self.denoiser.config.guidance_embeds else None
        out = self.denoiser(hidden_states=tokens, timestep=t / 1000, guidance=guidance,
                            pooled_projections=cond.pooled_embeds, encoder_hidden_states=cond.prompt_embeds,
                            txt_ids=cond.text_ids[0], img_ids=image_ids, return_dict=False)[0]
        scale = self.pipe.vae_scale_factor
        return FluxPipeline._unpack_latents(out, h * scale, w * scale, scale)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """At the VAE config's sample_size (1024 for FLUX.1, FluxPipeline's fixed default), in latents whose sides
        are even (the 2 x 2 packing)."""
        side = 2 * (self.pipe.vae.config.sample_size // (2 * self.pipe.vae_scale_factor))
        return (self.denoiser.config.in_channels // 4, side, side)

    def image_tokens(self) -> int:
        return (self.latent_shape[-1] // 2) ** 2

    def set_timesteps(self, scheduler, steps: int, device) -> None:
        """FluxPipeline's sigmas, linspace(1, 1/steps), shifted by mu of the image's token count."""
        import numpy as np
        from diffusers.pipelines.flux.pipeline_flux import calculate_shift

        check_flow_scheduler(scheduler, self.pipeline_class)
        c = scheduler.config
        mu = calculate_shift(self.image_tokens(), c.get("base_image_seq_len", 256), c.get("max_image_seq_len", 4096),
                             c.get("base_shift", 0.5), c.get("max_shift", 1.15))
        sigmas = None if c.get("use_flow_sigmas") else np.linspace(1.0, 1 / steps, steps)
        scheduler.set_timesteps(None if sigmas is not None else steps, device=device, sigmas=sigmas, mu=mu)
