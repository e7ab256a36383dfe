"""The CLI parses and prints: shared model and sampler flags, align's flags reaching its recipe, no dead flags;
align's prompt choice (methods.prompts) and generate's re-weighting reward (methods.realign) live below it."""

import argparse
import logging
from dataclasses import replace

import pytest

from diffalign.cli.align import align_recipe
from diffalign.cli.common import sampler_config
from diffalign.cli.main import build_parser, main
from diffalign.errors import UserInputError
from diffalign.methods.prompts import align_prompts
from diffalign.methods.realign import reweight_options
from diffalign.methods.recipe import load_recipe
from diffalign.prompt_sets import COMPBENCH_CATEGORIES
from diffalign.sampling import SamplerConfig
from diffalign.world.grammar import in_shapes_world
from diffalign.world.prompts import first_per_category, shipped_prompts

MODEL_FLAGS = {"--model", "--device"}
SAMPLER_FLAGS = {"--steps", "--guidance", "--scheduler", "--batch-size"}


def subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: a for a in parser._actions for flag in a.option_strings}


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def test_commands_that_sample_share_the_model_and_sampler_flags():
    commands = subparsers()
    sampling = {name: options(commands[name]) for name in ("generate", "align", "personalize", "bench")}
    for name, flags in sampling.items():
        assert MODEL_FLAGS | SAMPLER_FLAGS <= flags.keys(), name
        assert flags["--scheduler"].choices == sampling["generate"]["--scheduler"].choices, name
        assert all(flags[f].default is None for f in SAMPLER_FLAGS), name  # SamplerConfig or the recipe decide
    for name in ("generate", "align", "bench", "score"):  # they load a trained adapter; personalize trains one
        assert "--adapter" in options(commands[name]), name
    assert "--adapter" not in sampling["personalize"]
    assert MODEL_FLAGS <= options(commands["score"]).keys()


def test_unset_sampler_flags_take_sampler_config_defaults(tiny_model):
    config = sampler_config(parse("generate", "--prompt", "a red circle"))
    d = SamplerConfig()
    assert (config.steps, config.batch_size, config.scheduler) == (d.steps, d.batch_size, None)
    assert config.guidance == 3.0  # the built-in model's own
    given = sampler_config(parse("bench", "--model", str(tiny_model), "--steps", "7", "--scheduler", "ddim",
                                 "--batch-size", "3", "--guidance", "1.5"))
    assert (given.steps, given.scheduler, given.batch_size, given.guidance) == (7, "ddim", 3, 1.5)
    assert sampler_config(parse("bench", "--model", str(tiny_model))).guidance == 7.5  # Stable Diffusion's
    with pytest.raises(UserInputError, match="--steps must be at least 1"):
        sampler_config(parse("personalize", "--images", "x", "--class-prompt", "a square", "--out", "o",
                             "--steps", "0"))


def test_align_sampler_flags_reach_the_recipe_and_default_to_its_values(tiny_model):
    shipped = load_recipe("mitune", builtin_model=True).sampler
    assert align_recipe(parse("align")).sampler == shipped  # nothing given: the recipe's own
    recipe = align_recipe(parse("align", "--scheduler", "ddim"))
    assert shipped.scheduler != "ddim" and recipe.sampler == SamplerConfig(
        steps=shipped.steps, guidance=shipped.guidance, scheduler="ddim", batch_size=shipped.batch_size)
    recipe = align_recipe(parse("align", "--steps", "9", "--guidance", "2", "--batch-size", "5",
                                "--model", str(tiny_model)))  # the paper's sizes: 100 ddpm steps at 7.5
    assert recipe.sampler == SamplerConfig(steps=9, guidance=2.0, scheduler="ddpm", batch_size=5)
    with pytest.raises(UserInputError, match=r"sampler.steps \(--steps\) must be at least 1"):
        align_recipe(parse("align", "--steps", "0"))
    with pytest.raises(SystemExit) as exit_info:
        parse("align", "--scheduler", "nope")
    assert exit_info.value.code == 2


def test_align_options_map_to_the_recipe_fields():
    args = parse("align", "--rounds", "2", "--candidates", "5", "--top-k", "2", "--rank", "4", "--lora",
                 "--train-steps", "3", "--lr", "0.01", "--train-seed", "7", "--eval-per-category", "3",
                 "--prompts-per-category", "2", "--objective", "sft", "--text-encoder")
    r = align_recipe(args)
    assert (r.rounds, r.candidates, r.selector.k, r.prompts_per_category) == (2, 5, 2, 2)
    assert (r.adapter.rank, r.adapter.alpha, r.adapter.kind, r.adapter.text_encoder) == (4, 4, "lora", True)
    assert (r.train.steps, r.train.lr, r.train.seed, r.train.objective) == (3, 0.01, 7, "sft")
    assert r.eval.per_category == 3


def test_align_train_batch_size_sets_the_step_and_must_hold_whole_micro_batches():
    r = align_recipe(parse("align", "--recipe", "dreamsync", "--train-batch-size", "16", "--micro-batch", "16"))
    assert (r.train.batch_size, r.train.micro_batch) == (16, 16)
    with pytest.raises(UserInputError, match="--micro-batch.*--train-batch-size"):
        align_recipe(parse("align", "--recipe", "dreamsync", "--train-batch-size", "48"))  # [builtin] micro 64


def test_align_lr_schedule_and_dpo_beta_flags_reach_the_recipe_and_are_checked():
    r = align_recipe(parse("align", "--recipe", "dreamsync", "--lr-scheduler", "cosine", "--lr-warmup-steps", "30"))
    assert (r.train.lr_scheduler, r.train.lr_warmup_steps) == ("cosine", 30)
    assert load_recipe("dreamsync", True).train.lr_scheduler == "constant"  # the shipped recipes: unchanged
    assert align_recipe(parse("align", "--recipe", "dreamsync", "--dpo-beta", "2500")).train.dpo_beta == 2500
    with pytest.raises(UserInputError, match=r"train\.dpo_beta \(--dpo-beta\) must be positive"):
        align_recipe(parse("align", "--dpo-beta", "0"))
    with pytest.raises(UserInputError, match="--lr-warmup-steps.*needs a schedule"):
        align_recipe(parse("align", "--lr-warmup-steps", "30"))


def test_personalize_refuses_a_micro_batch_that_does_not_divide_its_step_before_reading_images(tmp_path, capsys):
    argv = ["personalize", "--images", str(tmp_path / "missing"), "--class-prompt", "a square", "--out",
            str(tmp_path / "out"), "--train-batch-size", "6", "--micro-batch", "4"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--micro-batch) 4 must divide" in err and "--train-batch-size) 6" in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_score_has_no_seed_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["score", "--scorer", "mi", "--images", "x", "--seed", "1"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --seed" in capsys.readouterr().err


def test_in_shapes_world():
    assert in_shapes_world("a red circle and a blue square")
    assert not in_shapes_world("a red dog")
    assert not in_shapes_world("a circle red")  # known words, no grammar
    assert not in_shapes_world("")


def test_align_prompts_defaults_and_first_per_category():
    recipe = load_recipe("mitune", builtin_model=True)
    assert recipe.eval.split == "test"  # the built-in model reports the split nobody tunes on
    recipe = replace(recipe, eval=replace(recipe.eval, split="val", per_category=40))
    train, val = align_prompts(replace(recipe, prompts_per_category=None), shapes_world_model=True)
    assert train == shipped_prompts("train")
    shipped_val, per = shipped_prompts("val"), recipe.eval.per_category
    categories = list(dict.fromkeys(p.category for p in shipped_val))
    assert len(categories) == 6 and len(val) == 6 * per < len(shipped_val)
    for c in categories:  # the first eval.per_category of each, in file order
        assert [p for p in val if p.category == c] == [p for p in shipped_val if p.category == c][:per]
    train, _ = align_prompts(recipe, shapes_world_model=True)  # the recipe's prompts_per_category = 16
    categories = list(dict.fromkeys(p.category for p in train))
    assert len(categories) == 6 and all(sum(p.category == c for p in train) == 16 for c in categories)
    first = {c: next(p for p in shipped_prompts("train") if p.category == c) for c in categories}
    assert all(next(p for p in train if p.category == c) == first[c] for c in categories)
    _, test = align_prompts(replace(recipe, eval=replace(recipe.eval, split="test")), shapes_world_model=True)
    assert test == first_per_category(shipped_prompts("test"), 40) and not {p.text for p in test} & {p.text for p in val}
    with pytest.raises(UserInputError, match="T2I-CompBench ships train and val splits only"):
        align_prompts(replace(recipe, eval=replace(recipe.eval, split="test")), shapes_world_model=False)


def test_align_prompts_shapes_world_checks(tmp_path, caplog):
    recipe = load_recipe("mitune", builtin_model=False)
    free = tmp_path / "free.jsonl"
    free.write_text('{"prompt": "a red dog and a blue cat", "category": "color"}\n')
    world = tmp_path / "world.jsonl"
    world.write_text('{"prompt": "a red circle and a blue square", "category": "color"}\n')
    with pytest.raises(UserInputError, match="outside the built-in vocabulary: dog, cat"):
        align_prompts(recipe, free, world, shapes_world_model=True)  # train outside the world
    with pytest.raises(UserInputError, match="dog"):
        align_prompts(recipe, world, free, shapes_world_model=True)  # val outside the world
    train, val = align_prompts(recipe, free, free, shapes_world_model=False)  # free val: kept (scorer-evaluated)
    assert [p.text for p in train] == [p.text for p in val] == ["a red dog and a blue cat"]
    with caplog.at_level(logging.INFO):  # no files on a real model: T2I-CompBench's splits, never the shapes world
        train, val = align_prompts(recipe, shapes_world_model=False)
    assert "T2I-CompBench" in caplog.text
    assert {p.category for p in train} == {p.category for p in val} == set(COMPBENCH_CATEGORIES)
    assert not any(in_shapes_world(p.text) for p in train[:50])
    no_category = tmp_path / "mine.txt"
    no_category.write_text("a red circle\n")
    with pytest.raises(UserInputError, match="val prompts need categories"):
        align_prompts(recipe, world, no_category, shapes_world_model=False)


def test_reweight_options_follow_the_model_and_the_prompts():
    assert reweight_options("builtin", ["a red dog"])["segmenter"] == "builtin"  # a shapes-world model
    assert reweight_options("/some/sd", ["a red circle", "two blue squares"])["segmenter"] == "builtin"
    real = reweight_options("/some/sd", ["a red circle", "a red dog"])
    assert real == load_recipe("realign", builtin_model=False).scorer_options["segments"]
    assert real["segmenter"] == "grounded"
