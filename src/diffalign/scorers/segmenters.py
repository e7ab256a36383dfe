"""Segmenters: an image -> regions (mask + text label).

- ShapesSegmenter ('builtin'): ink = pixels far from the background colour, regions = its connected
  components; each region is shown to the built-in CLIP alone (the rest painted background) and labelled
  with the best of every fully described world object ("a large red striped circle").
- GroundedSegmenter ('grounded'): Grounded-SAM style: an open-vocabulary detector finds boxes for the prompt's
  object phrases (plus any extra labels), SAM turns each box into a mask. The detector's class comes from its
  checkpoint's config: `owlvit` (OwlViTForObjectDetection, e.g. google/owlvit-base-patch32), `owlv2`
  (Owlv2ForObjectDetection, e.g. google/owlv2-base-patch16-ensemble) or `grounding-dino`
  (GroundingDinoForObjectDetection, e.g. IDEA-Research/grounding-dino-tiny, Grounded-SAM's own detector);
  SAM is `sam` (SamModel). A checkpoint that does not fit its class is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from ..questions.phrases import prompt_objects
from ..world.spec import ObjectSpec
from ..world.vocab import BACKGROUND, COLORS, SHAPES, SIZES, TEXTURES
from .clip import clip_pixels
from .loading import DETECTORS, SEGMENTERS, load_model, load_processor, pick_family
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
                 temperature: float | None = None, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        self.embed = TextEmbedder(embedder, device=device, dtype=dtype)
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
        model = self.embed.model
        pixels = clip_pixels(model, None, alone).to(self.embed.device, model.dtype)  # at the CLIP's input size
        features = model.get_image_features(pixel_values=pixels).pooler_output.float().cpu()
        probs = (self.scale * torch.nn.functional.normalize(features, dim=-1) @ self.label_features.T).softmax(-1)
        best = probs.max(-1)
        return [Region(m, self.labels[i], float(p)) for m, i, p in zip(masks, best.indices.tolist(),
                                                                        best.values.tolist())]


@dataclass
class Detection:
    boxes: list[list[float]]  # x0, y0, x1, y1 in the image's pixels
    labels: list[int]  # index of the query each box answers
    scores: list[float]


class Detector:
    """An open-vocabulary detector of any supported kind: (image, queries, threshold) -> boxes per query."""

    def __init__(self, source: str, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        self.kind, family, config = pick_family(source, "detector", DETECTORS)
        self.device = torch.device(device)
        self.model = load_model(family.model, source, "detector", "object detection", self.device, dtype, config)
        self.processor = load_processor(family.processor, source, "detector")

    def _inputs(self, **kwargs):
        inputs = self.processor(return_tensors="pt", **kwargs).to(self.device)
        inputs["pixel_values"] = inputs["pixel_values"].to(self.model.dtype)
        return inputs

    @torch.no_grad()
    def __call__(self, image: Image.Image, queries: list[str], threshold: float) -> Detection:
        if self.kind == "grounding-dino":
            return self._grounding_dino(image, queries, threshold)
        inputs = self._inputs(text=[queries], images=image)
        outputs = self.model(**inputs)
        outputs.logits, outputs.pred_boxes = outputs.logits.float().cpu(), outputs.pred_boxes.float().cpu()
        # OWLv2 pads the image to a square at the bottom/right, and its boxes are relative to that square
        size = (max(image.size),) * 2 if self.kind == "owlv2" else (image.height, image.width)
        found = self.processor.post_process_grounded_object_detection(
            outputs, threshold=threshold, target_sizes=[size], text_labels=[queries])[0]
        return Detection(found["boxes"].tolist(), [int(k) for k in found["labels"]], found["scores"].tolist())

    def _grounding_dino(self, image: Image.Image, queries: list[str], threshold: float) -> Detection:
        """Grounding DINO reads one caption, "a cat. a dog.", and scores each box against its tokens; a box's score
        for a query is its best token of that query's span (the processor's own post-processing returns decoded
        token strings, not which query a box answers)."""
        inputs = self._inputs(text=". ".join(q.lower() for q in queries) + ".", images=image)
        outputs = self.model(**inputs)
        ids = inputs["input_ids"][0].tolist()
        tok = self.processor.tokenizer
        dot, skip = tok.convert_tokens_to_ids("."), set(tok.all_special_ids)
        span, spans = 0, []  # the query index of each token (-1: a separator or special token)
        for t in ids:
            spans.append(-1 if t in skip or t == dot else span)
            span += t == dot
        probs = outputs.logits[0, :, : len(ids)].float().sigmoid().cpu()  # queries x tokens
        per_query = torch.stack([probs[:, [i for i, s in enumerate(spans) if s == k]].max(-1).values
                                 if k in spans else torch.zeros(len(probs)) for k in range(len(queries))], -1)
        scores, labels = per_query.max(-1)
        keep = scores > threshold
        cx, cy, w, h = outputs.pred_boxes[0].float().cpu()[keep].unbind(-1)
        boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)
        boxes = boxes * torch.tensor([image.width, image.height, image.width, image.height])
        return Detection(boxes.tolist(), labels[keep].tolist(), scores[keep].tolist())


class GroundedSegmenter:
    def __init__(self, detector: str = "google/owlvit-base-patch32", sam: str = "facebook/sam-vit-base",
                 box_threshold: float = 0.1, extra_labels: tuple[str, ...] = (), device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32):
        self.device = torch.device(device)
        self.detector = Detector(detector, self.device, dtype)
        _, family, config = pick_family(sam, "SAM model", SEGMENTERS)
        self.sam = load_model(family.model, sam, "SAM model", "SAM", self.device, dtype, config)
        self.sam_processor = load_processor(family.processor, sam, "SAM model")
        self.box_threshold, self.extra_labels = box_threshold, list(extra_labels)

    @torch.no_grad()
    def __call__(self, image: np.ndarray, prompt: str) -> list[Region]:
        queries = list(dict.fromkeys([o.phrase for o in prompt_objects(prompt)] + self.extra_labels))
        if not queries:
            return []
        pil = Image.fromarray(image)
        found = self.detector(pil, queries, self.box_threshold)
        if not found.boxes:
            return []
        sam_inputs = self.sam_processor(images=pil, input_boxes=[found.boxes], return_tensors="pt")
        masks = self.sam(pixel_values=sam_inputs["pixel_values"].to(self.device, self.sam.dtype),
                         input_boxes=sam_inputs["input_boxes"].to(self.device, self.sam.dtype),
                         multimask_output=False).pred_masks
        masks = self.sam_processor.post_process_masks(masks.float().cpu(), sam_inputs["original_sizes"],
                                                      sam_inputs["reshaped_input_sizes"])[0][:, 0].numpy()
        return [Region(m, queries[k], float(s)) for m, k, s in zip(masks, found.labels, found.scores)]
