"""The built-in yes/no VQA model: a learned scene parser plus a question executor (NS-VQA style).

Why this shape: end-to-end VQA networks (a FiLM CNN from pixels, a FiLM head on the frozen
built-in CLIP image tower) stayed at the question prior (~60 % right) for the hundreds of steps a
2-core CPU gives; they need orders of magnitude more. Neuro-symbolic VQA (Yi et al. 2018, on CLEVR)
splits the job: a CNN learns to parse the image into objects (here: per cell of a 16x16 grid, is an
object's centre here, where exactly, and the shape, colour, texture and size of what is drawn
there, all labelled by the renderer), and the question is executed on the parsed objects with the
world's meaning of each question (builtin.scene_answers, the same code that labels training data).
Dense labels make the parser learn in minutes. P(yes) is 0.75-1 for a yes and 0-0.25 for a no,
scaled by the confidence of the least sure object the parser found.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from ..questions.scene_answers import SceneObject, answer
from ..images import to_tensor
from ..io import save_tensors
from ..world.vocab import COLORS, IMAGE_SIZE, SHAPES, SIZES, TEXTURES

# Per-cell labels the parser predicts: class 0 is background, then 1 + the vocabulary index.
PARTS = {"shape": SHAPES, "color": COLORS, "texture": TEXTURES, "size": tuple(SIZES)}


@dataclass(frozen=True)
class ShapesVQAConfig:
    channels: int = 48
    grid: int = 16  # cells per side: 4x4 pixels each on 64x64 images
    center_threshold: float = 0.5


class ShapesVQA(nn.Module):
    def __init__(self, config: ShapesVQAConfig = ShapesVQAConfig()):
        super().__init__()
        self.config = config
        c = config.channels
        self.stem = nn.Sequential(nn.Conv2d(5, c, 3, stride=2, padding=1), nn.ReLU(),  # 64 -> 16
                                  nn.Conv2d(c, c, 3, stride=2, padding=1), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, padding=2, dilation=2), nn.ReLU())
        # per cell: centre logit, centre offset (x, y in cells), part logits
        self.head = nn.Conv2d(c, 3 + sum(len(v) + 1 for v in PARTS.values()), 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """N x 3 x 64 x 64 in [-1, 1] -> N x (3 + parts) x grid x grid logits."""
        n, _, h, w = images.shape
        ys = torch.linspace(-1, 1, h).view(1, 1, h, 1).expand(n, 1, h, w)
        xs = torch.linspace(-1, 1, w).view(1, 1, 1, w).expand(n, 1, h, w)
        return self.head(self.stem(torch.cat([images, xs, ys], 1)))

    def split(self, out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """centre logits (N x g x g), offsets (N x 2 x g x g), part logits per PARTS key."""
        parts = out[:, 3:].split([len(v) + 1 for v in PARTS.values()], 1)
        return out[:, 0], out[:, 1:3], list(parts)

    @torch.no_grad()
    def parse(self, images: np.ndarray) -> list[list[tuple[SceneObject, float]]]:
        """uint8 N x 64 x 64 x 3 -> per image the objects found, each with the parser's confidence."""
        centre, offset, parts = self.split(self(to_tensor(images)))
        p = torch.sigmoid(centre)
        peaks = (p >= self.config.center_threshold) & (p == F.max_pool2d(p[:, None], 3, 1, 1)[:, 0])
        probs = [F.softmax(x, 1) for x in parts]
        cell = IMAGE_SIZE / self.config.grid
        out: list[list[tuple[SceneObject, float]]] = []
        for i in range(len(images)):
            found = []
            for y, x in peaks[i].nonzero().tolist():
                confidence = float(p[i, y, x])
                names = []
                for values, prob in zip(PARTS.values(), probs):
                    region = prob[i, 1:, max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2].flatten(1).mean(1)
                    names.append(values[int(region.argmax())])
                    confidence *= float(region.max() / region.sum())
                cx, cy = (x + 0.5 + float(offset[i, 0, y, x])) * cell, (y + 0.5 + float(offset[i, 1, y, x])) * cell
                found.append((SceneObject(*names, cx, cy), confidence))
            out.append(found)
        return out

    def p_yes(self, images: np.ndarray, questions: list[str], batch_size: int = 256) -> np.ndarray:
        """N uint8 64x64x3 images and N questions -> N probabilities of 'yes'."""
        out = np.zeros(len(questions))
        for s in range(0, len(questions), batch_size):
            for k, found in enumerate(self.parse(images[s : s + batch_size])):
                objects = [o for o, _ in found]
                yes = answer(questions[s + k], objects)
                if yes is None:  # about an object that is not there: DSG would not ask it
                    continue
                margin = 0.5 * max(min((c for _, c in found), default=1.0), 0.5)
                out[s + k] = 0.5 + margin if yes else 0.5 - margin
        return out

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(json.dumps(asdict(self.config), indent=1) + "\n")
        save_tensors(dict(self.state_dict()), directory / "model.safetensors")

    @classmethod
    def load(cls, directory: Path) -> ShapesVQA:
        model = cls(ShapesVQAConfig(**json.loads((Path(directory) / "config.json").read_text())))
        model.load_state_dict(load_file(Path(directory) / "model.safetensors"))
        return model.eval()
