"""Aesthetics: a LAION-style MLP over L2-normalised CLIP image embeddings (DreamSync's second filter).

The head has the layout of LAION's improved aesthetic predictor (Linear(d,1024)-Dropout-
Linear(1024,128)-Dropout-Linear(128,64)-Dropout-Linear(64,16)-Linear(16,1), state-dict keys
`layers.N.*`), which predicts a 1-10 rating. The score column is that rating / 10, clipped to
[0, 1], so DreamSync's threshold 0.6 means a rating of 6.
- model="builtin": the head (with ReLUs) trained on the built-in CLIP (builtin/shapes-ldm/clip, frozen) to rate
  clean renders 9 and renders degraded by blur, noise or broken shapes down to 1 with severity.
- model=<weights file> (.safetensors, .pth or .pt) with clip=<CLIP hub id or path>, e.g. LAION's
  sac+logos+ava1-l14-linearMSE.pth with openai/clip-vit-large-patch14 (the default clip).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..builtin import BUILTIN_MODEL_DIR, BUILTIN_SCORER_DIR
from ..devices import resolve_device
from ..errors import UserInputError
from ..sources import resolve_source
from .base import BaseScorer, register
from .clip import clip_pixels
from .loading import CLIP_MODELS, check_dtype, load_model, pick_family, scorer_device, scorer_dtype

LAION_CLIP = "openai/clip-vit-large-patch14"


class AestheticMLP(nn.Module):
    """LAION's layout. LAION's has no activations (it is linear in the embedding); relu=True puts a ReLU
    after every hidden Linear (same weights, same keys), which the built-in head needs to separate
    degradations in the small built-in CLIP's embedding."""

    def __init__(self, dim: int, relu: bool = False):
        super().__init__()
        self.relu = relu
        self.layers = nn.Sequential(nn.Linear(dim, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
                                    nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1))

    def forward(self, embeds: torch.Tensor) -> torch.Tensor:
        x = embeds
        for k, layer in enumerate(self.layers):
            x = layer(x)
            if self.relu and isinstance(layer, nn.Linear) and k < len(self.layers) - 1:
                x = F.relu(x)
        return x.squeeze(-1)


def clip_embeddings(clip, pixel_values: torch.Tensor) -> torch.Tensor:
    """L2-normalised projected image embeddings, as LAION's predictor expects."""
    with torch.no_grad():
        return F.normalize(clip.get_image_features(pixel_values=pixel_values).pooler_output.float(), dim=-1)


def load_head(path: Path, relu: bool = False) -> AestheticMLP:
    """An AestheticMLP from a safetensors or torch file holding its state dict (input size read from it)."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"aesthetics weights not found: {path}; give a .safetensors or .pth file")
    try:
        if path.suffix == ".safetensors":
            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
            state = state.get("state_dict", state)
        head = AestheticMLP(state["layers.0.weight"].shape[1], relu)
        head.load_state_dict(state)
    except (OSError, RuntimeError, ValueError, KeyError, AttributeError, pickle.UnpicklingError,
            SafetensorError) as err:
        raise UserInputError(f"{path} is not a LAION-style aesthetic MLP ({str(err).splitlines()[0]})") from None
    return head.eval()


BUILTIN_HEAD = BUILTIN_SCORER_DIR / "aesthetics" / "model.safetensors"


@dataclass(frozen=True)
class AestheticsOptions:
    model: str = "builtin"  # 'builtin' or a LAION-style head's weights file (.safetensors, .pth, .pt)
    clip: str | None = None  # the CLIP the head reads (a head file's default: LAION_CLIP); builtin: its own
    batch_size: int = 64
    device: str | None = None  # None: the pipeline's device when there is one, else cuda if available, else cpu
    dtype: str | None = None  # the CLIP's: float32 | float16 | bfloat16; None: the pipeline's (on a GPU), else float32


@register("aesthetics")
class AestheticsScorer(BaseScorer):
    """Columns: aesthetics (rating / 10 in [0, 1]) and aesthetics_rating (the head's raw 1-10 output)."""

    name = "aesthetics"
    Options = AestheticsOptions

    def __init__(self, options: AestheticsOptions = AestheticsOptions(), pipe=None, cache_dir=None):
        from transformers import CLIPImageProcessor

        o = options
        self.check(o)
        self.device = scorer_device(o.device, pipe)
        dtype = scorer_dtype(o.dtype, self.device, pipe)
        self.batch_size = o.batch_size
        if o.model == "builtin":
            source, self.processor = str(BUILTIN_MODEL_DIR / "clip"), None
            self.head = load_head(BUILTIN_HEAD, relu=True)
        else:
            self.head = load_head(Path(o.model).expanduser())
            source = resolve_source(o.clip or LAION_CLIP, "CLIP model")
            self.processor = CLIPImageProcessor.from_pretrained(source)
        _, family, config = pick_family(source, "CLIP model", CLIP_MODELS)
        self.clip = load_model(family.model, source, "CLIP model", "CLIP", self.device, dtype, config)
        if self.clip.config.projection_dim != self.head.layers[0].in_features:
            raise UserInputError(f"aesthetics head {o.model!r} takes {self.head.layers[0].in_features}-d embeddings "
                                 f"but CLIP {source!r} gives {self.clip.config.projection_dim}-d: pair matching files")
        self.head.to(self.device)

    @classmethod
    def columns(cls, options: AestheticsOptions) -> tuple[str, ...]:
        return ("aesthetics", "aesthetics_rating")

    @classmethod
    def check(cls, options: AestheticsOptions) -> None:
        resolve_device(options.device)
        check_dtype(options.dtype)
        if options.model == "builtin":
            if options.clip is not None:
                raise UserInputError("the built-in aesthetics head works only with the built-in CLIP: drop clip")
            if not BUILTIN_HEAD.is_file():
                raise UserInputError("no built-in aesthetics weights: run `diffalign world train --stage aesthetics`")
            return
        if not Path(options.model).expanduser().is_file():
            raise UserInputError(f"aesthetics weights not found: {options.model}; give a .safetensors or .pth file "
                                 f"(scorer_options.aesthetics.model)")
        resolve_source(options.clip or LAION_CLIP, "CLIP model")

    @torch.no_grad()
    def score(self, images: np.ndarray, prompts: list[str]) -> dict[str, np.ndarray]:
        ratings = []
        for s in range(0, len(images), self.batch_size):
            pixels = clip_pixels(self.clip, self.processor, images[s : s + self.batch_size]).to(self.device, self.clip.dtype)
            ratings.append(self.head(clip_embeddings(self.clip, pixels)).cpu().numpy())
        rating = np.concatenate(ratings).astype(np.float64) if ratings else np.zeros(0)
        return {"aesthetics": np.clip(rating / 10, 0, 1), "aesthetics_rating": rating}
