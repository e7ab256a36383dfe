"""Prompts with exactly one thing changed: the negatives that an alignment measure must reject, and the
contrasts a model confuses with a prompt (the same words bound otherwise)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .spec import PromptSpec
from .vocab import COLORS, MAX_OBJECTS, NUMBERS, OPPOSITE_RELATION, RELATIONS, SHAPES, SIZES, TEXTURES

ATTRIBUTES = {"color": COLORS, "shape": SHAPES, "texture": TEXTURES, "size": tuple(SIZES)}
BOUND = ("color", "texture", "size", "shape")  # what a prompt binds to an object


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


def attribute_swaps(spec: PromptSpec) -> list[PromptSpec]:
    """The spec with one attribute (colour, texture, size or shape) exchanged between its two object groups,
    one per attribute they differ in: the same words, bound the other way round."""
    if len(spec.objects) != 2:
        return []
    a, b = spec.objects
    return [replace(spec, objects=(replace(a, **{f: getattr(b, f)}), replace(b, **{f: getattr(a, f)})))
            for f in BOUND if getattr(a, f) != getattr(b, f)]


def attribute_leaks(spec: PromptSpec) -> list[PromptSpec]:
    """The spec with one group's attribute copied onto the other ("a red square and a red circle" for "a red
    square and a blue circle"): the attribute leakage that text-to-image models are known for."""
    if len(spec.objects) != 2:
        return []
    a, b = spec.objects
    return [spec.with_object(i, **{f: getattr(src, f)})
            for f in BOUND if getattr(a, f) != getattr(b, f) for i, src in ((0, b), (1, a))]


def contrast_specs(spec: PromptSpec) -> list[PromptSpec]:
    """Every prompt a model is known to confuse with this one, each different in meaning from it and from the
    others: an attribute swapped between or leaked across the two groups, another relation, a count one off
    (without a relation). What the contrastive MI estimator weighs an image against. (A group left out is no
    rival: measured, it was never an image's closest contrast.)"""
    options = attribute_swaps(spec) + attribute_leaks(spec)
    if spec.relation is not None:
        options += [replace(spec, relation=r) for r in RELATIONS.values() if r != spec.relation]
    else:
        for i, group in enumerate(spec.objects):
            options += [spec.with_object(i, count=group.count + d) for d in (-1, 1)
                        if 1 <= group.count + d and spec.n_objects + d <= MAX_OBJECTS]
    seen, out = {meaning(spec)}, []
    for option in options:
        if meaning(option) not in seen:
            seen.add(meaning(option))
            out.append(option)
    return out


def meaning(spec: PromptSpec) -> tuple:
    """What a spec asks of an image, whatever the word order: its groups as a set, or for a relation the
    (first, relation, second) triple read so that "A left of B" and "B right of A" are one."""
    if spec.relation is None:
        return tuple(sorted(spec.objects, key=repr)), None
    a, b = spec.objects
    if spec.relation in ("right", "below"):
        return (b, a), OPPOSITE_RELATION[spec.relation]
    return (a, b), spec.relation
