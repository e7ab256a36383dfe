"""Caption reward (RealignDiff, coarse stage): caption each image, reward = cosine similarity of the
caption's and the prompt's text embeddings. A global check: it sees whatever the captioner says.

The captioner's class comes from its checkpoint's config: model_type `blip` loads as
BlipForConditionalGeneration ('builtin' = the shapes-world captioner, or e.g.
Salesforce/blip-image-captioning-large), `blip-2` as Blip2ForConditionalGeneration (e.g. Salesforce/blip2-opt-2.7b,
RealignDiff's captioner), each with its own processor; a checkpoint that does not fit its class is refused.
Embeddings come from a CLIP text tower (text_embed.py). Both run on the scorer's device and dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..builtin import CAPTIONER_DIR
from ..devices import resolve_device
from ..errors import UserInputError
from ..sources import resolve_source
from .base import BaseScorer, register
from .loading import CAPTIONERS, check_dtype, load_model, load_processor, pick_family, scorer_device, scorer_dtype
from .text_embed import TextEmbedder, check_embedder


@dataclass(frozen=True)
class CaptionOptions:
    captioner: str = "builtin"  # 'builtin', a folder or a hub id of a BLIP or BLIP-2 captioning model
    embedder: str = "builtin"  # CLIP whose text tower embeds caption and prompt
    max_new_tokens: int = 24
    batch_size: int = 64
    device: str | None = None  # None: the pipeline's device when there is one, else cuda if available, else cpu
    dtype: str | None = None  # float32 | float16 | bfloat16; None: the pipeline's (on a GPU), else float32


class Captioner:
    def __init__(self, name: str = "builtin", max_new_tokens: int = 24, batch_size: int = 64,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        source = str(CAPTIONER_DIR) if name == "builtin" else name
        if name == "builtin" and not (Path(source) / "config.json").exists():
            raise UserInputError("the built-in captioner is not trained: run `diffalign world train --stage captioner`")
        self.kind, family, config = pick_family(source, "captioner", CAPTIONERS)
        self.device = torch.device(device)
        self.model = load_model(family.model, source, "captioner", "captioning", self.device, dtype, config)
        self.processor = load_processor(family.processor, source, "captioner")
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> list[str]:
        """Greedy captions of N x H x W x 3 uint8 images."""
        captions = []
        for start in range(0, len(images), self.batch_size):
            batch = [Image.fromarray(im) for im in images[start : start + self.batch_size]]
            pixels = self.processor(images=batch, return_tensors="pt").pixel_values.to(self.device, self.model.dtype)
            out = self.model.generate(pixel_values=pixels, max_new_tokens=self.max_new_tokens, do_sample=False)
            captions.extend(t.strip() for t in self.processor.batch_decode(out, skip_special_tokens=True))
        return captions


@register("caption")
class CaptionScorer(BaseScorer):
    name = "caption"
    Options = CaptionOptions

    def __init__(self, options: CaptionOptions = CaptionOptions(), pipe=None, cache_dir=None):
        o = self.config = options
        device = scorer_device(o.device, pipe)
        dtype = scorer_dtype(o.dtype, device, pipe)
        self.captioner = Captioner(o.captioner, o.max_new_tokens, o.batch_size, device, dtype)
        self.embed = TextEmbedder(o.embedder, device=device, dtype=dtype)

    @classmethod
    def check(cls, options: CaptionOptions) -> None:
        resolve_device(options.device)
        check_dtype(options.dtype)
        if options.captioner == "builtin":
            if not (CAPTIONER_DIR / "config.json").is_file():
                raise UserInputError("the built-in captioner is not trained: run `diffalign world train --stage "
                                     "captioner`")
        else:
            source = resolve_source(options.captioner, "captioner")
            if Path(source).is_dir():  # a local folder's config is read now; a hub one's when it loads
                pick_family(source, "captioner", CAPTIONERS)
        check_embedder(options.embedder)

    def score_with_captions(self, images: np.ndarray, prompts: list[str]) -> tuple[np.ndarray, list[str]]:
        captions = self.captioner(images)
        cos = (self.embed(captions) * self.embed(prompts)).sum(-1)
        return cos.numpy().astype(np.float64), captions

    def score(self, images: np.ndarray, prompts: list[str]) -> dict[str, np.ndarray]:
        return {self.name: self.score_with_captions(images, prompts)[0]}
