"""Can the built-in CLIP learn spatial relations? An experiment towards the next built-in model (nothing here
changes the shipped one): continue the CLIP contrastively with, in every batch, the relation-flipped twin of each
scene that has a relation, and the opposite relation as those captions' hard negative. Every --every steps it
prints JSON: the text tower's separation per kind of one-word change (as text_separation.py) and how often the
CLIP prefers a render's true caption to the opposite relation (train spatial prompts, seeds no batch uses).
Writes the CLIP (and its tokenizer) to --out.

    python experiments/clip_relation_training.py --out work/clip_relations --steps 2500 --threads 2
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import torch
from text_separation import relation_preference, separation, token_ids, variant_pairs
from transformers import CLIPModel, CLIPTokenizer

from diffalign.builtin import BUILTIN_MODEL_DIR
from diffalign.builtin_training.data import SceneStream, contrastive_batch
from diffalign.builtin_training.train import TextAnchor, clip_loss
from diffalign.cli.world import parse_twins
from diffalign.evaluation.personalization import ClipFeatures, builtin_pixels
from diffalign.world.grammar import parse
from diffalign.world.prompts import shipped_prompts
from diffalign.world.vocab import OPPOSITE_RELATION, TRANSPOSED_RELATION


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--init", default=str(BUILTIN_MODEL_DIR / "clip"), help="the CLIP folder to continue")
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--twins", nargs="+", default=["relation=16"], metavar="KIND=N",
                        help="twins per batch by kind, as `diffalign world train --twins`")
    parser.add_argument("--anchor", type=float, default=0.0,
                        help="weight of keeping the text states of captions without a relation (TextAnchor)")
    parser.add_argument("--anchor-to", default=None, help="the CLIP folder whose text states the anchor keeps "
                        "(default: --init)")
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=777)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clip = CLIPModel.from_pretrained(args.init)
    twins = parse_twins(args.twins)
    anchor = TextAnchor.from_clip(args.anchor_to or args.init, args.anchor) if args.anchor else None
    tokenizer = CLIPTokenizer.from_pretrained(BUILTIN_MODEL_DIR / "tokenizer")
    opt = torch.optim.AdamW(clip.parameters(), lr=args.lr, weight_decay=0.1)
    stream = SceneStream(args.seed)
    pairs = variant_pairs(per_category=60)
    held_out = [parse(p.text) for p in shipped_prompts("train", ["spatial"])][:300]

    def encode(texts: list[str]) -> torch.Tensor:
        tokens = tokenizer(texts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                           return_tensors="pt")
        return clip.text_model(tokens.input_ids).last_hidden_state

    tokenize = partial(token_ids, tokenizer)

    def report(step: int, loss: float | None, seconds: float) -> None:
        clip.eval()
        separations = {k: round(separation(encode, tokenize, a, b), 3) for k, (a, b) in pairs.items()}
        print(json.dumps({"step": step, "loss": loss, "seconds": round(seconds), "separation": separations,
                          "prefers_true_relation": {name: round(relation_preference(
                              ClipFeatures(clip, tokenizer, builtin_pixels), held_out, 10_000, changed), 3)
                              for name, changed in (("over opposite", OPPOSITE_RELATION),
                                                    ("over transposed", TRANSPOSED_RELATION))}}),
              flush=True)
        clip.train()

    report(0, None, 0)
    start = time.time()
    for step in range(1, args.steps + 1):
        loss = clip_loss(clip, tokenizer, *contrastive_batch(stream, args.batch, twins), anchor=anchor)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % args.every == 0 or step == args.steps:
            report(step, round(loss.item(), 3), time.time() - start)
            clip.save_pretrained(args.out)
            tokenizer.save_pretrained(args.out)


if __name__ == "__main__":
    main()
