"""CLIPScore (Hessel et al., 2021): 2.5 * max(cos(CLIP image embedding, CLIP text embedding), 0), in [0, 2.5].

The default model is openai/clip-vit-base-patch32, the ViT-B/32 that both Hessel et al. and T2I-CompBench's
non-spatial CLIPScore use; any CLIPModel folder or hub id works (model_type clip, refused when its weights do not
fit). model="builtin" is the built-in CLIP (builtin/shapes-ldm/clip, with the pipeline's tokenizer at
shapes-ldm/tokenizer), fed [-1, 1] renders at its own size as it was trained. It runs on the scorer's device
and dtype; embeddings are compared in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..devices import resolve_device
from ..errors import UserInputError
from ..images import to_tensor
from .base import BaseScorer, register
from .loading import check_dtype, load_processor, scorer_device, scorer_dtype
from .text_embed import TextEmbedder, check_embedder, resolve_clip

CLIPSCORE_MODEL = "openai/clip-vit-base-patch32"
CLIPSCORE_WEIGHT = 2.5  # Hessel et al.'s w: stretches typical cosines (~0.2-0.4) over a wider range


def clip_pixels(model, processor, images: np.ndarray) -> torch.Tensor:
    """A CLIP's pixel input for uint8 images: its processor's, or for the built-in CLIP (no processor; trained on
    [-1, 1] renders at its own size) the images in [-1, 1], resized to its input size."""
    if processor is not None:
        return processor(images=list(images), return_tensors="pt").pixel_values
    x = to_tensor(images)
    size = model.config.vision_config.image_size
    return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="bilinear", antialias=True)


@dataclass(frozen=True)
class ClipOptions:
    model: str = CLIPSCORE_MODEL  # 'builtin', a CLIPModel folder or hub id
    batch_size: int = 64
    device: str | None = None  # None: the pipeline's device when there is one, else cuda if available, else cpu
    dtype: str | None = None  # float32 | float16 | bfloat16; None: the pipeline's (on a GPU), else float32


@register("clip")
class ClipScorer(BaseScorer):
    """Column: clip (CLIPScore, 2.5 * max(cosine, 0))."""

    name = "clip"
    Options = ClipOptions

    def __init__(self, options: ClipOptions = ClipOptions(), pipe=None, cache_dir=None):
        o = self.config = options
        device = scorer_device(o.device, pipe)
        self.text = TextEmbedder(o.model, batch_size=o.batch_size, device=device,
                                 dtype=scorer_dtype(o.dtype, device, pipe))
        self.model, self.device, self.batch_size = self.text.model, self.text.device, o.batch_size
        self.processor = None if o.model == "builtin" else load_processor("CLIPImageProcessor", resolve_clip(o.model),
                                                                         "CLIP model")

    @classmethod
    def check(cls, options: ClipOptions) -> None:
        resolve_device(options.device)
        check_dtype(options.dtype)
        if options.batch_size < 1:
            raise UserInputError(f"clip scorer: batch_size must be positive, got {options.batch_size}")
        check_embedder(options.model, "model")

    @torch.no_grad()
    def image_embeddings(self, images: np.ndarray) -> torch.Tensor:
        out = []
        for s in range(0, len(images), self.batch_size):
            pixels = clip_pixels(self.model, self.processor, images[s : s + self.batch_size]).to(self.device, self.model.dtype)
            out.append(self.model.get_image_features(pixel_values=pixels).pooler_output.float().cpu())
        return F.normalize(torch.cat(out), dim=-1)

    def score(self, images: np.ndarray, prompts: list[str]) -> dict[str, np.ndarray]:
        if len(images) == 0:
            return {self.name: np.zeros(0)}
        cos = (self.image_embeddings(images) * self.text(list(prompts))).sum(-1)
        return {self.name: (CLIPSCORE_WEIGHT * cos.clamp(min=0)).numpy().astype(np.float64)}
