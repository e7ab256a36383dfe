"""Models: load a diffusers text-to-image pipeline (built-in, local folder or hub id) and its adapters; the model
families (families/) that every caller goes through to encode prompts, denoise, noise and save adapters."""

from .families import Conditioning, Family, family_of
from .loading import declared_family, default_guidance, is_shapes_world_model, load_adapter, load_pipeline, resolve_model

__all__ = ["Conditioning", "Family", "declared_family", "default_guidance", "family_of", "is_shapes_world_model", "load_adapter",
           "load_pipeline", "resolve_model"]
