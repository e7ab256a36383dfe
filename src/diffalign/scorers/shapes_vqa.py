"""The built-in yes/no VQA model: the built-in CLIP's image tower (frozen) read by a FiLM network.

Why this shape: a VQA model trained from pixels (a tiny BLIP, or a CNN) needs far more steps than a
2-core CPU gives to learn colours, shapes, counts and relations. The built-in CLIP's vision tower
already tells them apart (it was trained with swapped-binding hard negatives), so its 8x8 grid of
patch features (two layers, concatenated) is kept frozen, as BLIP keeps a ViT, and features of the
training images are computed once. On top, FiLM (Perez et al. 2018, the classic CLEVR model): a GRU
reads the question word by word and sets a per-channel scale and shift in every residual conv block
over the grid; coordinate channels give positions for relations; max and mean pooling over the grid
make the answer independent of where an object is (a flattened grid learned far slower). Output:
the logit of "yes".
The tower is saved with the model (vision/), so retraining the built-in CLIP does not change it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from ..io import save_tensors
from ..world.vocab import words

QUESTION_WORDS = ("is", "are", "there", "exactly", "the")
PAD, UNK = "<pad>", "<unk>"


@dataclass(frozen=True)
class ShapesVQAConfig:
    vocab: tuple[str, ...] = (PAD, UNK, *dict.fromkeys((*words(), *QUESTION_WORDS)))
    max_words: int = 16
    layers: tuple[int, ...] = (2, 4)  # hidden states of the vision tower that are read (0 = patch embeddings)
    embed: int = 32
    question: int = 64  # GRU state
    channels: int = 64
    blocks: int = 3
    head: int = 128


def _coords(x: torch.Tensor) -> torch.Tensor:
    n, _, h, w = x.shape
    ys = torch.linspace(-1, 1, h, dtype=x.dtype).view(1, 1, h, 1).expand(n, 1, h, w)
    xs = torch.linspace(-1, 1, w, dtype=x.dtype).view(1, 1, 1, w).expand(n, 1, h, w)
    return torch.cat([x, xs, ys], 1)


class _FiLMBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.inp = nn.Conv2d(c + 2, c, 1)
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.norm = nn.GroupNorm(4, c, affine=False)

    def forward(self, x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.inp(_coords(x)))
        y = self.norm(self.conv(h)) * (1 + gamma[..., None, None]) + beta[..., None, None]
        return h + F.relu(y)


class ShapesVQA(nn.Module):
    def __init__(self, vision, config: ShapesVQAConfig = ShapesVQAConfig()):
        super().__init__()
        self.config = config
        self.vision = vision.eval().requires_grad_(False)  # a transformers CLIPVisionModel
        c = config.channels
        self.index = {w: i for i, w in enumerate(config.vocab)}
        self.embed = nn.Embedding(len(config.vocab), config.embed, padding_idx=0)
        self.gru = nn.GRU(config.embed, config.question, batch_first=True)
        self.film = nn.Linear(config.question, 2 * c * config.blocks)
        width = vision.config.hidden_size * len(config.layers)
        self.grid = vision.config.image_size // vision.config.patch_size
        self.stem = nn.Sequential(nn.Conv2d(width + 2, c, 1), nn.ReLU())
        self.blocks = nn.ModuleList(_FiLMBlock(c) for _ in range(config.blocks))
        self.reduce = nn.Conv2d(c + 2, c, 1)
        self.classify = nn.Sequential(nn.Linear(2 * c + config.question, config.head), nn.ReLU(),
                                      nn.Linear(config.head, 1))

    def tokenize(self, questions: list[str]) -> torch.Tensor:
        """Word ids, padded on the right; words outside the vocabulary read as <unk>."""
        unk = self.index[UNK]
        ids = torch.zeros(len(questions), self.config.max_words, dtype=torch.long)
        for row, q in enumerate(questions):
            tokens = [self.index.get(w, unk) for w in re.findall(r"[a-z]+", q.lower())][: self.config.max_words]
            ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        return ids

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """N x 3 x 64 x 64 images in [-1, 1] -> N x width x grid x grid patch features of the frozen tower."""
        hidden = self.vision(pixel_values=images, output_hidden_states=True).hidden_states
        x = torch.cat([hidden[k][:, 1:] for k in self.config.layers], -1)  # drop the class token
        return x.transpose(1, 2).reshape(len(images), -1, self.grid, self.grid)

    def forward(self, features: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """features (from `features`) and word ids (from `tokenize`) -> N logits of 'yes'."""
        lengths = (ids != 0).sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(ids), lengths, batch_first=True, enforce_sorted=False)
        q = self.gru(packed)[1][0]
        film = self.film(q).view(len(ids), self.config.blocks, 2, self.config.channels)
        x = self.stem(_coords(features))
        for k, block in enumerate(self.blocks):
            x = block(x, film[:, k, 0], film[:, k, 1])
        x = F.relu(self.reduce(_coords(x))).flatten(2)  # pooled over the grid: the same object anywhere reads the same
        return self.classify(torch.cat([x.amax(2), x.mean(2), q], 1)).squeeze(1)

    @torch.no_grad()
    def p_yes(self, images: np.ndarray, questions: list[str], batch_size: int = 256) -> np.ndarray:
        """N uint8 64x64x3 images and N questions -> N probabilities of 'yes'."""
        from ..builtin.data import to_tensor

        out = []
        for s in range(0, len(questions), batch_size):
            features = self.features(to_tensor(images[s : s + batch_size]))
            logits = self(features, self.tokenize(questions[s : s + batch_size]))
            out.append(torch.sigmoid(logits).numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def save(self, directory: Path) -> None:
        """config.json + model.safetensors (the FiLM network) and vision/ (the tower, save_pretrained)."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(json.dumps(asdict(self.config), indent=1) + "\n")
        head = {k: v for k, v in self.state_dict().items() if not k.startswith("vision.")}
        save_tensors(head, directory / "model.safetensors")
        self.vision.save_pretrained(directory / "vision")

    @classmethod
    def load(cls, directory: Path) -> ShapesVQA:
        from transformers import CLIPVisionModel

        directory = Path(directory)
        data = json.loads((directory / "config.json").read_text())
        config = ShapesVQAConfig(**{**data, "vocab": tuple(data["vocab"]), "layers": tuple(data["layers"])})
        model = cls(CLIPVisionModel.from_pretrained(directory / "vision"), config)
        missing, unexpected = model.load_state_dict(load_file(directory / "model.safetensors"), strict=False)
        if unexpected or any(not k.startswith("vision.") for k in missing):
            raise ValueError(f"{directory} does not hold a ShapesVQA model of this config")
        return model.eval()
