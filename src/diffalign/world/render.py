"""Draw scenes: sample a concrete layout for a PromptSpec and rasterise it to a 64x64 RGB image."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .spec import PromptSpec
from .vocab import (BACKGROUND, COLORS, DARK_FACTOR, IMAGE_SIZE, PALETTE, SIZES, TEXTURE_CELL)

MARGIN = 3  # free pixels kept between objects and around the border


@dataclass(frozen=True)
class PlacedObject:
    shape: str
    color: str
    texture: str
    size: str
    x: int  # top-left corner of the bounding box
    y: int
    side: int

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.side / 2, self.y + self.side / 2


def shape_mask(shape: str, height: int, width: int | None = None) -> np.ndarray:
    """Boolean mask of a shape filling a height x width bounding box (the renderer's geometry)."""
    width = height if width is None else width
    yy, xx = np.meshgrid((np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width, indexing="ij")
    if shape == "circle":
        return (xx - 0.5) ** 2 + (yy - 0.5) ** 2 <= 0.25
    if shape == "square":
        return np.ones((height, width), bool)
    if shape == "triangle":  # apex at the top centre, base along the bottom
        return np.abs(xx - 0.5) <= yy / 2
    if shape == "cross":  # arms one third of the side wide
        return (np.abs(xx - 0.5) <= 1 / 6) | (np.abs(yy - 0.5) <= 1 / 6)
    raise ValueError(f"unknown shape {shape!r}")


def texture_dark(texture: str, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Which pixels of a texture use the dark shade; anchored to the image grid."""
    if texture == "plain":
        return np.zeros(np.broadcast(ys, xs).shape, bool)
    if texture == "striped":
        return np.broadcast_to((xs // TEXTURE_CELL) % 2 == 1, np.broadcast(ys, xs).shape)
    if texture == "checkered":
        return ((xs // TEXTURE_CELL) + (ys // TEXTURE_CELL)) % 2 == 1
    raise ValueError(f"unknown texture {texture!r}")


def render(objects: list[PlacedObject]) -> np.ndarray:
    image = np.empty((IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    image[:] = BACKGROUND
    for o in objects:
        mask = shape_mask(o.shape, o.side)
        ys, xs = np.meshgrid(np.arange(o.y, o.y + o.side), np.arange(o.x, o.x + o.side), indexing="ij")
        light = np.array(PALETTE[o.color], np.float32)
        dark = texture_dark(o.texture, ys, xs)
        colours = np.where(dark[..., None], light * DARK_FACTOR, light).astype(np.uint8)
        region = image[o.y : o.y + o.side, o.x : o.x + o.side]
        region[mask] = colours[mask]
    return image


def _relation_holds(relation: str, a: PlacedObject, b: PlacedObject, min_gap: float = 6.0) -> bool:
    (ax, ay), (bx, by) = a.center, b.center
    dx, dy = bx - ax, by - ay
    if relation == "left":
        return dx >= min_gap and abs(dy) <= dx / 2
    if relation == "right":
        return -dx >= min_gap and abs(dy) <= -dx / 2
    if relation == "above":
        return dy >= min_gap and abs(dx) <= dy / 2
    if relation == "below":
        return -dy >= min_gap and abs(dx) <= -dy / 2
    raise ValueError(relation)


def _texture_visible(o: PlacedObject) -> bool:
    """A textured object must show both shades (25-75% dark), else it would read as plain."""
    if o.texture == "plain":
        return True
    ys, xs = np.meshgrid(np.arange(o.y, o.y + o.side), np.arange(o.x, o.x + o.side), indexing="ij")
    dark = texture_dark(o.texture, ys, xs)[shape_mask(o.shape, o.side)]
    return 0.25 <= dark.mean() <= 0.75


def _overlaps(a: PlacedObject, b: PlacedObject) -> bool:
    return not (
        a.x + a.side + MARGIN <= b.x or b.x + b.side + MARGIN <= a.x
        or a.y + a.side + MARGIN <= b.y or b.y + b.side + MARGIN <= a.y
    )


def sample_scene(spec: PromptSpec, rng: np.random.Generator, max_tries: int = 200) -> list[PlacedObject]:
    """Concrete objects for a spec: unspecified colours and sizes random, unspecified texture plain.

    Objects never touch (MARGIN pixels apart) and a relation, if any, holds with a clear margin,
    so the reference evaluator can read every render exactly. Objects are placed one at a time,
    each by rejection sampling; a dead end restarts the layout.
    """
    for _ in range(max_tries):
        objects: list[PlacedObject] = []
        for group in spec.objects:
            color = group.color or str(rng.choice(COLORS))
            size = group.size or str(rng.choice(list(SIZES)))
            lo, hi = SIZES[size]
            side = int(rng.integers(lo, hi + 1))
            for _ in range(group.count):
                placed = _place(PlacedObject(group.shape, color, group.texture or "plain", size, 0, 0, side),
                                objects, spec.relation, rng)
                if placed is None:
                    break
                objects.append(placed)
        if len(objects) == spec.n_objects:
            return objects
    raise RuntimeError(f"could not lay out {spec.text()!r} in {max_tries} tries")


def _place(obj: PlacedObject, others: list[PlacedObject], relation: str | None,
           rng: np.random.Generator, tries: int = 100) -> PlacedObject | None:
    for _ in range(tries):
        x, y = (int(v) for v in rng.integers(MARGIN, IMAGE_SIZE - MARGIN - obj.side + 1, size=2))
        cand = replace(obj, x=x, y=y)
        if any(_overlaps(cand, o) for o in others):
            continue
        if relation is not None and len(others) == 1 and not _relation_holds(relation, others[0], cand):
            continue
        if not _texture_visible(cand):
            continue
        return cand
    return None


def render_prompt(spec: PromptSpec, seed: int) -> tuple[np.ndarray, list[PlacedObject]]:
    objects = sample_scene(spec, np.random.default_rng(seed))
    return render(objects), objects
