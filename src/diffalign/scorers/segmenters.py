"""Segmenters: an image -> regions (mask + text label).

- ShapesSegmenter ('builtin'): ink = pixels far from the background colour, regions = its connected
  components; each region is shown to the built-in CLIP alone (the rest painted background) and labelled
  with the best of every fully described world object ("a large red striped circle").
- GroundedSegmenter ('grounded'): Grounded-SAM style: an open-vocabulary detector (OWL-ViT) finds boxes
  for the prompt's object phrases (plus any extra labels), SAM turns each box into a mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from ..errors import UserInputError
from ..images import to_tensor
from ..questions.phrases import prompt_objects
from ..world.spec import ObjectSpec
from ..world.vocab import BACKGROUND, COLORS, SHAPES, SIZES, TEXTURES
from .text_embed import TextEmbedder


@dataclass
class Region:
    mask: np.ndarray  # H x W bool
    label: str
    confidence: float  # the labeller's probability / detector score


def world_labels() -> list[str]:
    """Every fully described single object of the shapes world."""
    return [ObjectSpec(shape, color, texture, size).phrase()
            for size, color, texture, shape in product(SIZES, COLORS, TEXTURES, SHAPES)]


class ShapesSegmenter:
    def __init__(self, embedder: str = "builtin", ink_distance: float = 60.0, min_area: int = 20,
                 temperature: float | None = None):
        self.embed = TextEmbedder(embedder)
        self.labels = world_labels()
        self.label_features = self.embed(self.labels)
        self.ink_distance, self.min_area = ink_distance, min_area
        self.scale = temperature or self.embed.model.logit_scale.exp().item()

    def regions(self, image: np.ndarray) -> list[np.ndarray]:
        ink = np.linalg.norm(image.astype(np.float32) - np.array(BACKGROUND, np.float32), axis=-1) > self.ink_distance
        components, n = ndimage.label(ink)
        masks = [components == k for k in range(1, n + 1)]
        return [m for m in masks if m.sum() >= self.min_area]

    @torch.no_grad()
    def __call__(self, image: np.ndarray, prompt: str) -> list[Region]:
        masks = self.regions(image)
        if not masks:
            return []
        alone = np.stack([np.where(m[..., None], image, np.array(BACKGROUND, np.uint8)) for m in masks])
        features = self.embed.model.get_image_features(pixel_values=to_tensor(alone)).pooler_output
        probs = (self.scale * torch.nn.functional.normalize(features, dim=-1) @ self.label_features.T).softmax(-1)
        best = probs.max(-1)
        return [Region(m, self.labels[i], float(p)) for m, i, p in zip(masks, best.indices.tolist(),
                                                                        best.values.tolist())]


class GroundedSegmenter:
    def __init__(self, detector: str = "google/owlvit-base-patch32", sam: str = "facebook/sam-vit-base",
                 box_threshold: float = 0.1, extra_labels: tuple[str, ...] = ()):
        from transformers import AutoProcessor, OwlViTForObjectDetection, SamModel, SamProcessor

        try:
            self.detector = OwlViTForObjectDetection.from_pretrained(detector).eval()
            self.detector_processor = AutoProcessor.from_pretrained(detector)
            self.sam = SamModel.from_pretrained(sam).eval()
            self.sam_processor = SamProcessor.from_pretrained(sam)
        except OSError as err:
            raise UserInputError(f"could not load the grounded segmenter: {str(err).splitlines()[0]}") from None
        self.box_threshold, self.extra_labels = box_threshold, list(extra_labels)

    @torch.no_grad()
    def __call__(self, image: np.ndarray, prompt: str) -> list[Region]:
        queries = list(dict.fromkeys([o.phrase for o in prompt_objects(prompt)] + self.extra_labels))
        if not queries:
            return []
        pil = Image.fromarray(image)
        inputs = self.detector_processor(text=[queries], images=pil, return_tensors="pt")
        found = self.detector_processor.post_process_grounded_object_detection(
            self.detector(**inputs), threshold=self.box_threshold, target_sizes=[image.shape[:2]],
            text_labels=[queries])[0]
        if len(found["boxes"]) == 0:
            return []
        boxes = found["boxes"].tolist()
        sam_inputs = self.sam_processor(images=pil, input_boxes=[boxes], return_tensors="pt")
        masks = self.sam(**sam_inputs, multimask_output=False).pred_masks
        masks = self.sam_processor.post_process_masks(masks, sam_inputs["original_sizes"],
                                                      sam_inputs["reshaped_input_sizes"])[0][:, 0].numpy()
        return [Region(m, queries[int(k)], float(s)) for m, k, s in zip(masks, found["labels"], found["scores"])]
