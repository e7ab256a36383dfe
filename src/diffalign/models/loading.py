"""Resolve 'builtin' / a local folder / a hub id to a diffusers pipeline, optionally with a LoRA adapter."""

from __future__ import annotations

from pathlib import Path

import torch

from ..builtin import BUILTIN_GUIDANCE, BUILTIN_MODEL_DIR
from ..devices import resolve_device
from ..errors import UserInputError
from ..sources import is_hub_id
from .family import model_family


def resolve_model(model: str) -> str:
    """'builtin' -> the shipped folder; an existing folder -> itself; 'org/name' -> a hub id."""
    if model == "builtin":
        return str(BUILTIN_MODEL_DIR)
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "model_index.json").exists():
            raise UserInputError(f"{path} is not a diffusers pipeline folder (no model_index.json)")
        return str(path)
    if is_hub_id(model):  # from_pretrained says whether it exists, before anything is sampled
        return model
    raise UserInputError(f"model not found: {model!r}; give 'builtin', a diffusers pipeline folder, or a hub id")


def is_shapes_world_model(model: str) -> bool:
    """The built-in model, or a folder `world train --stage assemble` wrote (it alone holds the world's CLIP in
    clip/): such models get the built-in defaults (guidance, recipe sizes, world-prompt checks)."""
    if model == "builtin":
        return True
    path = Path(model).expanduser()
    return (path / "model_index.json").is_file() and (path / "clip" / "config.json").is_file()


def declared_family(model: str):
    """The Family class a model folder or hub id declares in its model_index.json (no weights loaded); None for a
    shapes-world model, which gets the built-in defaults."""
    return None if is_shapes_world_model(model) else model_family(resolve_model(model), model)


def default_guidance(model: str) -> float:
    """The guidance a model samples at unless told otherwise: the built-in one's, or its family's diffusers
    pipeline default (read from model_index.json, no weights loaded)."""
    family = declared_family(model)
    return BUILTIN_GUIDANCE if family is None else family.default_guidance


def load_pipeline(model: str = "builtin", adapter: str | Path | None = None, device: str | None = None,
                  dtype: torch.dtype | None = None):
    """Load a pipeline of a family diffalign drives (models.families); the adapter (diffusers LoRA folder) is
    loaded with `pipe.load_lora_weights`, exactly as vanilla diffusers users would."""
    from diffusers import DiffusionPipeline

    source = resolve_model(model)
    family = model_family(source, model)  # before any weights load
    device = resolve_device(device)
    dtype = dtype or (torch.float16 if device.type == "cuda" else torch.float32)
    try:
        pipe = DiffusionPipeline.from_pretrained(source, dtype=dtype, **family.load_kwargs)
    except OSError as err:
        raise UserInputError(f"could not load model {model!r}: {str(err).splitlines()[0]}") from None
    for name in family.components:
        if getattr(pipe, name, None) is None:
            raise UserInputError(f"model {model!r} has no {name}: diffalign needs every part of a "
                                 f"{family.pipeline_class} ({', '.join(family.components)})")
    if adapter is not None:
        load_adapter(pipe, adapter, model)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def load_adapter(pipe, adapter: str | Path, model: str = "the model", name: str | None = None) -> None:
    """`pipe.load_lora_weights(adapter)` (named `name` when given, to hold several) with one-line errors."""
    adapter = Path(adapter)
    if not adapter.exists():
        raise UserInputError(f"adapter not found: {adapter}")
    try:
        pipe.load_lora_weights(str(adapter), adapter_name=name)
    except OSError:  # a folder without a weights file
        raise UserInputError(f"not a LoRA adapter: {adapter} holds no pytorch_lora_weights.safetensors (give a "
                             f"diffusers LoRA folder, e.g. RUN/round_1/adapter or OUT/checkpoint-<step>)") from None
    except (ValueError, RuntimeError, KeyError) as err:
        raise UserInputError(f"adapter {adapter} does not match model {model!r}: {str(err).splitlines()[0]}") from None
