"""Fit the adapter on selected samples: cached z_0 latents and prompt embeddings, no VAE encode.

A compact loop in the style of ddpo-pytorch: sample t and noise, predict, MSE to the target
(epsilon or v, as the model was trained), AdamW, gradient clipping; resumable from its state file.

Memory and precision (TrainConfig): the frozen base weights stay in the pipeline's dtype (half precision on a
GPU), the adapter's trainable weights and AdamW's state are float32, the forward runs under autocast at
`mixed_precision` ("bf16", or "fp16" with a grad scaler; accelerate's names), `micro_batch` rows go through
forward and backward at a time with their gradients accumulated into one step of `batch_size` rows (every
draw made for the whole batch first, so the step does not depend on the split), and `gradient_checkpointing`
recomputes the UNet's activations in the backward. The learning rate follows diffusers' `get_scheduler`
(`lr_scheduler`, `lr_warmup_steps`: the names of diffusers' training scripts), constant by default. A non-finite
loss stops the run before the optimizer steps; only finite states are saved, so the last one stays valid and a
rerun resumes from it.

Two objectives on the same loop:
- "sft" (the papers'): the noise-prediction loss on the selected samples.
- "dpo" (Diffusion-DPO, Wallace et al. 2023): each selected sample is paired with a rejected candidate of the same
  prompt; the adapter lowers its denoising error on the selected one relative to the rejected one, measured against
  the frozen base model. Both members of a pair come from the model's own sampler, so what fitting own samples
  teaches by itself (their artefacts, the sharpening of guided sampling) cancels and only the preference remains.
"""

from __future__ import annotations

import logging
import math
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from diffusers.optimization import get_scheduler
from tqdm import tqdm

from ..errors import UserInputError
from ..io import atomic_path
from ..models import Conditioning, family_of
from ..processes import current as current_processes
from .adapters import adapter_state, load_adapter_state

log = logging.getLogger(__name__)

OBJECTIVES = ("sft", "dpo")
PRECISIONS = ("no", "fp16", "bf16")  # accelerate's --mixed_precision names
LR_SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")  # diffusers.optimization's names
AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


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
    # autocast precision of the forward, one of PRECISIONS; None: bf16 on a GPU that supports it, fp16 on one that
    # does not (its UNet being float16), else no. The adapter's weights and optimizer state are float32 at every one.
    mixed_precision: str | None = None
    gradient_checkpointing: bool = False  # recompute activations in the backward: far less memory, ~30% more time
    micro_batch: int | None = None  # rows per forward/backward, accumulated to batch_size (None: the whole batch)
    lr_scheduler: str = "constant"  # one of LR_SCHEDULERS, over `steps`: linear and cosine decay to 0 at the last
    lr_warmup_steps: int = 0  # linear ramp from 0 to lr; not with "constant" (use "constant_with_warmup")


def check_train_config(config: TrainConfig) -> None:
    """Refuse, before any image is generated for them, settings the trainer cannot run: counts, rates, names, steps
    that do not split into whole micro-batches, and schedules diffusers would reject or silently change (fields
    named as in a recipe, with align's option)."""
    for name, value in {"train.steps (--train-steps)": config.steps,
                        "train.batch_size (--train-batch-size)": config.batch_size,
                        "train.micro_batch (--micro-batch)": config.micro_batch or 1}.items():
        if value < 1:
            raise UserInputError(f"{name} must be at least 1, got {value}")
    for name, value in {"train.lr (--lr)": config.lr, "train.dpo_beta (--dpo-beta)": config.dpo_beta}.items():
        if not value > 0:
            raise UserInputError(f"{name} must be positive, got {value}")
    for name, value, allowed in (("train.objective (--objective)", config.objective, OBJECTIVES),
                                 ("train.mixed_precision (--mixed-precision)", config.mixed_precision or "no",
                                  PRECISIONS),
                                 ("train.lr_scheduler (--lr-scheduler)", config.lr_scheduler, LR_SCHEDULERS)):
        if value not in allowed:
            raise UserInputError(f"unknown {name} {value!r}; choose from {', '.join(allowed)}")
    if config.micro_batch is not None and config.batch_size % config.micro_batch:
        raise UserInputError(f"train.micro_batch (--micro-batch) {config.micro_batch} must divide "
                             f"train.batch_size (--train-batch-size) {config.batch_size} (the batch of one "
                             f"optimizer step)")
    if not 0 <= config.lr_warmup_steps < config.steps:
        raise UserInputError(f"train.lr_warmup_steps (--lr-warmup-steps) {config.lr_warmup_steps} must be at least 0 "
                             f"and below train.steps (--train-steps) {config.steps}")
    if config.lr_warmup_steps and config.lr_scheduler == "constant":
        raise UserInputError("train.lr_warmup_steps (--lr-warmup-steps) needs a schedule that warms up: "
                             "--lr-scheduler constant_with_warmup, linear or cosine")


class NonFiniteLoss(UserInputError):
    """The loss (or the weights) went NaN/inf; the last saved trainer state is kept."""


def resolve_precision(config: TrainConfig, device: torch.device, unet_dtype: torch.dtype) -> str:
    """The mixed precision a run trains at: the config's, or the device's best (see TrainConfig)."""
    if config.mixed_precision is not None:
        if config.mixed_precision not in PRECISIONS:
            raise ValueError(f"unknown mixed precision {config.mixed_precision!r}: use one of {', '.join(PRECISIONS)}")
        if config.mixed_precision == "no" and unet_dtype != torch.float32:
            raise ValueError(f"mixed_precision 'no' trains in float32 but the UNet's weights are {unet_dtype}: load "
                             f"the pipeline in float32 or train at bf16/fp16")
        return config.mixed_precision
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp16" if unet_dtype == torch.float16 else "bf16" if unet_dtype == torch.bfloat16 else "no"


def upcast_trainable(params: list[torch.nn.Parameter]) -> None:
    """The trainable weights in float32 (their optimizer state follows), whatever the frozen base's dtype."""
    for p in params:
        if p.dtype != torch.float32:
            p.data = p.data.float()


@contextmanager
def checkpointing(models: list[torch.nn.Module], enabled: bool):
    """Gradient checkpointing on the models that support it while training, their previous setting after."""
    switched = []
    if enabled:
        for model in models:
            supported = getattr(model, "supports_gradient_checkpointing", False) or \
                getattr(model, "_supports_gradient_checkpointing", False)
            if supported and not model.is_gradient_checkpointing:
                if hasattr(model, "gradient_checkpointing_enable"):  # transformers
                    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
                else:  # diffusers (non-reentrant by default)
                    model.enable_gradient_checkpointing()
                switched.append(model)
    try:
        yield
    finally:
        for model in switched:
            (model.gradient_checkpointing_disable if hasattr(model, "gradient_checkpointing_disable")
             else model.disable_gradient_checkpointing)()


def frozen_conditioning(embeds: Conditioning) -> Callable[[torch.Tensor], Conditioning]:
    """Cached prompt conditioning, looked up by sample index (text encoders not trained)."""
    return lambda idx: embeds[idx]


def trained_conditioning(pipe, prompts: list[str]) -> Callable[[torch.Tensor], Conditioning]:
    """Prompt conditioning recomputed with gradients (text encoder adapters trained)."""
    family = family_of(pipe)
    return lambda idx: family.encode([prompts[i] for i in idx.tolist()])


@contextmanager
def adapters_disabled(pipe):
    """The base model: every adapted model of the pipeline with its adapter off (Diffusion-DPO's reference)."""
    models = [m for m in family_of(pipe).modules().values() if getattr(m, "peft_config", None)]
    for model in models:
        model.disable_adapters()
    try:
        yield
    finally:
        for model in models:
            model.enable_adapters()


def denoising_error(family, z_t: torch.Tensor, t: torch.Tensor, context: Conditioning,
                    target: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared error of the denoiser's prediction."""
    pred = family.denoise(z_t, t, context)
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
    check_train_config(config)
    if len(latents) == 0:
        raise ValueError("no training samples")
    if config.objective == "dpo" and (rejected is None or len(rejected) != len(latents)):
        raise ValueError("the dpo objective needs one rejected latent per selected latent")
    family = family_of(pipe)
    denoiser = family.denoiser
    device, dtype = denoiser.device, denoiser.dtype
    precision = resolve_precision(config, device, dtype)
    n = min(config.batch_size, len(latents))
    micro = min(config.micro_batch or n, n)
    upcast_trainable(params)  # the float32 master weights (attach_adapter already makes them so)
    # data-parallel over the run's processes: each takes its contiguous share of every batch (the same draws on all)
    # and their gradients are summed before the step, so the step is the single-process one (docs/scaling.md)
    procs = current_processes()
    mine = range(procs.index * n // procs.count, (procs.index + 1) * n // procs.count)
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    start, losses, generator_state = 0, [], None
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        load_adapter_state(pipe, state["adapter"])
        opt.load_state_dict(state["opt"])
        for group in opt.param_groups:  # a rerun's own weight decay; its lr (e.g. lowered after a non-finite loss)
            group["weight_decay"] = config.weight_decay  # is the schedule's base below
        if "scaler" in state and scaler.is_enabled():
            scaler.load_state_dict(state["scaler"])
        start, losses, generator_state = state["step"], state["losses"], state.get("generator")
    for group in opt.param_groups:  # the schedule's base: the config's lr, on a rerun too
        group["initial_lr"] = config.lr
    schedule = get_scheduler(config.lr_scheduler, opt, num_warmup_steps=config.lr_warmup_steps,
                             num_training_steps=config.steps, last_epoch=start - 1)  # the lr of step `start`
    # a fresh run's stream, as before the generator was saved (old states resume as they always did)
    gen = torch.Generator("cpu").manual_seed(config.seed * 1_000_003 + start)
    if generator_state is not None:  # a resumed run draws what the uninterrupted one would have
        gen.set_state(generator_state)
    amp = AUTOCAST_DTYPES.get(precision)
    autocast = (lambda: torch.autocast(device.type, dtype=amp)) if amp is not None else nullcontext

    def backward(rows: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Forward and backward of one micro-batch; its loss, scaled to its share of the batch."""
        z0 = latents[rows].to(device, dtype)
        noise, t = noise.to(device, dtype), t.to(device)
        with autocast():
            context = conditioning(rows).to(device, dtype)
            if config.objective == "dpo":  # the pair shares its prompt, noise and timestep
                z0 = torch.cat([z0, rejected[rows].to(device, dtype)])
                noise, t, context = torch.cat([noise, noise]), torch.cat([t, t]), Conditioning.cat([context, context])
            z_t = family.add_noise(z0, noise, t)
            target = family.target(z0, noise, t)
            error = denoising_error(family, z_t, t, context, target)
            if config.objective == "dpo":
                with torch.no_grad(), adapters_disabled(pipe):  # the base model's text encoder too, if it is adapted
                    ref_context = conditioning(rows).to(device, dtype)
                    ref_error = denoising_error(family, z_t, t, Conditioning.cat([ref_context, ref_context]), target)
                loss = dpo_loss(error, ref_error, config.dpo_beta)
            else:
                loss = (error * weights[rows].to(device)).mean() if weights is not None else error.mean()
        loss = loss * (len(rows) / n)  # exactly the loss itself when the batch is one micro-batch
        scaler.scale(loss).backward()
        return loss.detach()

    def stop(step: int, what: str):
        kept = (f"the last saved state {state_path} is kept" if state_path.exists()
                else "no trainer state was saved yet")
        return NonFiniteLoss(f"train step {step}: {what}; {kept}: lower train.lr (--lr) or use mixed_precision bf16 "
                             f"(--mixed-precision bf16), then rerun to resume")

    models = list(family.modules().values())
    for model in models:
        model.train()
    try:
        with checkpointing([m for m in models if any(p.requires_grad for p in m.parameters())],
                           config.gradient_checkpointing):
            for step in tqdm(range(start, config.steps), initial=start, total=config.steps, desc="fine-tune",
                             disable=not progress or not procs.main, mininterval=5):
                # every draw for the whole batch, in one order, whatever the micro-batches
                idx = torch.randint(0, len(latents), (n,), generator=gen)
                noise = torch.randn((n, *latents.shape[1:]), generator=gen)
                t = family.draw_timesteps(n, gen)
                opt.zero_grad()
                bounds = [(lo, min(lo + micro, mine.stop)) for lo in range(mine.start, mine.stop, micro)]
                parts = [backward(idx[lo:hi], noise[lo:hi], t[lo:hi]) for lo, hi in bounds]
                loss = torch.stack(parts).sum() if parts else torch.zeros((), device=device)
                if procs.count > 1:
                    for p in params:  # a process without rows this step still takes part in the sum
                        if p.grad is None:
                            p.grad = torch.zeros_like(p)
                    procs.all_sum([loss.reshape(1), *(p.grad for p in params)])
                value = loss.item()
                if not math.isfinite(value):  # before the optimizer steps: the weights stay as they were
                    raise stop(step + 1, f"loss is {value}")
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
                scaler.step(opt)  # skipped by the fp16 scaler when a gradient overflowed
                scaler.update()
                schedule.step()
                losses.append(value)
                if (step + 1) % config.save_every == 0 or step + 1 == config.steps:
                    if not all(torch.isfinite(p).all() for p in params):  # only finite states are saved
                        raise stop(step + 1, "the adapter weights are not finite")
                    if procs.main:  # the weights are the same in every process; the main one saves them
                        with atomic_path(state_path) as tmp:
                            torch.save({"adapter": adapter_state(pipe), "opt": opt.state_dict(), "step": step + 1,
                                        "losses": losses, "generator": gen.get_state(),
                                        **({"scaler": scaler.state_dict()} if scaler.is_enabled() else {})}, tmp)
    finally:
        for model in models:
            model.eval()
    return losses
