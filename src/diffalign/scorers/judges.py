"""Plausibility judges: how well a region's label fits an object the prompt asks for, in [0, 1].

'embedding' (default): cosine similarity of CLIP text embeddings, clipped at 0. 'llm:<id>': a causal
LM's probability of answering yes (RealignDiff asks Vicuna), for open-world prompts.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UserInputError
from ..sources import resolve_source
from .loading import load_model
from .text_embed import TextEmbedder


class EmbeddingJudge:
    def __init__(self, embedder: str = "builtin", device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        self.embed = TextEmbedder(embedder, device=device, dtype=dtype)

    def __call__(self, labels: list[str], objects: list[str], prompt: str) -> np.ndarray:
        sim = self.embed(labels) @ self.embed(objects).T
        return sim.clamp(0, 1).numpy().astype(np.float64)


class LLMJudge:
    QUESTION = ("An image was generated for the prompt \"{prompt}\". A region of it shows {label}. "
                "Is that {object}? Answer yes or no.\nAnswer:")

    def __init__(self, model: str, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
        except (OSError, ValueError) as err:
            raise UserInputError(f"could not load judge {model!r}: {str(err).splitlines()[0]}") from None
        self.device = torch.device(device)
        self.model = load_model(AutoModelForCausalLM, model, "judge LLM", "causal language model", self.device, dtype)
        self.yes, self.no = (self.tokenizer(w, add_special_tokens=False).input_ids[0] for w in (" yes", " no"))

    @torch.no_grad()
    def __call__(self, labels: list[str], objects: list[str], prompt: str) -> np.ndarray:
        out = np.zeros((len(labels), len(objects)))
        for i, label in enumerate(labels):
            for j, obj in enumerate(objects):
                ids = self.tokenizer(self.QUESTION.format(prompt=prompt, label=label, object=obj),
                                     return_tensors="pt").input_ids.to(self.device)
                logits = self.model(ids).logits[0, -1, [self.yes, self.no]].float()
                out[i, j] = logits.softmax(-1)[0].item()
        return out


def make_judge(name: str, embedder: str = "builtin", device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32):
    check_judge(name, verify_source=False)
    if name == "embedding":
        return EmbeddingJudge(embedder, device, dtype)
    return LLMJudge(name[4:].strip(), device, dtype)


def check_judge(name: str, verify_source: bool = True) -> None:
    if name == "embedding":
        return
    if not (name.startswith("llm:") and name[4:].strip()):
        raise UserInputError(f"unknown judge {name!r}; choose embedding or llm:<model>")
    if verify_source:
        resolve_source(name[4:].strip(), "judge LLM")
