"""Personalization metrics (DreamBooth benchmark style): subject fidelity, prompt fidelity, diversity.

- CLIP-I: cosine of CLIP image embeddings, sample vs each reference, averaged.
- DINO: the same with a self-supervised ViT's CLS feature (Dinov2Model / ViTModel by hub id); for
  the built-in world, a DINO-like feature from the built-in CLIP image tower: its patch tokens
  (before pooling and projection) averaged, which keep local pattern detail CLIP-I's pooled
  embedding trains away.
- CLIP-T: cosine of the image embedding and the prompt's text embedding, with the subject's token
  removed ("a sks square and a red circle" is scored as "a square and a red circle").
- diversity: mean pairwise (1 - cosine) of DINO features among samples of the same prompt.
On the built-in world the benchmark adds two exact checks: `pattern_match` (world/subjects) and the
reference evaluator on the prompt's context (`context_score`).
"""

from __future__ import annotations

from itertools import combinations
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from ..builtin import BUILTIN_MODEL_DIR
from ..world.grammar import parse
from ..world.spec import PromptSpec
from ..world.subjects import Subject, pattern_match
from .reference import detect, questions, relation_holds


class ImageFeatures(Protocol):
    def images(self, images: np.ndarray) -> torch.Tensor:
        """N x H x W x 3 uint8 -> N x D, unit norm."""
        ...


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x.float(), dim=-1)


def builtin_pixels(images: np.ndarray) -> torch.Tensor:
    """The built-in CLIP's input: the 64x64 render in [-1, 1] (as it was trained)."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


class ClipFeatures:
    """CLIP-I and CLIP-T from a transformers CLIPModel."""

    def __init__(self, model, tokenizer, pixels) -> None:
        self.model, self.tokenizer, self.pixels = model.eval(), tokenizer, pixels

    @classmethod
    def builtin(cls) -> ClipFeatures:
        from transformers import CLIPModel, CLIPTokenizer

        return cls(CLIPModel.from_pretrained(BUILTIN_MODEL_DIR / "clip"),
                   CLIPTokenizer.from_pretrained(BUILTIN_MODEL_DIR / "tokenizer"), builtin_pixels)

    @classmethod
    def from_pretrained(cls, name: str) -> ClipFeatures:
        """A hub id or folder holding a CLIPModel with its tokenizer and image processor."""
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

        processor = AutoImageProcessor.from_pretrained(name)
        return cls(CLIPModel.from_pretrained(name), AutoTokenizer.from_pretrained(name),
                   lambda images: processor(images=list(images), return_tensors="pt").pixel_values)

    @torch.no_grad()
    def images(self, images: np.ndarray) -> torch.Tensor:
        return _unit(self.model.get_image_features(pixel_values=self.pixels(images)).pooler_output)

    @torch.no_grad()
    def texts(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts, padding="max_length", truncation=True, return_tensors="pt",
                                max_length=self.model.config.text_config.max_position_embeddings)
        return _unit(self.model.get_text_features(input_ids=tokens.input_ids).pooler_output)


class PatchFeatures:
    """DINO-like feature of the built-in world: mean of the CLIP image tower's patch tokens."""

    def __init__(self, vision_model, pixels) -> None:
        self.vision, self.pixels = vision_model.eval(), pixels

    @classmethod
    def builtin(cls) -> PatchFeatures:
        from transformers import CLIPModel

        return cls(CLIPModel.from_pretrained(BUILTIN_MODEL_DIR / "clip").vision_model, builtin_pixels)

    @torch.no_grad()
    def images(self, images: np.ndarray) -> torch.Tensor:
        return _unit(self.vision(pixel_values=self.pixels(images)).last_hidden_state[:, 1:].mean(1))


class DinoFeatures:
    """The DreamBooth benchmark's DINO metric: CLS token of a ViT (Dinov2Model, ViTModel) by hub id or folder."""

    def __init__(self, name: str) -> None:
        from transformers import AutoImageProcessor, AutoModel

        self.processor = AutoImageProcessor.from_pretrained(name)
        self.model = AutoModel.from_pretrained(name).eval()

    @torch.no_grad()
    def images(self, images: np.ndarray) -> torch.Tensor:
        pixels = self.processor(images=list(images), return_tensors="pt").pixel_values
        return _unit(self.model(pixel_values=pixels).last_hidden_state[:, 0])


def mean_similarity(samples: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """Per sample: mean cosine to the references (CLIP-I, DINO)."""
    return (samples @ references.T).mean(1)


def paired_similarity(images: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
    """Per sample: cosine of its image and its own text (CLIP-T)."""
    return (images * texts).sum(1)


def diversity(features: torch.Tensor, groups: list[str]) -> float:
    """Mean pairwise (1 - cosine) among samples sharing a group (a prompt), averaged over groups."""
    per_group = []
    for g in dict.fromkeys(groups):
        rows = [i for i, x in enumerate(groups) if x == g]
        pairs = [1 - float(features[i] @ features[j]) for i, j in combinations(rows, 2)]
        if pairs:
            per_group.append(np.mean(pairs))
    return float(np.mean(per_group)) if per_group else float("nan")


def without_token(prompt: str, token: str) -> str:
    return " ".join(w for w in prompt.split() if w != token)


def context_score(image: np.ndarray, prompt: str, token: str, subject: Subject) -> float:
    """Prompt fidelity for the part of a world prompt beyond the subject (its first object), from pixels.

    The other group's object or count question comes from the reference evaluator; a relation is
    checked between the subject (found by `pattern_match`) and a matching context object. The
    two-tone subject is never a well-formed world object, so it cannot answer the context's questions.
    """
    spec = parse(without_token(prompt, token))
    if len(spec.objects) != 2:
        raise ValueError(f"expected 'subject <and|relation> context' in {prompt!r}")
    objects, _ = detect(image)
    context = spec.objects[1]
    answers = [questions(PromptSpec((context,), counted=spec.counted), objects)[0].answer]
    if spec.relation is not None:
        found = pattern_match(image, subject)
        answers.append(found.score > 0 and any(
            o.well_formed and context.matches(o.shape, o.color, o.texture, o.size)
            and relation_holds(spec.relation, found, o) for o in objects))
    return float(np.mean(answers))
