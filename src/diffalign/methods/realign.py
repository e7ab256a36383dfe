"""RealignDiff's fine stage at inference: generate, read each image with the segmentation reward, and
regenerate (same seed) the images whose prompt objects came out missing or weak, with those objects'
tokens up-weighted in cross-attention."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import pad_sequence

from ..models import family_of, is_shapes_world_model
from ..sampling import SamplerConfig, sample
from ..sampling.reweight import ReweightHook, reweighting, token_weights
from ..sampling.sampler import Sample
from ..scorers import make_scorer
from ..scorers.segments import SegmentsScorer
from ..world.grammar import in_shapes_world
from .recipe import load_recipe


@dataclass(frozen=True)
class ReweightConfig:
    weight: float = 2.0  # attention multiplier of a weak object's tokens
    weak_below: float = 0.6  # an object whose segmentation support is below this is re-weighted
    until: float = 1.0  # fraction of the denoising steps that are re-weighted (the layout forms early)


@dataclass
class Regeneration:
    first: list[Sample]  # the plain pass
    final: list[Sample]  # first, with regenerated samples in place of those that had weak objects
    boosted: list[list[int]]  # per sample: indices of the prompt objects that were up-weighted


def reweight_options(model: str, prompts: list[str]) -> dict:
    """The segmentation reward's options for re-weighting: the realign recipe's [scorer_options.segments], its
    built-in ones ([builtin] of realign.toml) for a shapes-world model or when every prompt is a shapes-world prompt
    (the built-in segmenter reads those exactly)."""
    shapes_world = is_shapes_world_model(model) or all(in_shapes_world(p) for p in prompts)
    return load_recipe("realign", shapes_world).scorer_options.get("segments", {})


def reweight_scorer(model: str, prompts: list[str]) -> SegmentsScorer:
    """The segmentation reward that decides which prompt objects to re-weight (options: reweight_options)."""
    return make_scorer("segments", **reweight_options(model, prompts))


def regenerate(pipe, prompts: list[str], seeds: list[int], sampler: SamplerConfig, scorer: SegmentsScorer,
               config: ReweightConfig = ReweightConfig(), progress: bool = True,
               first: list[Sample] | None = None) -> Regeneration:
    """`first`: the plain pass when the caller has it already (same prompts, seeds and sampler)."""
    first = first if first is not None else sample(pipe, prompts, seeds, sampler, progress=progress)
    boosted = [[i for i, s in enumerate(scorer.read(x.image, x.prompt).support) if s < config.weak_below]
               for x in first]
    todo = [k for k, b in enumerate(boosted) if b]
    final = list(first)
    if todo:
        family = family_of(pipe)
        weights = pad_sequence([token_weights(family.tokenizer, prompts[k], boosted[k], config.weight) for k in todo],
                               batch_first=True, padding_value=1.0)  # positions past a prompt's words: 1
        until = max(1, round(config.until * sampler.steps)) if config.until < 1 else None
        with reweighting(family) as state:
            again = sample(pipe, [prompts[k] for k in todo], [seeds[k] for k in todo], sampler,
                           hooks=(ReweightHook(state, weights.to(pipe.device), until),), progress=progress)
        for k, s in zip(todo, again):
            final[k] = s
    return Regeneration(first, final, boosted)
