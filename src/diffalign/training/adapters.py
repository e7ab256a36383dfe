"""Adapter config (peft) and its diffusers-format save, so `pipe.load_lora_weights(dir)` works anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline
from diffusers.utils import convert_state_dict_to_diffusers
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

ADAPTER_NAME = "diffalign"


@dataclass(frozen=True)
class AdapterConfig:
    kind: str = "dora"  # "lora" or "dora" (weight-decomposed: adds a learned magnitude per output)
    rank: int = 32
    alpha: int = 32
    target_modules: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0")

    def peft(self) -> LoraConfig:
        if self.kind not in ("lora", "dora"):
            raise ValueError(f"unknown adapter kind {self.kind!r}: use 'lora' or 'dora'")
        return LoraConfig(r=self.rank, lora_alpha=self.alpha, target_modules=list(self.target_modules),
                          init_lora_weights="gaussian", use_dora=self.kind == "dora")


def attach_adapter(unet, config: AdapterConfig) -> list[torch.nn.Parameter]:
    """Add a fresh adapter to the UNet (base weights frozen); return the trainable parameters."""
    unet.requires_grad_(False)
    unet.add_adapter(config.peft(), adapter_name=ADAPTER_NAME)
    unet.set_adapter(ADAPTER_NAME)
    params = [p for n, p in unet.named_parameters() if "lora" in n]
    for p in params:
        p.requires_grad_(True)
    return params


def adapter_state(unet) -> dict[str, torch.Tensor]:
    return get_peft_model_state_dict(unet, adapter_name=ADAPTER_NAME)


def load_adapter_state(unet, state: dict[str, torch.Tensor]) -> None:
    result = set_peft_model_state_dict(unet, state, adapter_name=ADAPTER_NAME)
    if getattr(result, "unexpected_keys", None):
        raise ValueError(f"adapter state does not fit the UNet: {result.unexpected_keys[:3]}")


def save_adapter(unet, config: AdapterConfig, out: Path) -> Path:
    """Write the diffusers LoRA format (pytorch_lora_weights.safetensors + peft metadata)."""
    out.mkdir(parents=True, exist_ok=True)
    state = convert_state_dict_to_diffusers({k: v.detach().float().cpu() for k, v in adapter_state(unet).items()})
    StableDiffusionPipeline.save_lora_weights(out, unet_lora_layers=state,
                                              unet_lora_adapter_metadata=config.peft().to_dict())
    return out
