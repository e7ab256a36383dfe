"""Training: peft LoRA/DoRA adapters on the UNet, fitted with the standard noise-prediction loss."""

from .adapters import AdapterConfig, attach_adapter, load_adapter_state, save_adapter
from .trainer import TrainConfig, frozen_conditioning, train_adapter, trained_conditioning

__all__ = ["AdapterConfig", "TrainConfig", "attach_adapter", "load_adapter_state", "frozen_conditioning",
           "save_adapter", "train_adapter", "trained_conditioning"]
