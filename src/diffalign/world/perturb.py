"""Prompts with exactly one thing changed: the negatives that an alignment measure must reject."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .spec import PromptSpec
from .vocab import COLORS, MAX_OBJECTS, NUMBERS, RELATIONS, SHAPES, SIZES, TEXTURES

ATTRIBUTES = {"color": COLORS, "shape": SHAPES, "texture": TEXTURES, "size": tuple(SIZES)}


def one_change_variants(spec: PromptSpec, rng: np.random.Generator) -> list[tuple[str, PromptSpec]]:
    """One variant per kind of change that applies: a specified attribute of one object, a count
    (within MAX_OBJECTS, only without a relation), or the relation. Returns (kind, spec) pairs."""
    out = []
    for attr, values in ATTRIBUTES.items():
        holders = [i for i, o in enumerate(spec.objects) if getattr(o, attr) is not None]
        if holders:
            i = int(rng.choice(holders))
            new = str(rng.choice([v for v in values if v != getattr(spec.objects[i], attr)]))
            out.append((attr, spec.with_object(i, **{attr: new})))
    if spec.relation is None:
        i = int(rng.integers(len(spec.objects)))
        room = MAX_OBJECTS - spec.n_objects + spec.objects[i].count
        new = int(rng.choice([n for n in NUMBERS.values() if n != spec.objects[i].count and n <= room]))
        out.append(("count", spec.with_object(i, count=new)))
    else:
        new = str(rng.choice([r for r in RELATIONS.values() if r != spec.relation]))
        out.append(("relation", replace(spec, relation=new)))
    return out
