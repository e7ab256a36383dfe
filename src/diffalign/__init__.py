"""diffalign: make text-to-image diffusion models follow their prompts."""

__version__ = "0.1.0"
