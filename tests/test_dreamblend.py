"""DreamBlend: personalization checkpoints, attention capture, cross-attention guidance, CLI errors, metrics."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from PIL import Image
from safetensors.torch import load_file

from diffalign.cli.main import main
from diffalign.errors import UserInputError
from diffalign.models import family_of, load_adapter, load_pipeline
from diffalign.sampling import SamplerConfig, sample
from diffalign.sampling.attention import capture_text_attention
from diffalign.sampling.guidance import CrossAttentionGuidance, GuidanceConfig, subject_map, subject_positions
from diffalign.training import AdapterConfig, TrainConfig
from diffalign.training.personalize import PersonalizeConfig, check_token, personalize

SAMPLER = SamplerConfig(steps=4, guidance=3.0)


def subject_images(n: int = 3) -> np.ndarray:
    """Two-tone squares (left red, right blue) at a few positions."""
    images = np.full((n, 64, 64, 3), 245, np.uint8)
    for i in range(n):
        x = 8 + 10 * i
        images[i, 20:44, x:x + 12] = (220, 40, 40)
        images[i, 20:44, x + 12:x + 24] = (40, 80, 220)
    return images


def small_config(**changes) -> PersonalizeConfig:
    base = dict(token="sks", class_prompt="a square", class_images=2, save_every=2,
                adapter=AdapterConfig(kind="lora", rank=4, alpha=4),
                train=TrainConfig(steps=5, batch_size=4, lr=1e-2), sampler=SAMPLER)
    return PersonalizeConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def checkpoints(tiny_model, tmp_path_factory) -> list[Path]:
    pipe = load_pipeline(str(tiny_model), device="cpu")
    torch.manual_seed(0)  # peft draws the LoRA init from the global RNG: keep the subject from depending on test order
    return personalize(pipe, subject_images(), small_config(), tmp_path_factory.mktemp("subject"), progress=False)


def test_checkpoints_at_the_right_steps_load_in_vanilla_diffusers(tiny_model, checkpoints):
    assert [c.name for c in checkpoints] == ["checkpoint-2", "checkpoint-4", "checkpoint-5"]
    vanilla = DiffusionPipeline.from_pretrained(str(tiny_model))
    images = {}
    for folder in checkpoints:
        assert json.loads((folder / "subject.json").read_text())["step"] == int(folder.name.split("-")[1])
        vanilla.load_lora_weights(str(folder), adapter_name=folder.name)
        vanilla.set_adapters(folder.name)
        images[folder.name] = vanilla("a sks square", num_inference_steps=3, output_type="np",
                                      generator=torch.Generator().manual_seed(0)).images[0]
    assert not np.allclose(images["checkpoint-2"], images["checkpoint-5"])  # training moved on between saves


def test_prior_preservation_images_come_from_the_base_model_and_change_training(tiny_model, tiny_pipe, checkpoints,
                                                                               tmp_path):
    out = checkpoints[0].parent
    pngs = sorted((out / "class_images").glob("*.png"))
    assert len(pngs) == 2
    base = sample(tiny_pipe, ["a square"] * 2, [0, 1], SAMPLER, progress=False)  # the batch personalize drew
    for png, s in zip(pngs, base):  # float summation order may move a pixel by one level, never more
        assert np.abs(np.asarray(Image.open(png)).astype(int) - s.image).max() <= 1
    # the same run without the prior loss ends somewhere else
    pipe = load_pipeline(str(tiny_model), device="cpu")
    alone = personalize(pipe, subject_images(), small_config(prior_weight=0.0), tmp_path, progress=False)
    assert not (tmp_path / "class_images").exists()
    a = (checkpoints[-1] / "pytorch_lora_weights.safetensors").read_bytes()
    assert a != (alone[-1] / "pytorch_lora_weights.safetensors").read_bytes()


def test_rerun_resumes_without_retraining(tiny_model, checkpoints):
    before = (checkpoints[-1] / "pytorch_lora_weights.safetensors").read_bytes()
    pipe = load_pipeline(str(tiny_model), device="cpu")
    again = personalize(pipe, subject_images(), small_config(), checkpoints[0].parent, progress=False)
    assert again == checkpoints
    assert (checkpoints[-1] / "pytorch_lora_weights.safetensors").read_bytes() == before


def test_token_must_tokenize_to_known_pieces(tiny_pipe):
    check_token(tiny_pipe.tokenizer, "sks", "a square")
    with pytest.raises(UserInputError, match="does not know"):
        check_token(tiny_pipe.tokenizer, "zxj", "a square")  # no z, x or j in the built-in vocabulary
    with pytest.raises(UserInputError, match="class prompt"):
        check_token(tiny_pipe.tokenizer, "square", "a square")


def test_capture_processor_reproduces_the_default_attention_output(tiny_pipe):
    unet = tiny_pipe.unet
    z, t = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0)), torch.tensor(500)
    context = torch.randn(2, tiny_pipe.tokenizer.model_max_length, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        plain = unet(z, t, encoder_hidden_states=context).sample
        with capture_text_attention(family_of(tiny_pipe)) as store, store.record() as maps:
            captured = unet(z, t, encoder_hidden_states=context).sample
        after = unet(z, t, encoder_hidden_states=context).sample
    assert torch.equal(plain, captured) and torch.equal(plain, after)
    assert maps and all(m.shape[0] == 2 and m.shape[-1] == context.shape[1] for m in maps)
    assert all(torch.allclose(m.sum(-1), torch.ones(())) for m in maps)  # each pixel's token distribution


@pytest.fixture(scope="module")
def blend_pipe(tiny_model, checkpoints):
    pipe = load_pipeline(str(tiny_model), device="cpu")
    load_adapter(pipe, checkpoints[0], name="guide")
    load_adapter(pipe, checkpoints[-1], name="edit")
    return pipe


def guided(pipe, alpha: float):
    hook = CrossAttentionGuidance(pipe, GuidanceConfig(alpha=alpha, steps=3), SAMPLER.guidance)
    return sample(pipe, ["a sks square and a red circle"] * 2, [3, 4], SAMPLER, (hook,), progress=False)


def test_alpha_zero_is_plain_sampling_of_the_edit_model(tiny_model, checkpoints, blend_pipe):
    edit_only = load_pipeline(str(tiny_model), adapter=checkpoints[-1], device="cpu")
    plain = sample(edit_only, ["a sks square and a red circle"] * 2, [3, 4], SAMPLER, progress=False)
    for a, b in zip(guided(blend_pipe, 0.0), plain):
        assert np.array_equal(a.image, b.image)


def test_guidance_pulls_edit_attention_toward_the_guide(blend_pipe):
    free, pulled = guided(blend_pipe, 0.0), guided(blend_pipe, 30.0)
    assert any(not np.array_equal(a.image, b.image) for a, b in zip(free, pulled))
    before = np.mean([s.scores["attention_distance"] for s in free])
    after = np.mean([s.scores["attention_distance"] for s in pulled])
    assert before > 0 and after < before


def test_subject_positions_are_the_token_and_its_class_word(tiny_pipe):
    tokenizer = tiny_pipe.tokenizer
    prompt = "a sks square and a red circle"
    positions = subject_positions(tokenizer, prompt, "sks")
    pieces = tokenizer.convert_ids_to_tokens(tokenizer(prompt).input_ids)
    assert "".join(pieces[i] for i in positions) == "square</w>"
    with pytest.raises(UserInputError, match="subject token 'sks' followed by its class word"):
        subject_positions(tokenizer, "a red square", "sks")
    with pytest.raises(UserInputError, match="subject token 'sks'"):
        subject_positions(tokenizer, "a square sks", "sks")
    with pytest.raises(UserInputError, match=r"threshold must be in \(0, 1\)"):
        GuidanceConfig(local_blend=1.5)


def test_local_blend_keeps_the_guide_outside_the_subject_mask(tiny_model, checkpoints, blend_pipe):
    """Outside the guide's subject mask the final latent is exactly the guide checkpoint's own sample; inside it is
    the edit's."""
    prompts, seeds, sampler = ["a sks square and a red circle"] * 2, [3, 4], replace(SAMPLER, keep_latents=True)
    guide_only = load_pipeline(str(tiny_model), adapter=checkpoints[0], device="cpu")
    guide = torch.stack([s.latent for s in sample(guide_only, prompts, seeds, sampler, progress=False)])

    def blended(threshold: float | None):
        hook = CrossAttentionGuidance(blend_pipe, GuidanceConfig(alpha=1.0, steps=2, local_blend=threshold),
                                      sampler.guidance)
        latents = torch.stack([s.latent for s in sample(blend_pipe, prompts, seeds, sampler, (hook,),
                                                        progress=False)])
        return latents, hook

    latents, hook = blended(0.5)
    outside = (subject_map(hook.subject_attention) <= 0.5).expand_as(latents)
    assert 0 < outside.float().mean() < 1
    assert torch.equal(latents[outside], guide[outside]) and not torch.equal(latents[~outside], guide[~outside])
    assert not torch.equal(latents, blended(None)[0])


def test_cli_personalize_input_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for folder, message in ((tmp_path / "missing", "not found"), (tmp_path / "empty", "no images")):
        code = main(["personalize", "--images", str(folder), "--class-prompt", "a square", "--out", str(tmp_path)])
        assert code == 2 and message in capsys.readouterr().err
    code = main(["personalize", "--images", str(tmp_path), "--class-prompt", "a square", "--out", str(tmp_path),
                 "--targets", "to_v,to_kk"])
    assert code == 2 and "unknown projection(s) to_kk" in capsys.readouterr().err
    code = main(["personalize", "--images", str(tmp_path), "--class-prompt", "a square", "--token", "Red",
                 "--out", str(tmp_path)])
    assert code == 2 and "'Red' is a word of the built-in vocabulary" in capsys.readouterr().err


def test_cli_generate_blend_needs_both_checkpoints(checkpoints, capsys):
    code = main(["generate", "--prompt", "a sks square", "--edit", str(checkpoints[-1])])
    assert code == 2 and "both --guide" in capsys.readouterr().err


def test_pattern_check_tells_the_subject_from_one_colour_objects():
    from diffalign.world.render import render_prompt
    from diffalign.world.grammar import parse
    from diffalign.world.subjects import SUBJECTS, pattern_match, render_subject

    rng = np.random.default_rng(0)
    for subject in SUBJECTS:
        image = render_subject(subject, rng)
        assert pattern_match(image, subject).score > 0.95
        assert pattern_match(np.flip(image, (0, 1)), subject).score < 0.2  # halves swapped
        plain, _ = render_prompt(parse(f"a large {subject.colors[0]} {subject.shape}"), 1)
        assert pattern_match(plain, subject).score == 0


def test_context_score_reads_the_rest_of_the_prompt():
    from diffalign.evaluation.personalization import context_score
    from diffalign.world.subjects import Subject

    subject = Subject("t", "square", ("red", "blue"))
    image = np.full((64, 64, 3), 245, np.uint8)
    image[20:44, 4:16], image[20:44, 16:28] = (220, 40, 40), (40, 80, 220)  # the subject on the left
    yy, xx = np.mgrid[:64, :64]
    image[(yy - 32) ** 2 + (xx - 48) ** 2 <= 100] = (40, 170, 60)  # a green circle on the right
    assert context_score(image, "a sks square to the left of a green circle", "sks", subject) == 1
    assert context_score(image, "a sks square to the right of a green circle", "sks", subject) == 0.5
    assert context_score(image, "a sks square and two green circles", "sks", subject) == 0
    assert context_score(image, "a red sks square to the left of a green circle", "sks", subject) == 1


@pytest.fixture(scope="module")
def tiny_feature_models(tmp_path_factory):
    """Random CLIPModel and ViTModel folders (with tokenizer / image processors), as a hub id would give."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, ViTConfig, ViTImageProcessor, ViTModel

    from diffalign.builtin_training.tokenizer import build_tokenizer

    root = tmp_path_factory.mktemp("features")
    torch.manual_seed(0)
    tokenizer = build_tokenizer(root / "clip")
    CLIPModel(CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=tokenizer.model_max_length,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.eos_token_id),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=2), projection_dim=16)).save_pretrained(root / "clip")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(root / "clip")
    ViTModel(ViTConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=2)).save_pretrained(root / "vit")
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(root / "vit")
    return root


def test_real_face_metrics_load_by_path_and_behave(tiny_feature_models):
    from diffalign.evaluation.personalization import (ClipFeatures, DinoFeatures, diversity, mean_similarity,
                                                      paired_similarity)

    clip = ClipFeatures.from_pretrained(str(tiny_feature_models / "clip"))
    dino = DinoFeatures(str(tiny_feature_models / "vit"))
    refs = subject_images(3)
    other = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    for features in (clip, dino):
        f_refs, f_other = features.images(refs), features.images(other)
        assert torch.allclose(f_refs.norm(dim=1), torch.ones(3))
        self_sim = mean_similarity(f_refs[:1], f_refs[:1])
        assert torch.allclose(self_sim, torch.ones(1), atol=1e-5)
        assert mean_similarity(f_other[:1], f_refs[:1]) < self_sim
        assert diversity(torch.cat([f_refs[:1]] * 3), ["p"] * 3) == pytest.approx(0, abs=1e-6)
        assert diversity(torch.cat([f_refs[:1], f_other]), ["p"] * 3) > 0
    texts = clip.texts(["a red square", "two blue circles"])
    images = clip.images(refs[:2])
    assert texts.shape == images.shape and torch.allclose(texts.norm(dim=1), torch.ones(2))
    assert paired_similarity(images, texts).shape == (2,)


@pytest.mark.parametrize("family", ["tiny_model", "tiny_model_v", "tiny_model_xl"])  # SD 1.x (epsilon), 2.x (v), XL
def test_cli_personalize_then_blend(family, request, tmp_path):
    tiny_model = request.getfixturevalue(family)
    images = tmp_path / "subject"
    images.mkdir()
    for i, im in enumerate(subject_images(2)):
        Image.fromarray(im).save(images / f"{i}.png")
    out = tmp_path / "run"
    assert main(["personalize", "--images", str(images), "--class-prompt", "a circle", "--out", str(out),
                 "--model", str(tiny_model), "--train-steps", "2", "--save-every", "1", "--class-images", "1",
                 "--rank", "2", "--steps", "2", "--device", "cpu", "--targets", "to_v,to_out.0"]) == 0
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1", "checkpoint-2"]
    keys = load_file(out / "checkpoint-2" / "pytorch_lora_weights.safetensors").keys()
    assert any("attn2.to_v" in k for k in keys) and not any("to_k" in k or "to_q" in k for k in keys)
    assert main(["generate", "--prompt", "a sks circle", "--n", "1", "--steps", "2", "--model", str(tiny_model),
                 "--guide", str(out / "checkpoint-1"), "--edit", str(out / "checkpoint-2"), "--device", "cpu",
                 "--out", str(tmp_path / "gen")]) == 0
    row = json.loads((tmp_path / "gen" / "index.jsonl").read_text())
    assert row["attention_distance"] > 0 and (tmp_path / "gen" / row["image"]).exists()
    blend = ["generate", "--n", "1", "--steps", "2", "--model", str(tiny_model), "--device", "cpu",
             "--guide", str(out / "checkpoint-1"), "--edit", str(out / "checkpoint-2"), "--local-blend", "0.3"]
    assert main([*blend, "--prompt", "a sks circle", "--out", str(tmp_path / "local")]) == 0
    assert (tmp_path / "local" / "grid.png").exists()
    assert main([*blend, "--prompt", "a red circle", "--out", str(tmp_path / "nothing")]) == 2
    assert not (tmp_path / "nothing").exists()
