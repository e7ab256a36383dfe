"""Models: load a diffusers text-to-image pipeline (built-in, local folder or hub id) and its adapters."""

from .loading import load_adapter, load_pipeline, resolve_model

__all__ = ["load_adapter", "load_pipeline", "resolve_model"]
