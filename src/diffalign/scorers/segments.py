"""Segmentation reward (RealignDiff, SAM reward): segment the image into regions, label each region by
text grounding, judge how plausible each label is given the prompt, and normalise the sum.

    reward = sum over a one-to-one matching of regions to the prompt's object instances of
             plausibility(label, object) / max(#regions, #instances)

so a missing object and an extra object both lower it. Segmenters (segmenters.py): 'builtin'
(connected components + built-in CLIP labels) or 'grounded' (an open-vocabulary detector + SAM).
Judges (judges.py): 'embedding' (CLIP text similarity) or 'llm:<id>'.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..errors import UserInputError
from .base import register
from .judges import make_judge
from ..questions.phrases import PromptObject, expected_instances, prompt_objects
from .segmenters import Region, make_segmenter


@dataclass(frozen=True)
class SegmentsConfig:
    segmenter: str = "builtin"  # builtin | grounded
    judge: str = "embedding"  # embedding | llm:<hub id or path>
    embedder: str = "builtin"  # CLIP for the builtin labels and the embedding judge
    detector: str = "google/owlvit-base-patch32"  # grounded only
    sam: str = "facebook/sam-vit-base"  # grounded only
    options: dict = field(default_factory=dict)  # extra segmenter options (thresholds, extra labels)


@dataclass
class Reading:
    """What the reward saw in one image."""

    regions: list[Region]
    objects: list[PromptObject]
    support: list[float]  # per prompt object: mean plausibility of its matched instances (0 when missing)
    reward: float


@register("segments")
class SegmentsScorer:
    name = "segments"
    higher_is_better = True
    needs_model = False

    def __init__(self, pipe=None, cache_dir=None, **options):
        try:
            self.config = SegmentsConfig(**options)
        except TypeError as err:
            raise UserInputError(f"segments scorer: {err}") from None
        c = self.config
        self.segmenter = make_segmenter(c.segmenter, embedder=c.embedder, detector=c.detector, sam=c.sam,
                                        **c.options)
        self.judge = make_judge(c.judge, c.embedder)

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
