"""Training data for the built-in model: renders of random train-distribution prompts, never a held-out prompt
(`world.prompts.is_held_out`: val, test and the independent check), as a caption, a swapped caption, a hard
negative or a twin."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ..images import to_tensor
from ..world.perturb import attribute_swaps
from ..world.prompts import is_held_out, random_spec
from ..world.render import render_prompt
from ..world.spec import PromptSpec
from ..world.vocab import (AUX_CATEGORIES, CATEGORIES, COLORS, OPPOSITE_RELATION, RELATIONS, SHAPES, TEXTURES,
                           TRANSPOSED_RELATION)


class SceneStream:
    """Endless (image, caption) batches from all categories; held-out prompts are rejected."""

    def __init__(self, seed: int, textured: bool = False):
        """textured=True gives every object without a texture a random one (autoencoder data: the
        stripes and checks are the hardest pixels to carry through the 8x8 latent)."""
        self.rng = np.random.default_rng(seed)
        self.categories = CATEGORIES + AUX_CATEGORIES
        self.textured = textured

    def spec(self) -> PromptSpec:
        while True:
            spec = random_spec(str(self.rng.choice(self.categories)), self.rng)
            if self.textured:
                for i, o in enumerate(spec.objects):
                    spec = spec.with_object(i, texture=o.texture or str(self.rng.choice(TEXTURES)))
            if not is_held_out(spec.text()):
                return spec

    def batch(self, n: int) -> tuple[torch.Tensor, list[PromptSpec]]:
        specs = [self.spec() for _ in range(n)]
        return self.render(specs), specs

    def render(self, specs: list[PromptSpec]) -> torch.Tensor:
        """One render per spec, each with a layout seed from the stream."""
        return to_tensor(np.stack([render_prompt(s, int(self.rng.integers(2**31)))[0] for s in specs]))


def flipped_relation(spec: PromptSpec) -> PromptSpec | None:
    return replace(spec, relation=OPPOSITE_RELATION[spec.relation]) if spec.relation else None


def swapped_textures(spec: PromptSpec) -> PromptSpec | None:
    if len(spec.objects) != 2 or spec.objects[0].texture == spec.objects[1].texture:
        return None
    a, b = spec.objects
    return replace(spec, objects=(replace(a, texture=b.texture), replace(b, texture=a.texture)))


def transposed_relation(spec: PromptSpec) -> PromptSpec | None:
    return replace(spec, relation=TRANSPOSED_RELATION[spec.relation]) if spec.relation else None


# a scene -> its twin, or None
TWIN_CHANGES = {"relation": flipped_relation, "axis": transposed_relation, "texture": swapped_textures}


def contrastive_batch(stream: SceneStream, n: int, twins: dict[str, int] | None = None
                      ) -> tuple[torch.Tensor, list[str], list[str]]:
    """CLIP training data: images, their captions and one hard-negative caption each. `twins` maps a kind of
    change (TWIN_CHANGES) to how many of the n scenes get their changed twin added to the batch; every caption
    such a change applies to gets its twin's caption as its negative (the first kind that applies). The CLIP
    must then read the changed words to tell a scene from its twin, which one random negative among many kinds
    did not make it learn for relations."""
    changes = [TWIN_CHANGES[kind] for kind in twins or {}]
    images, specs = stream.batch(n)
    twin_specs = []
    for kind, count in (twins or {}).items():
        twin_specs += [t for t in map(TWIN_CHANGES[kind], specs) if allowed(t)][:count]
    if twin_specs:
        images, specs = torch.cat([images, stream.render(twin_specs)]), specs + twin_specs
    negatives = [next((t for t in (change(s) for change in changes) if allowed(t)), None)
                 or hard_negative(s, stream.rng) for s in specs]
    return images, [s.text() for s in specs], [s.text() for s in negatives]


def hard_negative(spec: PromptSpec, rng: np.random.Generator) -> PromptSpec:
    """A caption with the same words but wrong bindings: swapped attributes, flipped relation, other count."""
    options = attribute_swaps(spec)
    if len(spec.objects) == 2:
        if spec.relation:
            options.append(replace(spec, relation=OPPOSITE_RELATION[spec.relation]))
            options.append(replace(spec, relation=str(rng.choice([r for r in RELATIONS.values()
                                                                  if r != spec.relation]))))
    else:
        group = spec.objects[0]
        options.append(spec.with_object(0, count=int(rng.choice([c for c in (1, 2, 3, 4) if c != group.count]))))
        if group.color:
            options.append(spec.with_object(0, color=str(rng.choice([c for c in COLORS if c != group.color]))))
        options.append(spec.with_object(0, shape=str(rng.choice([s for s in SHAPES if s != group.shape]))))
    options = [o for o in options if allowed(o)] or [o for o in one_word_changes(spec) if allowed(o)]
    return options[int(rng.integers(len(options)))]


def one_word_changes(spec: PromptSpec) -> list[PromptSpec]:
    """Every scene one colour, shape or count away: the fallback negatives when all the binding ones are held out
    (numeracy's small space is half held out)."""
    out = []
    for i, group in enumerate(spec.objects):
        out += [spec.with_object(i, color=c) for c in COLORS if c != group.color]
        out += [spec.with_object(i, shape=s) for s in SHAPES if s != group.shape]
        if len(spec.objects) == 1:
            out += [spec.with_object(i, count=c) for c in (1, 2, 3, 4) if c != group.count]
    return out


def allowed(spec: PromptSpec | None) -> bool:
    """A derived scene (twin, negative, swap) that may enter training: it exists and is not held out."""
    return spec is not None and not is_held_out(spec.text())


def binding_noise(captions: list[str], share: float, rng: np.random.Generator) -> list[str]:
    """Each caption of two object groups is, with probability `share`, replaced by one of its attribute swaps:
    the caption names the right words but binds them to the wrong objects, as loose web alt text does. A UNet
    trained on such captions makes binding errors at a rate it learnt from data, which a self-training
    recipe can select against."""
    from ..world.grammar import parse

    noisy = []
    for caption in captions:
        swaps = [s for s in attribute_swaps(parse(caption)) if allowed(s)] if rng.random() < share else []
        noisy.append(swaps[int(rng.integers(len(swaps)))].text() if swaps else caption)
    return noisy
