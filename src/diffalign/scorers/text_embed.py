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


def resolve_clip(name: str) -> str:
    return str(Path(str(BUILTIN_MODEL_DIR)) / "clip") if name == "builtin" else name


def check_embedder(name: str, what: str = "embedder") -> None:
    """'builtin' or a CLIP folder / hub id that can be found, checked before anything loads."""
    if name != "builtin":
        resolve_source(name, f"CLIP {what}")


@lru_cache(maxsize=4)
def load_clip(name: str):
    """(CLIPModel, tokenizer) in eval mode; the built-in CLIP uses the pipeline's tokenizer."""
    from transformers import AutoTokenizer, CLIPModel

    source = resolve_clip(name)
    tokenizer_source = str(Path(str(BUILTIN_MODEL_DIR)) / "tokenizer") if name == "builtin" else source
    try:
        return CLIPModel.from_pretrained(source).eval(), AutoTokenizer.from_pretrained(tokenizer_source)
    except OSError as err:
        raise UserInputError(f"could not load CLIP model {name!r}: {str(err).splitlines()[0]}") from None


class TextEmbedder:
    def __init__(self, name: str = "builtin", batch_size: int = 256):
        self.model, self.tokenizer = load_clip(name)
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, texts: list[str]) -> torch.Tensor:
        """Unit-norm embeddings, N x D."""
        out = []
        for start in range(0, len(texts), self.batch_size):
            tokens = self.tokenizer(texts[start : start + self.batch_size], padding="max_length", truncation=True,
                                    max_length=self.tokenizer.model_max_length, return_tensors="pt")
            out.append(self.model.get_text_features(input_ids=tokens.input_ids).pooler_output)
        return torch.nn.functional.normalize(torch.cat(out), dim=-1)
