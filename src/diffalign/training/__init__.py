"""Training: peft LoRA/DoRA adapters on the UNet (optionally the text encoder too), saved in the diffusers LoRA
format. The trainer (trainer.py) has two objectives: "sft", the noise-prediction loss on the selected samples (the
papers' choice; also DreamBooth-style personalization, personalize.py), and "dpo", Diffusion-DPO on (selected,
rejected) pairs against the frozen base model."""

from .adapters import AdapterConfig, attach_adapter, load_adapter_state, save_adapter
from .trainer import TrainConfig, check_train_config, frozen_conditioning, train_adapter, trained_conditioning

__all__ = ["AdapterConfig", "TrainConfig", "check_train_config", "attach_adapter", "load_adapter_state",
           "frozen_conditioning", "save_adapter", "train_adapter", "trained_conditioning"]
