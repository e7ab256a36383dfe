"""Segmentation reward (RealignDiff, SAM reward): segment the image into regions, label each region by
text grounding, judge how plausible each label is given the prompt, and normalise the sum.

    reward = sum over a one-to-one matching of regions to the prompt's object instances of
             plausibility(label, object) / max(#regions, #instances)

so a missing object and an extra object both lower it. Segmenters (segmenters.py): 'builtin'
(connected components + built-in CLIP labels) or 'grounded' (an open-vocabulary detector: OWL-ViT, OWLv2 or
Grounding DINO, chosen by its checkpoint's config, + SAM).
Judges (judges.py): 'embedding' (CLIP text similarity) or 'llm:<id>'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..devices import resolve_device
from ..errors import UserInputError
from ..questions.phrases import PromptObject, expected_instances, prompt_objects
from ..sources import resolve_source
from .base import BaseScorer, register
from .judges import check_judge, make_judge
from .loading import DETECTORS, SEGMENTERS, check_dtype, pick_family, scorer_device, scorer_dtype
from .segmenters import GroundedSegmenter, Region, ShapesSegmenter
from .text_embed import check_embedder


@dataclass(frozen=True)
class SegmentsOptions:
    segmenter: str = "builtin"  # builtin | grounded
    judge: str = "embedding"  # embedding | llm:<hub id or path>
    embedder: str = "builtin"  # CLIP for the builtin labels and the embedding judge
    ink_distance: float = 60.0  # builtin: colour distance from the background that counts as ink
    min_area: int = 20  # builtin: smallest region, in pixels
    temperature: float | None = None  # builtin: label softmax scale (None: the CLIP's logit scale)
    detector: str = "google/owlvit-base-patch32"  # grounded only
    sam: str = "facebook/sam-vit-base"  # grounded only
    box_threshold: float = 0.1  # grounded: the detector's score threshold
    extra_labels: tuple[str, ...] = ()  # grounded: labels queried besides the prompt's objects
    device: str | None = None  # None: the pipeline's device when there is one, else cuda if available, else cpu
    dtype: str | None = None  # float32 | float16 | bfloat16; None: the pipeline's (on a GPU), else float32


@dataclass
class Reading:
    """What the reward saw in one image."""

    regions: list[Region]
    objects: list[PromptObject]
    support: list[float]  # per prompt object: mean plausibility of its matched instances (0 when missing)
    reward: float


@register("segments")
class SegmentsScorer(BaseScorer):
    name = "segments"
    Options = SegmentsOptions

    def __init__(self, options: SegmentsOptions = SegmentsOptions(), pipe=None, cache_dir=None):
        o = self.config = options
        device = scorer_device(o.device, pipe)
        dtype = scorer_dtype(o.dtype, device, pipe)
        if o.segmenter == "builtin":
            self.segmenter = ShapesSegmenter(o.embedder, o.ink_distance, o.min_area, o.temperature, device, dtype)
        else:
            self.segmenter = GroundedSegmenter(o.detector, o.sam, o.box_threshold, o.extra_labels, device, dtype)
        self.judge = make_judge(o.judge, o.embedder, device, dtype)

    @classmethod
    def check(cls, options: SegmentsOptions) -> None:
        if options.segmenter not in ("builtin", "grounded"):
            raise UserInputError(f"unknown segmenter {options.segmenter!r}; choose builtin or grounded")
        resolve_device(options.device)
        check_dtype(options.dtype)
        check_judge(options.judge)
        check_embedder(options.embedder)
        if options.segmenter == "grounded":
            for source, what, families in ((options.detector, "detector", DETECTORS),
                                           (options.sam, "SAM model", SEGMENTERS)):
                if Path(resolve_source(source, what)).is_dir():  # a local config is read now, a hub one at load
                    pick_family(source, what, families)

    def read(self, image: np.ndarray, prompt: str) -> Reading:
        objects = prompt_objects(prompt)
        instances = expected_instances(objects)
        regions = self.segmenter(image, prompt)
        support = np.zeros(len(instances))
        if regions and instances:
            plaus = self.judge([r.label for r in regions], [o.phrase for o in instances], prompt)
            rows, cols = linear_sum_assignment(-plaus)
            support[cols] = plaus[rows, cols]
        reward = float(support.sum() / max(len(regions), len(instances), 1))
        per_object, first = [], 0
        for o in objects:
            per_object.append(float(support[first : first + o.count].mean()))
            first += o.count
        return Reading(regions, objects, per_object, reward)

    def score(self, images: np.ndarray, prompts: list[str]) -> dict[str, np.ndarray]:
        return {self.name: np.array([self.read(im, p).reward for im, p in zip(images, prompts)])}
