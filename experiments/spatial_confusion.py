"""Which relation does the model draw for a spatial prompt? For val spatial prompts, the share of images whose two
objects stand in the prompt's relation, in its opposite (left for right), on the other axis (above for right), in
none (diagonal), or with an object missing; and the count of each drawn relation per prompt relation. A model that
ignores the relation scores about 1/4, 1/4, 1/2 on the first three; one that knows the axis but not the direction,
about 1/2, 1/2, 0. Evaluation only. Prints JSON.

    python experiments/spatial_confusion.py [--model builtin] [--adapter DIR] [--prompts 60] [--per-prompt 4]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict

from diffalign.evaluation.reference import detect, drawn_relation
from diffalign.models import load_pipeline
from diffalign.sampling import SamplerConfig, sample
from diffalign.world.grammar import parse
from diffalign.world.prompts import shipped_prompts
from diffalign.world.vocab import OPPOSITE_RELATION


def outcome(relation: str, drawn: str | None) -> str:
    if drawn is None:
        return "missing"
    if drawn in (relation, OPPOSITE_RELATION[relation]):
        return "prompt" if drawn == relation else "opposite"
    return "none" if drawn == "none" else "other axis"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin")
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--prompts", type=int, default=60)
    parser.add_argument("--per-prompt", type=int, default=4)
    parser.add_argument("--guidance", type=float, default=None, help="default: the model's")
    args = parser.parse_args()
    pipe = load_pipeline(args.model, adapter=args.adapter)
    prompts = [p.text for p in shipped_prompts("val", ["spatial"])][:args.prompts]
    texts = [t for t in prompts for _ in range(args.per_prompt)]
    seeds = [k for _ in prompts for k in range(args.per_prompt)]
    samples = sample(pipe, texts, seeds, SamplerConfig(steps=20, scheduler="dpm", guidance=args.guidance))
    counts, by_relation = Counter(), defaultdict(Counter)
    for s in samples:
        spec = parse(s.prompt)
        drawn = drawn_relation(spec, detect(s.image)[0])
        counts[outcome(spec.relation, drawn)] += 1
        by_relation[spec.relation][drawn or "missing"] += 1
    found = len(samples) - counts["missing"]
    print(json.dumps({"model": args.model, "adapter": args.adapter, "images": len(samples),
                      "share_of_images": {k: round(counts[k] / len(samples), 3) for k in
                                          ("prompt", "opposite", "other axis", "none", "missing")},
                      "share_of_found_pairs": {k: round(counts[k] / max(found, 1), 3) for k in
                                               ("prompt", "opposite", "other axis", "none")},
                      "drawn_by_relation": {r: dict(sorted(c.items())) for r, c in sorted(by_relation.items())}}))


if __name__ == "__main__":
    main()
