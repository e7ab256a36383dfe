"""Personalization subjects for the shapes world: two-tone objects the base vocabulary cannot describe.

A subject is one of the world's shapes split along its bounding box's midline into two palette
colours (light shades), e.g. a square whose left half is red and right half blue. Its references are
renders of the subject alone at random positions and sizes; `pattern_match` is the pixel-level
subject-fidelity check: the best ink component's shape IoU times the worse of the two halves'
colour agreement, so a one-colour object of the right shape scores 0 and an exact render 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .render import MARGIN, shape_mask
from .vocab import BACKGROUND, COLORS, IMAGE_SIZE, PALETTE, SIZES

FOREGROUND_DISTANCE = 60.0  # as the reference evaluator: RGB distance from the background that counts as ink
MIN_AREA = 20
_LIGHT = np.array([PALETTE[c] for c in COLORS], np.float32)
_SHADES = np.concatenate([_LIGHT, _LIGHT * 0.5])  # a dark shade counts as its colour family


@dataclass(frozen=True)
class Subject:
    name: str
    shape: str
    colors: tuple[str, str]  # first half, second half
    split: str = "vertical"  # "vertical": left | right; "horizontal": top / bottom

    @property
    def class_prompt(self) -> str:
        return f"a {self.shape}"

    def halves(self, height: int, width: int) -> np.ndarray:
        """True where a height x width box shows the first colour."""
        yy, xx = np.meshgrid((np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width, indexing="ij")
        return (xx if self.split == "vertical" else yy) < 0.5


SUBJECTS = (
    Subject("split-square", "square", ("orange", "purple"), "horizontal"),
    Subject("split-circle", "circle", ("yellow", "purple"), "horizontal"),
    Subject("split-cross", "cross", ("red", "green"), "vertical"),
)


@dataclass(frozen=True)
class SubjectMatch:
    score: float  # shape IoU x min(half colour agreements), 0 when nothing matches
    cx: float  # centroid of the matched component (the reference evaluator's convention)
    cy: float


def render_subject(subject: Subject, rng: np.random.Generator) -> np.ndarray:
    """The subject alone, large, at a random position."""
    side = int(rng.integers(SIZES["large"][0], SIZES["large"][1] + 1))
    x, y = (int(v) for v in rng.integers(MARGIN, IMAGE_SIZE - MARGIN - side + 1, size=2))
    image = np.empty((IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    image[:] = BACKGROUND
    first = subject.halves(side, side)
    colours = np.where(first[..., None], PALETTE[subject.colors[0]], PALETTE[subject.colors[1]]).astype(np.uint8)
    mask = shape_mask(subject.shape, side)
    image[y:y + side, x:x + side][mask] = colours[mask]
    return image


def pattern_match(image: np.ndarray, subject: Subject) -> SubjectMatch:
    """The ink component that looks most like the subject (shape and two-colour split)."""
    rgb = image.astype(np.float32)
    ink = np.linalg.norm(rgb - np.array(BACKGROUND, np.float32), axis=-1) > FOREGROUND_DISTANCE
    family = np.argmin(((rgb[..., None, :] - _SHADES) ** 2).sum(-1), axis=-1) % len(COLORS)
    a, b = (COLORS.index(c) for c in subject.colors)
    labels, _ = ndimage.label(ndimage.binary_closing(ink, iterations=1))  # bridge a decoder's thin seam
    best = SubjectMatch(0.0, float("nan"), float("nan"))
    for index, box in enumerate(ndimage.find_objects(labels), 1):
        mask = labels[box] == index
        if mask.sum() < MIN_AREA:
            continue
        template = shape_mask(subject.shape, *mask.shape)
        iou = (mask & template).sum() / (mask | template).sum()
        first, fam, inked = subject.halves(*mask.shape), family[box], mask & ink[box]
        agree = min((fam[inked & first] == a).mean() if (inked & first).any() else 0.0,
                    (fam[inked & ~first] == b).mean() if (inked & ~first).any() else 0.0)
        score = float(iou * agree)
        if score > best.score:
            ys, xs = np.nonzero(mask)
            best = SubjectMatch(score, float(box[1].start + xs.mean() + 0.5), float(box[0].start + ys.mean() + 0.5))
    return best
