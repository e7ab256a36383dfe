import numpy as np
import pytest

from diffalign.evaluation.stats import gain_interval, prompt_differences
from diffalign.evaluation.table import before_after_table


def bench(scores: dict[tuple[str, str], list[float]]) -> dict:
    """A benchmark dict as results.json holds it: rows, category means and their mean."""
    rows = [{"category": c, "prompt": p, "seed": s, "score": v} for (c, p), vs in scores.items()
            for s, v in enumerate(vs)]
    categories = {c: float(np.mean([r["score"] for r in rows if r["category"] == c])) for c, _ in scores}
    return {"rows": rows, "categories": categories, "mean": float(np.mean(list(categories.values()))),
            "well_formed": {c: 1.0 for c in categories}}


def test_a_paired_shift_is_certain_however_much_the_prompts_differ():
    rng = np.random.default_rng(0)
    base = {(c, f"p{i}"): list(rng.random(2)) for c in ("color", "shape") for i in range(30)}
    before, after = bench(base), bench({k: [v + 0.1 for v in vs] for k, vs in base.items()})
    lo, hi = gain_interval(before, after)
    assert lo == pytest.approx(0.1) and hi == pytest.approx(0.1)  # unpaired, the prompt spread would widen it


def test_noise_gives_an_interval_around_the_gain_seen():
    rng = np.random.default_rng(1)
    keys = [(c, f"p{i}") for c in ("color", "spatial", "numeracy") for i in range(60)]
    before = bench({k: list(rng.random(2)) for k in keys})
    after = bench({k: list(rng.random(2)) for k in keys})
    lo, hi = gain_interval(before, after)
    gain = after["mean"] - before["mean"]
    assert lo < gain < hi and 0.02 < hi - lo < 0.2
    assert (lo, hi) == gain_interval(before, after)  # deterministic
    wider = gain_interval(before, after, level=0.99)
    assert wider[0] < lo and wider[1] > hi


def test_differences_are_per_prompt_and_need_the_same_seeds():
    before = bench({("color", "a"): [0.0, 1.0], ("color", "b"): [1.0, 1.0]})
    after = bench({("color", "a"): [1.0, 1.0], ("color", "b"): [0.0, 1.0]})
    assert sorted(prompt_differences(before, after)["color"]) == [-0.5, 0.5]
    with pytest.raises(ValueError, match="same prompts and seeds"):
        prompt_differences(before, bench({("color", "a"): [1.0], ("color", "b"): [0.0, 1.0]}))


def test_the_before_after_table_gives_each_round_its_interval():
    before = bench({("color", f"p{i}"): [0.5, 0.5] for i in range(10)})
    after = bench({("color", f"p{i}"): [0.6, 0.6] for i in range(10)})
    lines = before_after_table([before, after]).splitlines()
    assert lines[-1].startswith("R=1 mean gain +10.0 points, 95 % interval [+10.0, +10.0]")
    assert lines[1].split() == ["color", "50.0", "60.0", "+10.0", "[+10.0,", "+10.0]"]


def test_a_category_interval_reads_that_category_alone():
    rng = np.random.default_rng(2)
    keys = [(c, f"p{i}") for c in ("color", "shape") for i in range(40)]
    scores = {k: list(rng.random(2)) for k in keys}
    before = bench(scores)
    after = bench({k: [v + (0.3 if k[0] == "shape" else 0.0) for v in vs] for k, vs in scores.items()})
    assert gain_interval(before, after, "shape") == pytest.approx((0.3, 0.3))
    assert gain_interval(before, after, "color") == pytest.approx((0.0, 0.0))
    assert gain_interval(before, after) == pytest.approx((0.15, 0.15))
