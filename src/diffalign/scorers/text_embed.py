"""Sentence embeddings for the caption reward and the plausibility judge: a CLIP text tower.

'builtin' is the built-in CLIP (trained with hard negatives, so it encodes attribute binding);
any other name is a CLIPModel folder or hub id (e.g. openai/clip-vit-large-patch14).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from ..builtin import BUILTIN_MODEL_DIR
from ..errors import UserInputError
from ..sources import resolve_source
from .loading import CLIP_MODELS, load_model, pick_family


def resolve_clip(name: str) -> str:
    return str(Path(str(BUILTIN_MODEL_DIR)) / "clip") if name == "builtin" else name


def check_embedder(name: str, what: str = "embedder") -> None:
    """'builtin' or a CLIP folder / hub id that can be found, checked before anything loads."""
    if name != "builtin":
        resolve_source(name, f"CLIP {what}")


@lru_cache(maxsize=4)
def load_clip(name: str, device: torch.device = torch.device("cpu"), dtype: torch.dtype = torch.float32):
    """(CLIPModel on device/dtype in eval mode, tokenizer); the built-in CLIP uses the pipeline's tokenizer.
    Cached per (name, device, dtype): the caption scorer, the segmenter and the judge share one copy."""
    from transformers import AutoTokenizer

    source = resolve_clip(name)
    tokenizer_source = str(Path(str(BUILTIN_MODEL_DIR)) / "tokenizer") if name == "builtin" else source
    _, family, config = pick_family(source, "CLIP model", CLIP_MODELS)
    model = load_model(family.model, source, "CLIP model", "CLIP", torch.device(device), dtype, config)
    try:
        return model, AutoTokenizer.from_pretrained(tokenizer_source)
    except (OSError, ValueError) as err:
        raise UserInputError(f"could not load the tokenizer of CLIP model {name!r}: {str(err).splitlines()[0]}") \
            from None


class TextEmbedder:
    def __init__(self, name: str = "builtin", batch_size: int = 256, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        self.device = torch.device(device)
        self.model, self.tokenizer = load_clip(name, self.device, dtype)
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> torch.Tensor:
        """Unit-norm float32 embeddings on the CPU, N x D."""
        out = []
        for start in range(0, len(texts), self.batch_size):
            tokens = self.tokenizer(texts[start : start + self.batch_size], padding="max_length", truncation=True,
                                    max_length=self.tokenizer.model_max_length, return_tensors="pt")
            features = self.model.get_text_features(input_ids=tokens.input_ids.to(self.device)).pooler_output
            out.append(features.float().cpu())
        return torch.nn.functional.normalize(torch.cat(out), dim=-1)
