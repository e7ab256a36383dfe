"""Image degradations: what a generated image does wrong that a clean render never does.

The VQA stage blurs and noises its renders so that it reads generated images too; the aesthetics
stage learns to score degraded renders below clean ones. Images are N x 3 x H x W floats in [-1, 1].
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..world.vocab import BACKGROUND

_BACKGROUND = torch.tensor(BACKGROUND, dtype=torch.float32).view(3, 1, 1) / 127.5 - 1


def blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian blur with one sigma (pixels) per image; sigma 0 leaves an image as it is."""
    radius = 4
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-offsets**2 / (2 * sigma.clamp(min=1e-3).view(-1, 1) ** 2))
    kernel = kernel / kernel.sum(1, keepdim=True)  # N x K
    n, c, h, w = x.shape
    k = kernel.repeat_interleave(c, 0)  # (N*C) x K
    y = F.pad(x.reshape(1, n * c, h, w), (radius,) * 4, mode="replicate")
    y = F.conv2d(y, k.view(n * c, 1, 1, -1), groups=n * c)
    y = F.conv2d(y, k.view(n * c, 1, -1, 1), groups=n * c)
    return y.view(n, c, h, w)


def add_noise(x: torch.Tensor, std: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return (x + std.view(-1, 1, 1, 1) * torch.randn(x.shape, generator=gen)).clamp(-1, 1)


def break_shapes(x: torch.Tensor, amount: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Broken objects: about `amount` (0..1) of each image's ink is torn into background-coloured holes,
    and smudges of the ink's colour appear around it."""
    n, _, h, w = x.shape
    cells = torch.rand((n, 1, h // 4, w // 4), generator=gen)
    holes = F.interpolate((cells < amount.view(-1, 1, 1, 1) * 0.6).float(), size=(h, w), mode="nearest")
    ink = ((x - _BACKGROUND).abs().sum(1, keepdim=True) > 0.3).float()
    torn = x * (1 - holes * ink) + _BACKGROUND * holes * ink
    shift = torch.randint(-6, 7, (2,), generator=gen).tolist()
    smudge = torch.roll(torn, shifts=shift, dims=(2, 3))
    spots = F.interpolate((torch.rand((n, 1, h // 8, w // 8), generator=gen) < amount.view(-1, 1, 1, 1) * 0.4)
                          .float(), size=(h, w), mode="bilinear", align_corners=False)
    mix = spots * ((smudge - _BACKGROUND).abs().sum(1, keepdim=True) > 0.3).float()
    return torn * (1 - mix) + smudge * mix


def degrade(x: torch.Tensor, severity: torch.Tensor, gen: torch.Generator, rng: np.random.Generator) -> torch.Tensor:
    """One or more of blur, noise, broken shapes, each scaled by the image's severity (0 = untouched)."""
    kinds = rng.random((len(x), 3)) < 0.5
    kinds[~kinds.any(1), rng.integers(3)] = True
    kinds = torch.from_numpy(kinds)
    out = x
    out = torch.where(kinds[:, 2].view(-1, 1, 1, 1), break_shapes(out, severity, gen), out)
    out = torch.where(kinds[:, 0].view(-1, 1, 1, 1), blur(out, 0.3 + 2.7 * severity), out)
    return torch.where(kinds[:, 1].view(-1, 1, 1, 1), add_noise(out, 0.5 * severity, gen), out)
