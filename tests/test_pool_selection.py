from dataclasses import dataclass

import numpy as np
import pytest
import torch

from diffalign.errors import UserInputError
from diffalign.pool import Pool, PoolRow
from diffalign.scorers import BaseScorer
from diffalign.selection import SelectorConfig, preference_pairs, rank_sum, select, threshold, top_k


def rows_for(prompt, values, **extra):
    return [PoolRow(id=f"{prompt}-{i}", prompt=prompt, category="color", seed=i, round=1, image=f"images/{i}.png",
                    latents="latents/x.safetensors", scores={"mi": v, **{k: e[i] for k, e in extra.items()}})
            for i, v in enumerate(values)]


def test_top_k_per_prompt_with_deterministic_ties():
    rows = rows_for("a", [1.0, 3.0, 3.0, 2.0]) + rows_for("b", [5.0, 4.0])
    assert [r.id for r in top_k(rows, "mi", 1)] == ["a-1", "b-0"]
    assert [r.id for r in top_k(rows, "mi", 2)] == ["a-1", "a-2", "b-0", "b-1"]


def test_threshold_keeps_best_passing_and_may_keep_none():
    rows = rows_for("a", [0.95, 0.99, 0.5], aes=[0.7, 0.5, 0.9])
    assert [r.id for r in threshold(rows, {"mi": 0.9, "aes": 0.6}, "mi")] == ["a-0"]
    assert threshold(rows, {"mi": 2.0}, "mi") == []


def test_rank_sum_differs_from_raw_sum():
    # raw sum favours the huge value on one reward; rank-sum favours the candidate good on both
    rows = rows_for("a", [100.0, 3.0, 2.0, 1.0], cap=[0.0, 0.9, 0.8, 1.0])
    assert rank_sum(rows, ["mi", "cap"], raw=True)[0].id == "a-0"
    assert rank_sum(rows, ["mi", "cap"])[0].id == "a-1"  # ranks 2 + 2 beat 3 + 0 and 0 + 3


def test_preference_pairs_take_the_least_preferred_candidate_by_the_selectors_own_order():
    rows = rows_for("a", [0.95, 0.2, 0.99, 0.2], aes=[0.7, 0.9, 0.1, 0.9]) + rows_for("b", [0.5], aes=[0.9])
    config = SelectorConfig(kind="threshold", scores=["mi"], minimums={"mi": 0.9, "aes": 0.6})
    pairs = preference_pairs(rows, select(rows, config), config)
    assert [(c.id, r.id) for c, r in pairs] == [("a-0", "a-3")]  # lowest mi; the tie goes to the higher seed
    # rank_sum pairs against the lowest rank sum, not the lowest first score
    rows = rows_for("a", [4.0, 3.0, 2.0, 1.0, 0.0], cap=[1.0, 0.0, 0.6, 0.5, 0.9])  # rank sums 8, 3, 4, 2, 3
    config = SelectorConfig(kind="rank_sum", scores=["mi", "cap"])
    assert [(c.id, r.id) for c, r in preference_pairs(rows, select(rows, config), config)] == [("a-0", "a-3")]
    # several pairs per chosen candidate: the least preferred first, never another chosen candidate
    config = SelectorConfig(kind="top_k", scores=["mi"], k=2, pairs=2)
    rows = rows_for("a", [4.0, 3.0, 2.0, 1.0, 0.0])
    assert [(c.id, r.id) for c, r in preference_pairs(rows, select(rows, config), config)] == \
        [("a-0", "a-4"), ("a-0", "a-3"), ("a-1", "a-4"), ("a-1", "a-3")]
    config = SelectorConfig(kind="top_k", scores=["mi"], pairs=9)
    assert len(preference_pairs(rows, select(rows, config), config)) == 4  # as many as the prompt has
    # a prompt with one candidate has nothing to prefer it to
    assert preference_pairs(rows_for("b", [0.5]), rows_for("b", [0.5]), SelectorConfig(scores=["mi"])) == []


def test_selector_needs_its_scores():
    with pytest.raises(UserInputError, match="lack score"):
        select(rows_for("a", [1.0]), SelectorConfig(kind="top_k", scores=["vqa"]))


def test_pool_appends_in_batches_and_a_reopened_pool_continues(tmp_path):
    """(The store itself, a killed batch and old rows.jsonl pools: tests/test_pool.py.)"""
    pool = Pool(tmp_path / "pool")
    image = np.zeros((64, 64, 3), np.uint8)
    batch = [PoolRow(id=f"00000-{s}", prompt="a red circle", category="color", seed=s, round=1,
                     image=f"images/00000-{s}.png", latents="latents/00000-0.safetensors") for s in range(2)]
    pool.append(batch, [image, image], torch.randn(2, 4, 8, 8))
    pool = Pool(tmp_path / "pool")  # the rerun opens the pool again
    assert [r.id for r in pool.rows()] == ["00000-0", "00000-1"]
    nxt = [PoolRow(id="00000-2", prompt="a red circle", category="color", seed=2, round=1,
                   image="images/00000-2.png", latents="latents/00000-2.safetensors")]
    pool.append(nxt, [image], torch.randn(1, 4, 8, 8))
    assert [r.id for r in pool.rows()] == ["00000-0", "00000-1", "00000-2"]
    assert pool.latents(pool.rows()).shape == (3, 4, 8, 8)
    pool.set_scores({"00000-1": {"mi": 2.5}})
    assert pool.rows()[1].scores == {"mi": 2.5}


def test_threshold_falls_back_to_top_k_only_when_asked():
    rows = rows_for("a", [0.5, 0.7])
    assert select(rows, SelectorConfig(kind="threshold", scores=["mi"], minimums={"mi": 0.9})) == []
    chosen = select(rows, SelectorConfig(kind="threshold", scores=["mi"], minimums={"mi": 0.9}, fallback_top_k=True))
    assert [r.id for r in chosen] == ["a-1"]


@dataclass(frozen=True)
class BrightnessOptions:
    scale: float = 1.0


class MeanBrightness(BaseScorer):
    """A test scorer that counts the images it has seen."""

    name, Options = "brightness", BrightnessOptions
    seen = 0

    def __init__(self, options=BrightnessOptions(), pipe=None, cache_dir=None):
        self.scale = options.scale

    def score(self, images, prompts):
        MeanBrightness.seen += len(images)
        return {"brightness": images.reshape(len(images), -1).mean(1) * self.scale}


def test_score_pool_fills_missing_columns_once_with_recipe_options(tmp_path, monkeypatch):
    from diffalign.methods.loop import score_pool
    from diffalign.methods.recipe import Recipe
    from diffalign.scorers.base import REGISTRY

    monkeypatch.setitem(REGISTRY, "brightness", MeanBrightness)
    pool = Pool(tmp_path / "pool")
    images = [np.full((8, 8, 3), v, np.uint8) for v in (10, 200, 30)]
    rows = [PoolRow(id=f"00000-{s}", prompt="a red circle", category="color", seed=s, round=1,
                    image=f"images/00000-{s}.png", latents="latents/00000-0.safetensors", scores={"mi": 1.0})
            for s in range(3)]
    pool.append(rows, images, torch.randn(3, 4, 8, 8))
    recipe = Recipe(name="t", scorers=["mi", "brightness"], scorer_options={"brightness": {"scale": 0.5}})
    MeanBrightness.seen = 0
    scored = score_pool(None, recipe, pool, tmp_path)
    assert [r.scores["brightness"] for r in scored] == [5.0, 100.0, 15.0]
    assert all(r.scores["mi"] == 1.0 for r in scored)  # hook columns are kept, not recomputed
    score_pool(None, recipe, Pool(tmp_path / "pool"), tmp_path)  # a rerun scores nothing again
    assert MeanBrightness.seen == 3


def test_an_unknown_scorer_option_is_a_one_line_error():
    from diffalign.scorers import make_scorer

    with pytest.raises(UserInputError, match="vqa scorer: unknown option.*colour"):
        make_scorer("vqa", colour="red")
