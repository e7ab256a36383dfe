"""The reference evaluator: reads a shapes-world image from its pixels with the renderer's knowledge.

It sees only the image and the prompt (never the scene that produced the image) and answers
CompBench-style questions. It is for evaluation only: no training scorer may call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
from scipy import ndimage

from ..world.render import shape_mask, texture_dark
from ..world.spec import ObjectSpec, PromptSpec, relation_phrase
from ..world.vocab import BACKGROUND, COLORS, DARK_FACTOR, PALETTE, RELATIONS, SHAPES, SIZE_THRESHOLD, SIZES

FOREGROUND_DISTANCE = 60.0  # RGB distance from the background that counts as ink
MIN_OBJECT_AREA = 20  # smaller blobs are specks, not objects
MIN_SPECK_AREA = 4  # blobs between this and MIN_OBJECT_AREA make an image malformed
MIN_PURITY = 0.7  # share of an object's pixels in its colour family
MIN_SHAPE_IOU = 0.7  # overlap with the best shape template in the object's bounding box
MAX_SIDE = max(hi for _, hi in SIZES.values()) + 4  # bigger blobs are no object the renderer draws
PLAIN_MAX_DARK = 0.15

_SHADES = np.array([PALETTE[c] for c in COLORS] + [[v * DARK_FACTOR for v in PALETTE[c]] for c in COLORS],
                   np.float32)


@dataclass(frozen=True)
class DetectedObject:
    shape: str
    color: str
    texture: str
    size: str
    cx: float
    cy: float
    area: int
    side: int  # longer side of the bounding box
    purity: float
    shape_iou: float

    @property
    def well_formed(self) -> bool:
        return self.purity >= MIN_PURITY and self.shape_iou >= MIN_SHAPE_IOU and self.side <= MAX_SIDE


@dataclass(frozen=True)
class Question:
    text: str
    kind: str  # "object", "count" or "relation"
    answer: bool


@dataclass(frozen=True)
class Evaluation:
    score: float
    questions: tuple[Question, ...]
    objects: tuple[DetectedObject, ...]
    well_formed: bool


def detect(image: np.ndarray) -> tuple[list[DetectedObject], int]:
    """Objects in an HxWx3 uint8 image, and the number of specks (too small to be objects)."""
    rgb = image.astype(np.float32)
    ink = np.linalg.norm(rgb - np.array(BACKGROUND, np.float32), axis=-1) > FOREGROUND_DISTANCE
    labels, n = ndimage.label(ink)
    nearest = np.argmin(((rgb[..., None, :] - _SHADES) ** 2).sum(-1), axis=-1)
    family, dark = nearest % len(COLORS), nearest >= len(COLORS)
    objects, specks = [], 0
    for index, box in enumerate(ndimage.find_objects(labels), 1):
        mask = labels[box] == index
        area = int(mask.sum())
        if area < MIN_OBJECT_AREA:
            specks += area >= MIN_SPECK_AREA
            continue
        fam = np.bincount(family[box][mask], minlength=len(COLORS))
        ious = {s: _iou(mask, shape_mask(s, *mask.shape)) for s in SHAPES}
        shape = max(ious, key=ious.get)
        h, w = mask.shape
        ys, xs = np.nonzero(mask)
        objects.append(DetectedObject(
            shape=shape, color=COLORS[int(fam.argmax())], texture=_texture(mask, dark[box], box),
            size="large" if max(h, w) >= SIZE_THRESHOLD else "small",
            cx=float(box[1].start + xs.mean() + 0.5), cy=float(box[0].start + ys.mean() + 0.5),
            area=area, side=max(h, w), purity=float(fam.max() / area), shape_iou=ious[shape],
        ))
    return objects, specks


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _texture(mask: np.ndarray, dark: np.ndarray, box: tuple[slice, slice]) -> str:
    """plain: few dark pixels; otherwise the renderer's grid-anchored pattern (striped or checkered)
    that the object's dark pixels follow best, either phase."""
    d = dark & mask
    if d.sum() < PLAIN_MAX_DARK * mask.sum():
        return "plain"
    ys, xs = np.meshgrid(np.arange(box[0].start, box[0].stop), np.arange(box[1].start, box[1].stop), indexing="ij")

    def fit(texture: str) -> float:
        agree = (texture_dark(texture, ys, xs) == d)[mask].mean()
        return max(agree, 1 - agree)

    return max(("striped", "checkered"), key=fit)


def relation_holds(relation: str, a: DetectedObject, b: DetectedObject) -> bool:
    """Whether a is <relation> b: the displacement points that way and dominates the other axis."""
    dx, dy = b.cx - a.cx, b.cy - a.cy
    return {"left": dx > abs(dy), "right": -dx > abs(dy), "above": dy > abs(dx), "below": -dy > abs(dx)}[relation]


def drawn_relation(spec: PromptSpec, objects: list[DetectedObject]) -> str | None:
    """The relation the image shows between the prompt's two objects (the first objects matching each): one of
    RELATIONS' values, "none" when neither axis dominates, or None when an object is missing. Tells a model that
    draws the opposite relation from one that ignores the relation."""
    a, b = (_matching(g, objects) for g in spec.objects)
    pair = next(((objects[i], objects[j]) for i in a for j in b if i != j), None)
    if pair is None:
        return None
    return next((r for r in RELATIONS.values() if relation_holds(r, *pair)), "none")


def _matching(group: ObjectSpec, objects: list[DetectedObject]) -> list[int]:
    return [i for i, o in enumerate(objects) if o.well_formed and group.matches(o.shape, o.color, o.texture, o.size)]


def questions(spec: PromptSpec, objects: list[DetectedObject]) -> list[Question]:
    """Answer the prompt's atomic questions: one per object group (presence or exact count), one per relation."""
    matches = [_matching(g, objects) for g in spec.objects]
    # Singular groups must be found as distinct objects: choose the assignment that answers most.
    options = [m + [None] if g.count == 1 else [None] for g, m in zip(spec.objects, matches)]
    best = max(
        (a for a in product(*options) if len({i for i in a if i is not None}) == sum(i is not None for i in a)),
        key=lambda a: sum(i is not None for i in a),
    )
    out = []
    for g, m, chosen in zip(spec.objects, matches, best):
        if g.count == 1 and not spec.counted:
            out.append(Question(f"is there {g.phrase()}?", "object", chosen is not None))
        else:
            out.append(Question(f"are there exactly {g.phrase(with_count=True)}?", "count", len(m) == g.count))
    if spec.relation is not None:
        a, b = spec.objects
        holds = any(i != j and relation_holds(spec.relation, objects[i], objects[j])
                    for i in matches[0] for j in matches[1])
        out.append(Question(f"is {a.phrase()} {relation_phrase(spec.relation)} {b.phrase()}?", "relation", holds))
    return out


def category_score(category: str | None, qs: list[Question]) -> float:
    """CompBench-like: binding = share of objects found; spatial = relation; numeracy = counts; else all."""
    kinds = {"spatial": ("relation",), "numeracy": ("count",)}.get(category)
    if kinds is None and category in ("color", "shape", "texture", "single"):
        kinds = ("object", "count")
    picked = [q.answer for q in qs if kinds is None or q.kind in kinds]
    return float(np.mean(picked)) if picked else 0.0


def evaluate(image: np.ndarray, spec: PromptSpec, category: str | None = None) -> Evaluation:
    objects, specks = detect(image)
    qs = questions(spec, objects)
    well_formed = bool(objects) and specks == 0 and all(o.well_formed for o in objects)
    return Evaluation(category_score(category, qs), tuple(qs), tuple(objects), well_formed)
