"""RealignDiff: caption and segmentation rewards, cross-attention re-weighting, the realign recipe."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from diffalign.builtin import CAPTIONER_DIR
from diffalign.cli.main import main
from diffalign.errors import UserInputError
from diffalign.methods.realign import ReweightConfig, regenerate
from diffalign.methods.recipe import load_recipe
from diffalign.models import family_of
from diffalign.pool import Pool
from diffalign.sampling import SamplerConfig, encode_prompts
from diffalign.sampling.reweight import object_positions, reweighting, token_weights
from diffalign.scorers import make_scorer
from diffalign.world.prompts import random_spec
from diffalign.world.render import render_prompt
from diffalign.world.vocab import BACKGROUND, COLORS

FAST = ["--steps", "3", "--guidance", "3"]


@pytest.fixture(scope="module")
def segments():
    return make_scorer("segments")


def fresh_scenes(n: int, seed: int, categories=("color", "spatial", "single")):
    rng = np.random.default_rng(seed)
    specs = [random_spec(str(rng.choice(categories)), rng) for _ in range(n)]
    return [(spec, *render_prompt(spec, 1000 + i)) for i, spec in enumerate(specs)]


def recolored(spec):
    """The prompt with its first object's colour changed (a one-attribute swap)."""
    color = spec.objects[0].color or "red"
    return spec.with_object(0, color=next(c for c in COLORS if c != color))


@pytest.mark.skipif(not (CAPTIONER_DIR / "config.json").is_file(), reason="built-in captioner not trained")
def test_caption_reward_prefers_the_true_prompt_over_a_recoloured_one():
    scorer = make_scorer("caption")
    scenes = fresh_scenes(24, seed=1)
    images = np.stack([image for _, image, _ in scenes])
    true = scorer.score(images, [spec.text() for spec, _, _ in scenes])["caption"]
    swapped = scorer.score(images, [recolored(spec).text() for spec, _, _ in scenes])["caption"]
    assert np.all(np.abs(true) <= 1 + 1e-5)
    assert np.mean(true > swapped) >= 0.75


def test_segmentation_reward_drops_when_an_object_is_erased(segments):
    drops = []
    for spec, image, objects in fresh_scenes(12, seed=2, categories=("color", "spatial")):
        erased = image.copy()
        o = objects[0]
        erased[o.y : o.y + o.side, o.x : o.x + o.side] = BACKGROUND
        full, partial = (segments.read(im, spec.text()) for im in (image, erased))
        assert len(partial.regions) == len(full.regions) - 1
        drops.append(full.reward - partial.reward)
        assert partial.support[0] <= full.support[0]
    assert min(drops) > 0.1


def test_segmentation_reward_of_a_blank_image_is_zero(segments):
    blank = np.full((64, 64, 3), BACKGROUND, np.uint8)
    assert segments.score(blank[None], ["a red circle"])["segments"][0] == 0.0


def test_blip_captioning_path_with_a_tiny_random_model(tiny_blip):
    scorer = make_scorer("caption", captioner=str(tiny_blip), max_new_tokens=6)
    images = np.stack([image for _, image, _ in fresh_scenes(3, seed=3)])
    reward, captions = scorer.score_with_captions(images, ["a red circle"] * 3)
    assert reward.shape == (3,) and np.all((-1 - 1e-5 <= reward) & (reward <= 1 + 1e-5))
    assert len(captions) == 3 and all(isinstance(c, str) for c in captions)


def test_grounded_sam_path_with_tiny_random_detector_and_sam(tiny_grounding):
    # random weights score every box ~0, so keep all boxes: the point is that boxes become masks and labels
    scorer = make_scorer("segments", segmenter="grounded", detector=str(tiny_grounding / "owl"),
                         sam=str(tiny_grounding / "sam"), box_threshold=-1.0)
    spec, image, _ = fresh_scenes(1, seed=5, categories=("color",))[0]
    reading = scorer.read(image, spec.text())
    queries = {o.phrase for o in reading.objects}
    assert reading.regions and all(r.mask.shape == (64, 64) and r.mask.dtype == bool for r in reading.regions)
    assert {r.label for r in reading.regions} <= queries
    assert 0 <= reading.reward <= 1


def test_llm_judge_with_a_tiny_random_causal_lm(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from diffalign.scorers.judges import make_judge

    words = ["<unk>", "yes", "no",
             *"an image was generated for the prompt a region of it shows is that answer or".split(),
             "red", "blue", "circle", "square", ".", "?", ":", '"']
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>").save_pretrained(tmp_path)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(words), n_embd=16, n_layer=1, n_head=2, n_positions=64)
    GPT2LMHeadModel(config).save_pretrained(tmp_path)
    judge = make_judge(f"llm:{tmp_path}")
    plaus = judge(["a red circle", "a blue square"], ["a red circle"], "a red circle")
    assert plaus.shape == (2, 1) and np.all((0 <= plaus) & (plaus <= 1))


def test_unknown_captioner_and_options_are_user_errors(tmp_path):
    with pytest.raises(UserInputError, match="captioner not found"):
        make_scorer("caption", captioner=str(tmp_path / "none"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="could not load captioner"):  # a folder, but no model in it
        make_scorer("caption", captioner=str(tmp_path / "empty"))
    with pytest.raises(UserInputError, match="caption scorer"):
        make_scorer("caption", colour="red")
    with pytest.raises(UserInputError, match="unknown segmenter"):
        make_scorer("segments", segmenter="sam3")


def test_reweighting_touches_only_the_conditional_half_and_restores_the_processors(tiny_pipe):
    unet = tiny_pipe.unet
    before = {k: type(v) for k, v in unet.attn_processors.items()}
    prompt = "a red circle and a blue square"
    context = torch.cat([encode_prompts(tiny_pipe, [p]).prompt_embeds for p in ("", prompt)])
    z = torch.randn(1, 4, 8, 8).repeat(2, 1, 1, 1)
    with torch.no_grad():
        plain = unet(z, 500, encoder_hidden_states=context).sample
        with reweighting(family_of(tiny_pipe)) as state:
            state.weights = token_weights(tiny_pipe.tokenizer, prompt, [1], 4.0)[None]
            weighted = unet(z, 500, encoder_hidden_states=context).sample
    assert torch.allclose(weighted[0], plain[0], atol=1e-5)  # unconditional row unchanged
    assert not torch.allclose(weighted[1], plain[1], atol=1e-4)
    assert {k: type(v) for k, v in unet.attn_processors.items()} == before


def test_token_positions_of_prompt_objects(tiny_pipe):
    tok = tiny_pipe.tokenizer
    prompt = "a large red striped circle to the left of a small red square"
    positions = object_positions(tok, prompt)
    ids = tok(prompt).input_ids
    assert [tok.decode([ids[p]]).strip() for p in positions[0]] == ["large", "red", "striped", "circle"]
    assert [tok.decode([ids[p]]).strip() for p in positions[1]] == ["small", "red", "square"]
    w = token_weights(tok, prompt, [1], 2.5)
    assert len(w) == len(ids) - 1  # up to the last word (BOS .. square), not the end token
    assert set(torch.nonzero(w != 1).flatten().tolist()) == set(positions[1])


def test_regeneration_changes_only_images_with_weak_objects(tiny_pipe, segments):
    config = SamplerConfig(steps=3, guidance=3.0)
    prompts = ["a red circle", "two blue squares"]
    out = regenerate(tiny_pipe, prompts, [0, 1], config, segments, ReweightConfig(weight=3.0, weak_below=2.0),
                     progress=False)
    assert all(b == [0] for b in out.boosted)  # weak_below 2: every object is weak
    assert any(not np.array_equal(a.image, b.image) for a, b in zip(out.first, out.final))
    none = regenerate(tiny_pipe, prompts, [0, 1], config, segments, ReweightConfig(weak_below=-1.0), progress=False)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(none.first, none.final))


def test_realign_recipe_loads_with_rank_sum_and_both_rewards():
    for builtin in (True, False):
        recipe = load_recipe("realign", builtin)
        assert recipe.scorers == ["caption", "segments"] and recipe.rounds == 1
        assert recipe.selector.kind == "rank_sum" and recipe.selector.scores == ["caption", "segments"]
        assert recipe.adapter.kind == "lora" and recipe.candidates == (8 if builtin else 10)
        assert recipe.train.objective == ("dpo" if builtin else "sft")  # the paper fine-tunes on the top-1 (SFT)
    assert load_recipe("realign", True).scorer_options["segments"]["segmenter"] == "builtin"
    assert load_recipe("realign", False).scorer_options["segments"]["segmenter"] == "grounded"


def test_align_with_realign_parts_selects_by_rank_sum(tiny_model, tiny_blip, tmp_path):
    recipe = tmp_path / "realign_tiny.toml"
    recipe.write_text(
        'name = "realign_tiny"\nscorers = ["caption", "segments"]\ncandidates = 3\n'
        '[selector]\nkind = "rank_sum"\nscores = ["caption", "segments"]\n'
        '[adapter]\nkind = "lora"\nrank = 4\nalpha = 4\n'
        f'[scorer_options.caption]\ncaptioner = "{tiny_blip}"\nmax_new_tokens = 4\n'
        '[scorer_options.segments]\nsegmenter = "builtin"\n')
    (tmp_path / "train.jsonl").write_text('{"prompt": "a red circle and a blue square", "category": "color"}\n'
                                          '{"prompt": "two green crosses", "category": "numeracy"}\n')
    run = tmp_path / "run"
    assert main(["align", "--model", str(tiny_model), "--recipe", str(recipe),
                 "--prompts", str(tmp_path / "train.jsonl"), "--val-prompts", str(tmp_path / "train.jsonl"),
                 "--eval-per-category", "1", "--train-steps", "2", "--steps", "3", "--out", str(run)]) == 0
    rows = Pool(run / "round_1" / "pool").rows()
    assert len(rows) == 6 and all({"caption", "segments"} <= set(r.scores) for r in rows)
    assert len((run / "round_1" / "selected.jsonl").read_text().splitlines()) == 2
    assert (run / "round_1" / "adapter" / "pytorch_lora_weights.safetensors").exists()


def test_score_cli_with_the_segments_and_caption_scorers(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rows = []
    for i, (spec, image, _) in enumerate(fresh_scenes(3, seed=4)):
        Image.fromarray(image).save(folder / f"{i}.png")
        rows.append({"image": f"{i}.png", "prompt": spec.text()})
    (folder / "index.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    scorers = ["segments"] + (["caption"] if (CAPTIONER_DIR / "config.json").is_file() else [])
    for name in scorers:
        assert main(["score", "--scorer", name, "--images", str(folder)]) == 0
        table = [json.loads(line) for line in (folder / f"scores_{name}.jsonl").read_text().splitlines()]
        assert len(table) == 3 and all(-1 <= r[name] <= 1 for r in table)


def test_score_cli_passes_scorer_options(tiny_blip, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(fresh_scenes(1, seed=6)[0][1]).save(folder / "0.png")
    assert main(["score", "--scorer", "caption", "--images", str(folder), "--prompt", "a red circle",
                 "--option", f"captioner={tiny_blip}", "--option", "max_new_tokens=3"]) == 0
    assert main(["score", "--scorer", "caption", "--images", str(folder), "--prompt", "a red circle",
                 "--option", "colour"]) == 2


def test_generate_with_reweight_records_the_reweighted_objects(tiny_model, tmp_path):
    assert main(["generate", "--model", str(tiny_model), "--prompt", "a red circle and a blue square", "--n", "2",
                 "--reweight", "3", "--out", str(tmp_path / "g"), *FAST]) == 0
    rows = [json.loads(line) for line in (tmp_path / "g" / "index.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(set(r["reweighted_objects"]) <= {0, 1} for r in rows)


def test_generate_rejects_a_non_positive_reweight(capsys):
    assert main(["generate", "--prompt", "a red circle", "--reweight", "0"]) == 2
    assert "--reweight must be positive" in capsys.readouterr().err


def test_scorers_and_reweighting_never_import_the_reference_evaluator():
    code = ("import sys, diffalign.scorers, diffalign.sampling.reweight, diffalign.methods.realign; "
            "bad = [m for m in sys.modules if m.startswith('diffalign.evaluation')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
