"""Images as data: uint8 arrays <-> the [-1, 1] tensors models read, and grids of them for viewing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

GUTTER = 2


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 NxHxWx3 -> float Nx3xHxW in [-1, 1] (the VAE's and the CLIP image tower's input)."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """The inverse of to_tensor: float Nx3xHxW in [-1, 1] (clamped) -> uint8 NxHxWx3."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)


def make_grid(images: list[np.ndarray], columns: int, scale: int = 2, fill: int = 255) -> Image.Image:
    """Tile H x W x 3 uint8 images row by row; an incomplete last row is padded."""
    if not images:
        raise ValueError("no images to tile")
    h, w, _ = images[0].shape
    rows = -(-len(images) // columns)
    canvas = np.full((rows * (h + GUTTER) - GUTTER, columns * (w + GUTTER) - GUTTER, 3), fill, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (h + GUTTER) : r * (h + GUTTER) + h, c * (w + GUTTER) : c * (w + GUTTER) + w] = image
    grid = Image.fromarray(canvas)
    return grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST) if scale != 1 else grid


def save_grid(images: list[np.ndarray], columns: int, path: Path, scale: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    make_grid(images, columns, scale).save(path)
    return path
