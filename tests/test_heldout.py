"""The held-out rule: val, test and the independent check's prompts (known by hash) are disjoint from train and
never enter a training stage of the built-in model or its scorers: not as a caption, a swapped caption, a hard
negative, a twin, a VQA variant or a captioner target."""

from __future__ import annotations

import numpy as np
import pytest

from diffalign.builtin_training.captioner import scene_batch
from diffalign.builtin_training.data import SceneStream, binding_noise, contrastive_batch, hard_negative
from diffalign.world.grammar import parse
from diffalign.world.perturb import attribute_swaps
from diffalign.world.prompts import (PROMPT_DIR, TEST_SIZE, heldout_hashes, is_held_out, make_prompt_sets,
                                     random_spec, text_hash)
from diffalign.world.vocab import AUX_CATEGORIES, CATEGORIES


def _lines(category: str, split: str) -> list[str]:
    return (PROMPT_DIR / f"{category}_{split}.txt").read_text().splitlines()


def test_shipped_splits_are_disjoint_from_each_other_and_the_independent_check():
    assert len(heldout_hashes()) == 324
    for category in CATEGORIES:
        val, train, test = (set(_lines(category, s)) for s in ("val", "train", "test"))
        assert len(test) == TEST_SIZE and not (val & train or val & test or train & test)
        assert not {text_hash(t) for t in val | train | test} & heldout_hashes()
    assert not {text_hash(t) for t in _lines("single", "train")} & heldout_hashes()


def test_make_prompt_sets_reproduces_the_shipped_files():
    for (category, split), texts in make_prompt_sets(0).items():
        assert texts == _lines(category, split), (category, split)
    assert not any((PROMPT_DIR / f"{c}_test.txt").exists() for c in AUX_CATEGORIES)


def _grammar_prompt(predicate, categories=CATEGORIES, draws=20000) -> str:
    rng = np.random.default_rng(0)
    for _ in range(draws):
        text = random_spec(str(rng.choice(categories)), rng).text()
        if predicate(text):
            return text
    raise AssertionError("no such prompt in the grammar")


def test_is_held_out_knows_val_test_and_the_hashed_prompts():
    assert is_held_out(_lines("color", "val")[0]) and is_held_out(_lines("spatial", "test")[5])
    assert is_held_out(_grammar_prompt(lambda t: text_hash(t) in heldout_hashes()))
    assert not any(is_held_out(t) for t in _lines("complex", "train"))


def test_scene_streams_and_captioner_targets_never_draw_a_held_out_prompt():
    _, specs = SceneStream(1).batch(3000)
    assert not any(is_held_out(s.text()) for s in specs)
    _, captions = scene_batch(SceneStream(2), 600)
    assert len(captions) == 600 and not any(map(is_held_out, captions))


def test_binding_noise_never_swaps_a_caption_into_a_held_out_prompt():
    # a training caption one of whose attribute swaps is held out, and another swap is not
    caption = _grammar_prompt(lambda t: not is_held_out(t) and len(parse(t).objects) == 2
                              and any(is_held_out(s.text()) for s in attribute_swaps(parse(t)))
                              and not all(is_held_out(s.text()) for s in attribute_swaps(parse(t))))
    noisy = binding_noise([caption] * 300, 0.99, np.random.default_rng(0))
    assert not any(map(is_held_out, noisy))
    assert sum(n != caption for n in noisy) > 200  # the allowed swaps are still drawn


@pytest.mark.parametrize("category", CATEGORIES)
def test_hard_negatives_and_twins_are_never_held_out(category):
    rng = np.random.default_rng(3)
    specs = [random_spec(category, rng) for _ in range(400)]
    assert not any(is_held_out(hard_negative(s, rng).text()) for s in specs if not is_held_out(s.text()))
    _, captions, negatives = contrastive_batch(SceneStream(4), 64, {"relation": 8, "axis": 8, "texture": 8})
    assert not any(map(is_held_out, captions + negatives))
