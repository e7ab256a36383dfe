"""Models: load a diffusers text-to-image pipeline (built-in, local folder or hub id) and its adapters."""

from .loading import (STABLE_DIFFUSION_GUIDANCE, default_guidance, is_shapes_world_model, load_adapter, load_pipeline,
                      resolve_model)

__all__ = ["STABLE_DIFFUSION_GUIDANCE", "default_guidance", "is_shapes_world_model", "load_adapter", "load_pipeline",
           "resolve_model"]
