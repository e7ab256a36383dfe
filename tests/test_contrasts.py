"""Contrast prompts: what the contrastive MI estimator weighs an image against."""

import json
from pathlib import Path

import pytest

from diffalign.scorers.contrasts import contrast_prompts
from diffalign.world.grammar import parse
from diffalign.world.perturb import contrast_specs, meaning

COMPBENCH = Path(__file__).resolve().parents[2] / "shared" / "compbench"
SAMPLE = Path(__file__).parent / "data" / "compbench_sample.jsonl"


def test_builtin_contrasts_are_the_binding_errors_and_never_the_prompt_reworded():
    prompt = "a red square and a blue circle"
    contrasts = contrast_prompts(prompt)
    assert contrasts[:3] == ["a blue square and a red circle",  # colours swapped
                             "a blue square and a blue circle", "a red square and a red circle"]  # leaked
    assert {"two red squares and a blue circle", "a red square and two blue circles"} <= set(contrasts)
    # the shape swap is the colour swap said the other way round, and "a blue circle and a red square" is the prompt
    assert "a red circle and a blue square" not in contrasts and "a blue circle and a red square" not in contrasts
    assert len({meaning(parse(c)) for c in contrasts} | {meaning(parse(prompt))}) == len(contrasts) + 1


def test_builtin_relation_contrasts_are_the_three_other_relations_once_each():
    spec = parse("a yellow triangle below a purple circle")
    relations = [s for s in contrast_specs(spec) if s.objects == spec.objects and s.relation != spec.relation]
    assert sorted(s.relation for s in relations) == ["above", "left", "right"]
    # the objects exchanged under the opposite relation mean the prompt itself: never a contrast
    assert "a purple circle above a yellow triangle" not in contrast_prompts(spec.text())


def test_counts_stay_inside_the_world():
    assert contrast_prompts("four red circles") == ["three red circles"]
    assert contrast_prompts("one blue square") == ["two blue squares"]


def test_free_english_edits_words_in_place():
    assert contrast_prompts("The red hat was on top of the brown coat rack.") == [
        "The brown hat was on top of the red coat rack.", "The red hat was on top of the red coat rack.",
        "The brown hat was on top of the brown coat rack.", "The red hat was under the brown coat rack."]
    assert contrast_prompts("an oblong cucumber and a teardrop plum")[0] == "a teardrop cucumber and an oblong plum"
    assert contrast_prompts("a dog in front of a desk") == ["a dog behind a desk"]
    assert contrast_prompts("six airplanes") == ["five airplanes", "seven airplanes"]
    assert contrast_prompts("a giraffe next to a lamp") == []  # symmetric: nothing to flip
    # the coloured objects need not be the first two the sentence names
    assert contrast_prompts("A bathroom with white tile and a beige toilet.")[0] == (
        "A bathroom with beige tile and a white toilet.")


def test_the_shipped_compbench_sample_gets_contrasts_where_it_binds_attributes():
    for line in SAMPLE.read_text().splitlines():
        row = json.loads(line)
        contrasts = contrast_prompts(row["prompt"])
        assert row["prompt"] not in contrasts and len(set(contrasts)) == len(contrasts)
        if row["category"] in ("color", "shape", "texture", "numeracy"):
            assert contrasts, row


@pytest.mark.skipif(not COMPBENCH.exists(), reason="needs ../shared/compbench beside the checkout")
def test_compbench_prompts_get_distinct_contrasts_and_attribute_prompts_nearly_always_some():
    for path in sorted(COMPBENCH.glob("*_val.txt")):
        prompts = path.read_text().splitlines()
        for prompt in prompts:
            contrasts = contrast_prompts(prompt)
            assert prompt not in contrasts and len(set(contrasts)) == len(contrasts), prompt
        share = sum(bool(contrast_prompts(p)) for p in prompts) / len(prompts)
        if path.stem in ("color_val", "texture_val", "shape_val"):
            assert share > 0.9, (path.stem, share)
