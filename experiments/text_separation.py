"""Does the text encoder tell a prompt from its one-word variants? The UNet reads the encoder's per-token hidden
states, so a word the encoder maps to (nearly) the same states is a word the UNet cannot follow, however it is
fine-tuned. For every val prompt and every kind of one-word change (colour, shape, texture, size, count, the
opposite relation, a relation on the other axis), the largest distance between the two prompts' hidden states
over aligned tokens (aligned_positions), relative to their mean token norm; averaged per kind. For the built-in
model also the built-in CLIP's view of the same words: how often it scores a clean render closer to its true
caption than to the caption with the opposite relation (chance: 0.5). Prints JSON.

    python experiments/text_separation.py [--model builtin] [--adapter DIR] [--per-category 60]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import replace
from functools import partial
from typing import Callable

import numpy as np
import torch

from diffalign.evaluation.personalization import ClipFeatures
from diffalign.models import load_pipeline
from diffalign.sampling import encode_prompts
from diffalign.world.grammar import parse
from diffalign.world.perturb import one_change_variants
from diffalign.world.prompts import first_per_category, shipped_prompts
from diffalign.world.render import render_prompt
from diffalign.world.vocab import OPPOSITE_RELATION, TRANSPOSED_RELATION


def variants(spec, rng: np.random.Generator) -> list[tuple[str, object]]:
    """one_change_variants, with the relation change split into the opposite relation and the two on the other axis."""
    out = [(kind, v) for kind, v in one_change_variants(spec, rng) if kind != "relation"]
    if spec.relation is not None:
        opposite = OPPOSITE_RELATION[spec.relation]
        out.append(("relation: opposite", replace(spec, relation=opposite)))
        transposed = TRANSPOSED_RELATION[spec.relation]
        out.append(("relation: other axis, first object first", replace(spec, relation=transposed)))
        out.append(("relation: other axis, first object second",
                    replace(spec, relation=OPPOSITE_RELATION[transposed])))
    return out


def token_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    """Each prompt's token ids up to and including its end token, truncated as the encoder reads them."""
    return tokenizer(texts, max_length=tokenizer.model_max_length, truncation=True).input_ids


def variant_pairs(per_category: int, seed: int = 0) -> dict[str, tuple[list[str], list[str]]]:
    """(prompts, their variants) per kind of change, over the first val prompts of each category."""
    rng = np.random.default_rng(seed)
    pairs = defaultdict(lambda: ([], []))
    for prompt in first_per_category(shipped_prompts("val"), per_category):
        for kind, variant in variants(parse(prompt.text), rng):
            pairs[kind][0].append(prompt.text)
            pairs[kind][1].append(variant.text())
    return dict(sorted(pairs.items()))


def aligned_positions(ids_a: list[int], ids_b: list[int]) -> list[tuple[int, int]]:
    """Token positions to compare between two prompts (each up to its end token): all of them when the prompts
    have as many tokens, else the shared prefix and the shared suffix counted from the end, so a multi-token
    change ("to the left of" for "above") does not compare unrelated words shifted against each other."""
    if len(ids_a) == len(ids_b):
        return [(i, i) for i in range(len(ids_a))]
    prefix = next((i for i, (x, y) in enumerate(zip(ids_a, ids_b)) if x != y), min(len(ids_a), len(ids_b)))
    suffix = next((i for i, (x, y) in enumerate(zip(ids_a[::-1], ids_b[::-1])) if x != y), 0)
    suffix = min(suffix, min(len(ids_a), len(ids_b)) - prefix)
    return [(i, i) for i in range(prefix)] + [(len(ids_a) - k, len(ids_b) - k) for k in range(1, suffix + 1)]


@torch.no_grad()
def separation(encode: Callable[[list[str]], torch.Tensor], tokenize: Callable[[list[str]], list[list[int]]],
               a: list[str], b: list[str]) -> float:
    """Mean over prompt pairs of: max over aligned tokens of ||h_a - h_b|| / mean token norm (padding ignored)."""
    ha, hb = encode(a).float(), encode(b).float()
    out = []
    for k, (ids_a, ids_b) in enumerate(zip(tokenize(a), tokenize(b))):
        pos_a, pos_b = (list(p) for p in zip(*aligned_positions(ids_a, ids_b)))
        scale = (ha[k, :len(ids_a)].norm(dim=-1).mean() + hb[k, :len(ids_b)].norm(dim=-1).mean()) / 2
        out.append(float((ha[k, pos_a] - hb[k, pos_b]).norm(dim=-1).max() / scale))
    return float(np.mean(out))


@torch.no_grad()
def relation_preference(clip: ClipFeatures, specs: list, first_seed: int = 0,
                        changed: dict[str, str] = OPPOSITE_RELATION) -> float:
    """Share of renders a CLIP scores closer to their caption than to the caption with the `changed` relation
    (default: the opposite one)."""
    images = clip.images(np.stack([render_prompt(s, first_seed + i)[0] for i, s in enumerate(specs)]))
    true = (images * clip.texts([s.text() for s in specs])).sum(-1)
    other = (images * clip.texts([replace(s, relation=changed[s.relation]).text() for s in specs])).sum(-1)
    return float((true > other).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--per-category", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--clip-renders", type=int, default=300,
                        help="train spatial prompts rendered for the CLIP check")
    args = parser.parse_args()
    pipe = load_pipeline(args.model, adapter=args.adapter)
    tokenize = partial(token_ids, pipe.tokenizer)
    result = {kind: {"pairs": len(a), "separation": round(separation(lambda texts: encode_prompts(pipe, texts).prompt_embeds, tokenize, a, b), 4)}
              for kind, (a, b) in variant_pairs(args.per_category, args.seed).items()}
    out = {"model": args.model, "adapter": args.adapter, "kinds": result}
    if args.model == "builtin" and args.clip_renders:
        spatial = [parse(p.text) for p in shipped_prompts("train", ["spatial"])][:args.clip_renders]
        out["builtin_clip_prefers_true_relation_over_opposite"] = round(
            relation_preference(ClipFeatures.builtin(), spatial), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
