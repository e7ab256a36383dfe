"""Fit the adapter on selected samples: cached z_0 latents and prompt embeddings, no VAE encode.

A compact loop in the style of ddpo-pytorch: sample t and noise, predict, MSE to the target
(epsilon or v, as the model was trained), AdamW, gradient clipping; resumable from its state file.

Two objectives on the same loop:
- "sft" (the papers'): the noise-prediction loss on the selected samples.
- "dpo" (Diffusion-DPO, Wallace et al. 2023): each selected sample is paired with a rejected candidate of the same
  prompt; the adapter lowers its denoising error on the selected one relative to the rejected one, measured against
  the frozen base model. Both members of a pair come from the model's own sampler, so what fitting own samples
  teaches by itself (their artefacts, the sharpening of guided sampling) cancels and only the preference remains.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from tqdm import tqdm

from ..io import atomic_path
from .adapters import adapter_state, load_adapter_state

log = logging.getLogger(__name__)

OBJECTIVES = ("sft", "dpo")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 300
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 1e-2
    max_grad_norm: float = 1.0
    seed: int = 0
    save_every: int = 50
    objective: str = "sft"  # one of OBJECTIVES; "dpo" needs a rejected sample per selected one
    dpo_beta: float = 1000.0  # Diffusion-DPO's beta: larger = further from the base model before the loss saturates


def frozen_conditioning(embeds: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Cached prompt embeddings, looked up by sample index (text encoder not trained)."""
    return lambda idx: embeds[idx]


def trained_conditioning(pipe, prompts: list[str]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Prompt embeddings recomputed with gradients (text encoder adapter trained)."""
    tokens = pipe.tokenizer(prompts, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                            truncation=True, return_tensors="pt").input_ids
    return lambda idx: pipe.text_encoder(tokens[idx].to(pipe.device))[0]


@contextmanager
def adapters_disabled(pipe):
    """The base model: every adapted model of the pipeline with its adapter off (Diffusion-DPO's reference)."""
    models = [m for m in (pipe.unet, pipe.text_encoder) if getattr(m, "peft_config", None)]
    for model in models:
        model.disable_adapters()
    try:
        yield
    finally:
        for model in models:
            model.enable_adapters()


def denoising_error(unet, z_t: torch.Tensor, t: torch.Tensor, context: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared error of the UNet's prediction."""
    pred = unet(z_t, t, encoder_hidden_states=context).sample
    return F.mse_loss(pred.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))


def dpo_loss(error: torch.Tensor, ref_error: torch.Tensor, beta: float) -> torch.Tensor:
    """Diffusion-DPO: errors are [selected; rejected]; reward the adapter for improving more on the selected ones."""
    chosen, rejected = (error - ref_error).chunk(2)
    return -F.logsigmoid(-0.5 * beta * (chosen - rejected)).mean()


def train_adapter(pipe, params: list[torch.nn.Parameter], latents: torch.Tensor,
                  conditioning: Callable[[torch.Tensor], torch.Tensor], config: TrainConfig, state_path: Path,
                  progress: bool = True, weights: torch.Tensor | None = None,
                  rejected: torch.Tensor | None = None) -> list[float]:
    """Train `params` (the adapter) on selected samples: latents[i] with conditioning(i); returns the loss per step.

    `weights` (one per sample) scale each sample's loss, e.g. DreamBooth's instance + lambda * prior loss.
    `rejected[i]` (objective "dpo") is the candidate that latents[i] was preferred to, for the same prompt.
    """
    if len(latents) == 0:
        raise ValueError("no training samples")
    if config.objective not in OBJECTIVES:
        raise ValueError(f"unknown training objective {config.objective!r}: use one of {', '.join(OBJECTIVES)}")
    if config.objective == "dpo" and (rejected is None or len(rejected) != len(latents)):
        raise ValueError("the dpo objective needs one rejected latent per selected latent")
    unet = pipe.unet
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    T = noise_scheduler.config.num_train_timesteps
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    start, losses, generator_state = 0, [], None
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        load_adapter_state(pipe, state["adapter"])
        opt.load_state_dict(state["opt"])
        start, losses, generator_state = state["step"], state["losses"], state.get("generator")
    # a fresh run's stream, as before the generator was saved (old states resume as they always did)
    gen = torch.Generator("cpu").manual_seed(config.seed * 1_000_003 + start)
    if generator_state is not None:  # a resumed run draws what the uninterrupted one would have
        gen.set_state(generator_state)
    device, dtype = unet.device, unet.dtype
    unet.train()
    pipe.text_encoder.train()
    for step in tqdm(range(start, config.steps), initial=start, total=config.steps, desc="fine-tune",
                     disable=not progress, mininterval=5):
        idx = torch.randint(0, len(latents), (min(config.batch_size, len(latents)),), generator=gen)
        z0, context = latents[idx].to(device, dtype), conditioning(idx).to(device, dtype)
        noise = torch.randn(z0.shape, generator=gen).to(device, dtype)
        t = torch.randint(0, T, (len(idx),), generator=gen).to(device)
        if config.objective == "dpo":  # the pair shares its prompt, noise and timestep
            z0 = torch.cat([z0, rejected[idx].to(device, dtype)])
            noise, t, context = torch.cat([noise, noise]), torch.cat([t, t]), torch.cat([context, context])
        z_t = noise_scheduler.add_noise(z0, noise, t)
        target = noise if noise_scheduler.config.prediction_type == "epsilon" else \
            noise_scheduler.get_velocity(z0, noise, t)
        error = denoising_error(unet, z_t, t, context, target)
        if config.objective == "dpo":
            with torch.no_grad(), adapters_disabled(pipe):  # the base model's text encoder too, if it is adapted
                ref_context = conditioning(idx).to(device, dtype)
                ref_error = denoising_error(unet, z_t, t, torch.cat([ref_context, ref_context]), target)
            loss = dpo_loss(error, ref_error, config.dpo_beta)
        else:
            loss = (error * weights[idx].to(device)).mean() if weights is not None else error.mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        opt.step()
        losses.append(loss.item())
        if (step + 1) % config.save_every == 0 or step + 1 == config.steps:
            with atomic_path(state_path) as tmp:
                torch.save({"adapter": adapter_state(pipe), "opt": opt.state_dict(), "step": step + 1,
                            "losses": losses, "generator": gen.get_state()}, tmp)
    unet.eval()
    pipe.text_encoder.eval()
    return losses
