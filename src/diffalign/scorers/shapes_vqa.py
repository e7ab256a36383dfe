"""The built-in yes/no VQA model: a small CNN over the image, FiLM-conditioned on the question.

Why not a tiny BLIP: a transformer VQA model needs far more steps than a 2-core CPU gives to learn
counting and relations from scratch. FiLM (Perez et al. 2018, the classic CLEVR model) learns this
kind of world in minutes: a GRU reads the question word by word and sets a per-channel scale and
shift in every residual block of the image network; coordinate channels give positions for relations.
Images are 64x64 shapes-world renders; the output is the logit of "yes".
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
    embed: int = 32
    question: int = 64  # GRU state
    channels: int = 32
    blocks: int = 4
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
    def __init__(self, config: ShapesVQAConfig = ShapesVQAConfig()):
        super().__init__()
        self.config = config
        c = config.channels
        self.index = {w: i for i, w in enumerate(config.vocab)}
        self.embed = nn.Embedding(len(config.vocab), config.embed, padding_idx=0)
        self.gru = nn.GRU(config.embed, config.question, batch_first=True)
        self.film = nn.Linear(config.question, 2 * c * config.blocks)
        self.stem = nn.Sequential(nn.Conv2d(5, c, 3, stride=2, padding=1), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, stride=2, padding=1), nn.ReLU())  # 64 -> 16
        self.blocks = nn.ModuleList(_FiLMBlock(c) for _ in range(config.blocks))
        self.reduce = nn.Conv2d(c + 2, 16, 1)
        self.classify = nn.Sequential(nn.Linear(16 * 8 * 8 + config.question, config.head), nn.ReLU(),
                                      nn.Linear(config.head, 1))

    def tokenize(self, questions: list[str]) -> torch.Tensor:
        """Word ids, padded on the right; words outside the vocabulary read as <unk>."""
        unk = self.index[UNK]
        ids = torch.zeros(len(questions), self.config.max_words, dtype=torch.long)
        for row, q in enumerate(questions):
            tokens = [self.index.get(w, unk) for w in re.findall(r"[a-z]+", q.lower())][: self.config.max_words]
            ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        return ids

    def forward(self, images: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """images: N x 3 x 64 x 64 in [-1, 1]; ids: N x max_words -> N logits of 'yes'."""
        lengths = (ids != 0).sum(1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(ids), lengths, batch_first=True, enforce_sorted=False)
        q = self.gru(packed)[1][0]
        film = self.film(q).view(len(ids), self.config.blocks, 2, self.config.channels)
        x = self.stem(_coords(images))
        for k, block in enumerate(self.blocks):
            x = block(x, film[:, k, 0], film[:, k, 1])
        x = F.max_pool2d(F.relu(self.reduce(_coords(x))), 2).flatten(1)
        return self.classify(torch.cat([x, q], 1)).squeeze(1)

    @torch.no_grad()
    def p_yes(self, images: np.ndarray, questions: list[str], batch_size: int = 256) -> np.ndarray:
        """N uint8 64x64x3 images and N questions -> N probabilities of 'yes'."""
        from ..builtin.data import to_tensor

        out = []
        for s in range(0, len(questions), batch_size):
            logits = self(to_tensor(images[s : s + batch_size]), self.tokenize(questions[s : s + batch_size]))
            out.append(torch.sigmoid(logits).numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(json.dumps(asdict(self.config), indent=1) + "\n")
        save_tensors(dict(self.state_dict()), directory / "model.safetensors")

    @classmethod
    def load(cls, directory: Path) -> ShapesVQA:
        data = json.loads((Path(directory) / "config.json").read_text())
        model = cls(ShapesVQAConfig(**{**data, "vocab": tuple(data["vocab"])}))
        model.load_state_dict(load_file(Path(directory) / "model.safetensors"))
        return model.eval()
