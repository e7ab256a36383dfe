"""Models: load a diffusers text-to-image pipeline (built-in, local folder or hub id) and its adapters."""

from .loading import is_shapes_world_model, load_adapter, load_pipeline, resolve_model

__all__ = ["is_shapes_world_model", "load_adapter", "load_pipeline", "resolve_model"]
