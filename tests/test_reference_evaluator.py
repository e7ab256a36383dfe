"""The reference evaluator reads fresh renders exactly and rejects prompts with one thing changed (numpy only)."""

from __future__ import annotations

import inspect
from dataclasses import replace

import numpy as np
import pytest

from diffalign.evaluation import reference
from diffalign.evaluation.reference import category_score, detect, drawn_relation, evaluate, questions
from diffalign.world.grammar import parse
from diffalign.world.perturb import one_change_variants
from diffalign.world.prompts import random_spec
from diffalign.world.render import PlacedObject, render, render_prompt
from diffalign.world.vocab import (AUX_CATEGORIES, BACKGROUND, CATEGORIES, IMAGE_SIZE)

ALL = CATEGORIES + AUX_CATEGORIES
N_PER_CATEGORY = 300
MAX_SWAP_PASS_RATE = 0.05




@pytest.fixture(scope="module")
def runs():
    """Per category: fresh renders of random prompts, their evaluations and the swapped prompts' scores."""
    out = {}
    for c, category in enumerate(ALL):
        rng = np.random.default_rng(1000 + c)
        scores, well_formed, swaps = [], [], {}
        for seed in range(N_PER_CATEGORY):
            spec = random_spec(category, rng)
            image, _ = render_prompt(spec, 10_000 * (c + 1) + seed)
            result = evaluate(image, spec, category)
            scores.append(result.score)
            well_formed.append(result.well_formed)
            # evaluate() is detect() + questions() + category_score(): reuse the detection for the swaps
            for kind, other in one_change_variants(spec, rng):
                swaps.setdefault(kind, []).append(
                    category_score(category, questions(other, list(result.objects))) == 1.0)
        out[category] = (np.array(scores), np.array(well_formed), swaps)
    return out


@pytest.mark.parametrize("category", ALL)
def test_true_prompts_score_one_and_are_well_formed(runs, category):
    scores, well_formed, _ = runs[category]
    assert scores.mean() >= 0.99, f"{category}: mean {scores.mean():.4f}, {np.sum(scores < 1)} below 1"
    assert well_formed.all()


@pytest.mark.parametrize("category", ALL)
def test_one_thing_swapped_fails(runs, category):
    _, _, swaps = runs[category]
    assert "shape" in swaps and ("count" in swaps or "relation" in swaps)
    for kind, passed in swaps.items():
        rate = float(np.mean(passed))
        assert rate <= MAX_SWAP_PASS_RATE, f"{category}/{kind}: {rate:.1%} of {len(passed)} swapped prompts pass"


def test_swap_kinds_cover_the_categories(runs):
    assert {"color", "shape", "count"} <= set(runs["color"][2])
    assert {"color", "shape", "size", "count"} <= set(runs["shape"][2])
    assert {"color", "shape", "texture", "count"} <= set(runs["texture"][2])
    assert {"color", "shape", "relation"} <= set(runs["spatial"][2])
    assert {"color", "shape", "size", "count"} <= set(runs["numeracy"][2])
    assert set(runs["complex"][2]) == {"color", "shape", "texture", "size", "relation"}


def test_reused_detection_matches_full_evaluate():
    rng = np.random.default_rng(7)
    for category in ALL:
        for seed in range(5):
            spec = random_spec(category, rng)
            image, _ = render_prompt(spec, seed)
            objects = list(evaluate(image, spec, category).objects)
            for _, other in one_change_variants(spec, rng):
                assert evaluate(image, other, category).score == category_score(category, questions(other, objects))


def test_evaluator_never_receives_the_scene():
    assert list(inspect.signature(evaluate).parameters) == ["image", "spec", "category"]
    assert list(inspect.signature(detect).parameters) == ["image"]
    source = inspect.getsource(reference)
    for name in ("PlacedObject", "sample_scene", "render_prompt", "render("):
        assert name not in source
    # the result depends on the pixels alone: a read-only copy gives the same answer and is left untouched
    spec = parse("a small red striped circle above a large blue checkered square")
    image, _ = render_prompt(spec, 3)
    frozen = image.copy()
    frozen.flags.writeable = False
    assert evaluate(frozen, spec, "complex") == evaluate(image, spec, "complex")
    assert np.array_equal(frozen, image)


def test_detection_reads_the_pixels():
    objects = [PlacedObject("triangle", "yellow", "striped", "large", 5, 6, 24),
               PlacedObject("cross", "purple", "checkered", "small", 40, 40, 14),
               PlacedObject("circle", "orange", "plain", "small", 40, 5, 12)]
    found, specks = detect(render(objects))
    assert specks == 0
    assert len(found) == 3
    for o in objects:
        match = [d for d in found if abs(d.cx - o.center[0]) < 5 and abs(d.cy - o.center[1]) < 5]
        assert len(match) == 1
        d = match[0]
        assert (d.shape, d.color, d.texture, d.size) == (o.shape, o.color, o.texture, o.size)
        assert d.well_formed


def test_bench_rows_count_the_objects_drawn():
    from diffalign.evaluation.bench import score_images
    from diffalign.world.prompts import Prompt

    two = render([PlacedObject("circle", "red", "plain", "small", 6, 24, 12),
                  PlacedObject("square", "blue", "plain", "small", 44, 26, 12)])
    blank = np.full_like(two, BACKGROUND)
    prompt = Prompt("a red circle and a blue square", "color")
    rows = score_images([prompt, prompt], [two, blank], [0, 1])
    assert [(r.objects, r.score) for r in rows] == [(2, 1.0), (0, 0.0)]


def test_drawn_relation_reads_where_the_objects_stand():
    red, blue = PlacedObject("circle", "red", "plain", "small", 6, 24, 12), \
        PlacedObject("square", "blue", "plain", "small", 44, 26, 12)
    right_of = parse("a red circle to the right of a blue square")
    assert drawn_relation(right_of, detect(render([red, blue]))[0]) == "left"  # drawn on the left instead
    assert drawn_relation(right_of, detect(render([blue, replace(red, x=44, y=2)]))[0]) == "above"
    assert drawn_relation(right_of, detect(render([blue]))[0]) is None  # the red circle is missing


def test_blank_image_scores_zero():
    blank = np.empty((IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    blank[:] = BACKGROUND
    rng = np.random.default_rng(11)
    for category in ALL:
        for _ in range(5):
            result = evaluate(blank, random_spec(category, rng), category)
            assert result.score == 0.0
            assert not result.well_formed
            assert result.objects == ()


def test_noise_is_not_well_formed():
    rng = np.random.default_rng(12)
    spec = random_spec("complex", rng)
    images = [rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8) for _ in range(10)]
    # blocky colour noise and faint noise around the background as well
    images += [np.kron(rng.integers(0, 256, (8, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8) for _ in range(5)]
    images += [np.clip(np.array(BACKGROUND) + rng.normal(0, 60, (IMAGE_SIZE, IMAGE_SIZE, 3)), 0, 255)
               .astype(np.uint8) for _ in range(5)]
    for image in images:
        assert not evaluate(image, spec, "complex").well_formed


def test_a_speck_makes_an_image_malformed():
    spec = parse("a small red circle")
    image, objects = render_prompt(spec, 0)
    assert evaluate(image, spec, "single").well_formed
    o = objects[0]
    # a 3x3 speck (9 px: between MIN_SPECK_AREA and MIN_OBJECT_AREA) in the corner farthest from the object
    y = 1 if o.y > IMAGE_SIZE / 2 else IMAGE_SIZE - 4
    x = 1 if o.x > IMAGE_SIZE / 2 else IMAGE_SIZE - 4
    image = image.copy()
    image[y:y + 3, x:x + 3] = (0, 0, 0)
    result = evaluate(image, spec, "single")
    assert result.score == 1.0 and not result.well_formed


def test_an_oversized_object_is_not_well_formed():
    big = render([PlacedObject("square", "red", "plain", "large", 10, 10, reference.MAX_SIDE + 2)])
    result = evaluate(big, parse("a red square"), "single")
    assert len(result.objects) == 1 and not result.objects[0].well_formed
    assert not result.well_formed and result.score == 0.0
