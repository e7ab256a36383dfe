"""Adapter config (peft) and its diffusers-format save, so `pipe.load_lora_weights(dir)` works anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

from ..models import family_of

ADAPTER_NAME = "diffalign"
ADAPTER_KINDS = ("lora", "dora")


@dataclass(frozen=True)
class AdapterConfig:
    kind: str = "lora"  # "lora" or "dora" (weight-decomposed: adds a learned magnitude per output)
    rank: int = 8
    alpha: int = 8
    target_modules: tuple[str, ...] | None = None  # of the denoiser; None: the model family's lora_targets
    text_encoder: bool = False  # also adapt the text encoders' attention (MI-Tune's default: the denoiser only)

    def peft(self, targets: tuple[str, ...]) -> LoraConfig:
        if self.kind not in ADAPTER_KINDS:
            raise ValueError(f"unknown adapter kind {self.kind!r}: use one of {', '.join(ADAPTER_KINDS)}")
        return LoraConfig(r=self.rank, lora_alpha=self.alpha, target_modules=list(targets),
                          init_lora_weights="gaussian", use_dora=self.kind == "dora")


def adapted_models(pipe, config: AdapterConfig) -> dict[str, tuple[torch.nn.Module, LoraConfig]]:
    """The modules an adapter of this config lives in, by pipeline component name, with their peft configs."""
    family = family_of(pipe)
    models = {family.denoiser_name: (family.denoiser, config.peft(config.target_modules or family.lora_targets))}
    if config.text_encoder:
        for name, module in family.text_encoders().items():
            models[name] = (module, config.peft(family.text_encoder_targets[name]))
    return models


def attach_adapter(pipe, config: AdapterConfig, seed: int = 0) -> list[torch.nn.Parameter]:
    """Add a fresh adapter (base weights frozen); return the trainable parameters, in float32 whatever the base's
    dtype (the master weights of mixed-precision training). The random init (LoRA A) comes from `seed` alone, not
    from the process's global RNG, so a rerun that resumes at any stage trains from the same start as an
    uninterrupted run."""
    params = []
    for model, peft_config in adapted_models(pipe, config).values():
        model.requires_grad_(False)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model.add_adapter(peft_config, adapter_name=ADAPTER_NAME)
        model.set_adapter(ADAPTER_NAME)
        for name, p in model.named_parameters():
            if "lora" in name:
                if p.dtype != torch.float32:  # peft makes them in the base layer's dtype (float16 on a GPU)
                    p.data = p.data.float()
                p.requires_grad_(True)
                params.append(p)
    return params


def adapter_state(pipe) -> dict[str, dict[str, torch.Tensor]]:
    """The adapter weights of every adapted model (peft key format), by pipeline component name."""
    return {name: get_peft_model_state_dict(module, adapter_name=ADAPTER_NAME)
            for name, module in family_of(pipe).modules().items()
            if ADAPTER_NAME in (getattr(module, "peft_config", None) or {})}


def load_adapter_state(pipe, state: dict[str, dict[str, torch.Tensor]]) -> None:
    for name, weights in state.items():
        result = set_peft_model_state_dict(getattr(pipe, name), weights, adapter_name=ADAPTER_NAME)
        if getattr(result, "unexpected_keys", None):
            raise ValueError(f"adapter state does not fit the {name}: {result.unexpected_keys[:3]}")


def save_adapter(pipe, config: AdapterConfig, out: Path) -> Path:
    """Write the diffusers LoRA format (pytorch_lora_weights.safetensors + peft metadata)."""
    out.mkdir(parents=True, exist_ok=True)
    family, models = family_of(pipe), adapted_models(pipe, config)
    layers, metadata = {}, {}
    for name, weights in adapter_state(pipe).items():
        weights = {k: v.detach().float().cpu() for k, v in weights.items()}
        layers[name] = convert_state_dict_to_diffusers(weights) if family.unet_lora_keys else weights
        metadata[name] = models[name][1].to_dict()
    family.save_lora(out, layers, metadata)
    return out
