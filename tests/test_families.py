"""Every capability on every supported model family, on tiny random pipelines built from configs: the matrix in
docs/models.md. SD 1.x-style folders predict epsilon, SD 2.x-style ones v (the scheduler config says which); the
SDXL folder predicts epsilon, and a v-prediction SDXL folder runs the cells whose maths depends on the prediction."""

import json

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from PIL import Image

from diffalign.cli.main import main
from diffalign.models import family_of, load_pipeline
from diffalign.sampling import SamplerConfig, sample
from diffalign.sampling.sampler import encode_prompts
from diffalign.scorers.mi import MIConfig, PointwiseMIHook, image_mi

FAMILIES = {"sd1-epsilon": "tiny_model", "sd2-v": "tiny_model_v", "sdxl-epsilon": "tiny_model_xl"}
PREDICTIONS = {**FAMILIES, "sdxl-v": "tiny_model_xl_v"}  # generate, MI hook, image MI: every prediction type
FAST = ["--steps", "3", "--guidance", "3", "--device", "cpu"]
PROMPTS = ('{"prompt": "a red circle and a blue square", "category": "color"}\n'
           '{"prompt": "two green crosses", "category": "numeracy"}\n')
SCORERS = {  # the built-in scorers read the tiny models' 64 x 64 images; each recipe's selector as shipped
    "mitune": "",
    "dreamsync": 'name = "ds"\nscorers = ["vqa", "aesthetics"]\n[selector]\nkind = "threshold"\nscores = ["vqa"]\n'
                 'minimums = { vqa = 0.0 }\n[scorer_options.vqa]\nmodel = "builtin"\nquestions = "grammar"\n'
                 '[scorer_options.aesthetics]\nmodel = "builtin"\n',
    "realign": 'name = "ra"\nscorers = ["caption", "segments"]\n[selector]\nkind = "rank_sum"\n'
               'scores = ["caption", "segments"]\n[scorer_options.caption]\ncaptioner = "builtin"\n'
               'embedder = "builtin"\n[scorer_options.segments]\nsegmenter = "builtin"\nembedder = "builtin"\n',
}


@pytest.fixture(params=list(FAMILIES))
def model(request):
    return request.getfixturevalue(FAMILIES[request.param])


@pytest.fixture(params=list(PREDICTIONS))
def any_model(request):
    return request.getfixturevalue(PREDICTIONS[request.param])


@pytest.mark.parametrize("fixture,family,prediction", [
    ("tiny_model", "StableDiffusion", "epsilon"), ("tiny_model_v", "StableDiffusion", "v_prediction"),
    ("tiny_model_xl", "StableDiffusionXL", "epsilon"), ("tiny_model_xl_v", "StableDiffusionXL", "v_prediction")])
def test_family_is_what_the_folder_says(fixture, family, prediction, request):
    pipe = load_pipeline(str(request.getfixturevalue(fixture)), device="cpu")
    assert type(family_of(pipe)).__name__ == family and pipe.scheduler.config.prediction_type == prediction


def test_sdxl_conditioning_and_its_unconditional_branch(tiny_model_xl):
    """Both encoders' penultimate states side by side, the second's pooled projection, the time ids of the model's
    own size; the empty prompt is zeros under force_zeros_for_empty_prompt (the base model's setting) and the
    encoded empty text otherwise, and either way the images are vanilla diffusers' (its negative branch)."""
    pipe = load_pipeline(str(tiny_model_xl), device="cpu")
    cond = encode_prompts(pipe, ["", "a red circle"])
    assert cond.prompt_embeds.shape == (2, pipe.tokenizer.model_max_length, 64)  # 32 + 32 wide
    assert cond.pooled_embeds.shape == (2, 32)
    assert cond.time_ids.tolist() == [[64, 64, 0, 0, 64, 64]] * 2
    assert not cond.prompt_embeds[0].any() and not cond.pooled_embeds[0].any() and cond.prompt_embeds[1].any()
    pipe.register_to_config(force_zeros_for_empty_prompt=False)
    assert encode_prompts(pipe, [""]).pooled_embeds.any()
    ours = sample(pipe, ["a red circle"], [7], SamplerConfig(steps=2, guidance=3.0))[0].image.astype(int)
    vanilla = DiffusionPipeline.from_pretrained(str(tiny_model_xl), force_zeros_for_empty_prompt=False)
    theirs = vanilla("a red circle", num_inference_steps=2, guidance_scale=3.0, output_type="np",
                     generator=torch.Generator("cpu").manual_seed(7)).images[0]
    assert np.abs(ours - (theirs * 255).round().astype(int)).max() <= 1


# Flow-matching families (SD3 / SD3.5, Flux) on tiny random folders (tests/tiny_models.py), 32 px, FlowMatchEuler.

FLOW = {"sd3": "tiny_sd3", "flux": "tiny_flux"}


@pytest.fixture(params=list(FLOW))
def flow_model(request):
    return request.getfixturevalue(FLOW[request.param])


def _vanilla(folder, prompts, seeds, steps, guidance, adapter=None):
    """What diffusers itself makes: the folder's own pipeline class, at the family's default size."""
    pipe = DiffusionPipeline.from_pretrained(str(folder))
    if adapter is not None:
        pipe.load_lora_weights(str(adapter))
    size = family_of(pipe).image_size
    images = pipe(prompts, num_inference_steps=steps, guidance_scale=guidance, height=size, width=size,
                  output_type="np", generator=[torch.Generator("cpu").manual_seed(s) for s in seeds]).images
    return (images * 255).round().astype(int)


@pytest.mark.parametrize("name", [*PREDICTIONS, *FLOW])
def test_generate_is_deterministic_and_matches_vanilla_diffusers(name, request, tmp_path):
    """Flow families too: --guidance is SD3's CFG scale and Flux's guidance embedding, as guidance_scale is."""
    folder = request.getfixturevalue({**PREDICTIONS, **FLOW}[name])
    args = ["generate", "--model", str(folder), "--prompt", "a red circle", "--n", "2", "--seed", "3", *FAST]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0 and main([*args, "--out", str(tmp_path / "b")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "a" / "index.jsonl").read_text().splitlines()]
    ours = [np.asarray(Image.open(tmp_path / "a" / r["image"])).astype(int) for r in rows]
    for r, image in zip(rows, ours):
        assert np.array_equal(image, np.asarray(Image.open(tmp_path / "b" / r["image"])))
    for mine, ref in zip(ours, _vanilla(folder, ["a red circle"] * 2, [3, 4], 3, 3.0)):
        assert np.abs(mine - ref).max() <= 1


class Trajectory:
    """A hook that records the z_t and t the sampler visits."""

    def begin(self, n):
        self.states = []

    def step(self, state):
        self.states.append((state.latents.clone(), state.timestep))

    def end(self):
        return {}


def test_mi_hook_equals_the_estimate_recomputed_on_its_own_trajectory(any_model):
    """The free hook's kappa_t ||eps(z_t, p) - eps(z_t, '')||^2, averaged over the kept visited steps, is what a
    direct denoiser call on the same z_t gives (in epsilon units whatever the family predicts)."""
    pipe = load_pipeline(str(any_model), device="cpu")
    family = family_of(pipe)
    config = SamplerConfig(steps=4, guidance=4.0, scheduler="ddim")  # DDIM: the denoiser reads z_t unscaled
    mi, path = PointwiseMIHook(pipe, MIConfig(min_timestep=50)), Trajectory()
    hooked = sample(pipe, ["a red circle"], [2], config, hooks=(mi, path))[0].scores["mi"]
    cond, uncond = encode_prompts(pipe, ["a red circle"]), encode_prompts(pipe, [""])
    total, kept = 0.0, 0
    with torch.no_grad():
        for z_t, t in path.states:
            if int(t) <= 50:
                continue
            eps = [family.to_epsilon(family.denoise(z_t, t, c), z_t, t) for c in (cond, uncond)]
            total += float(family.mi_weight(t.reshape(1)) * (eps[0] - eps[1]).pow(2).sum())
            kept += 1
    assert kept > 0 and hooked == pytest.approx(total / kept, rel=1e-4)


def image_mi_zero_without_a_prompt(pipe, steps: int):
    """Two sampled images' standard MI: zero against the empty prompt, finite with theirs. Returns (images, config,
    the scores with their prompt) for further checks."""
    images = np.stack([s.image for s in sample(pipe, ["a red circle"] * 2, [0, 1], SamplerConfig(steps=steps))])
    config = MIConfig(estimator="standard", n_timesteps=4, seed=1)
    assert np.allclose(image_mi(pipe, images, ["", ""], config).mean, 0, atol=1e-6)
    scored = image_mi(pipe, images, ["a red circle"] * 2, config)
    assert np.all(np.isfinite(scored.mean)) and np.all(scored.stderr >= 0)
    return images, config, scored


def test_image_mi_is_zero_without_a_prompt_and_finite_with_one(any_model):
    image_mi_zero_without_a_prompt(load_pipeline(str(any_model), device="cpu"), steps=3)


def one_round(model, recipe: str, tmp_path, *flags: str):
    """One align round of a recipe (its shipped selector, built-in scorers) on PROMPTS; returns the round's adapter."""
    (tmp_path / "train.jsonl").write_text(PROMPTS)
    if SCORERS[recipe]:
        (tmp_path / f"{recipe}.toml").write_text(SCORERS[recipe])
    run = tmp_path / "run"
    assert main(["align", "--model", str(model), "--recipe", str(tmp_path / f"{recipe}.toml") if SCORERS[recipe]
                 else recipe, "--prompts", str(tmp_path / "train.jsonl"), "--val-prompts", str(tmp_path / "train.jsonl"),
                 "--candidates", "2", "--eval-per-category", "1", "--lora", "--rank", "4", "--batch-size", "4",
                 *flags, "--out", str(run), *FAST]) == 0
    return run / "round_1" / "adapter"


@pytest.mark.parametrize("recipe", list(SCORERS))
def test_one_round_of_each_recipe_and_its_adapter_in_vanilla_diffusers(model, recipe, tmp_path):
    adapter = one_round(model, recipe, tmp_path, "--train-steps", "2")
    assert (adapter / "pytorch_lora_weights.safetensors").exists()
    ours = sample(load_pipeline(str(model), adapter, device="cpu"), ["a red circle"], [9],
                  SamplerConfig(steps=3, guidance=3.0))[0].image.astype(int)
    vanilla = DiffusionPipeline.from_pretrained(str(model), safety_checker=None)
    vanilla.load_lora_weights(str(adapter))
    theirs = vanilla("a red circle", num_inference_steps=3, guidance_scale=3.0, output_type="np",
                     generator=torch.Generator("cpu").manual_seed(9)).images[0]
    assert np.abs(ours - (theirs * 255).round().astype(int)).max() <= 1


def test_attention_reweighting(model, tmp_path):
    assert main(["generate", "--model", str(model), "--prompt", "a red circle and a blue square", "--n", "1",
                 "--reweight", "3", "--out", str(tmp_path / "g"), *FAST]) == 0
    row = json.loads((tmp_path / "g" / "index.jsonl").read_text())
    assert set(row["reweighted_objects"]) <= {0, 1}


def test_flow_mi_hook_is_the_riemann_sum_recomputed_on_its_own_trajectory(flow_model):
    """The hook's sum of w(s) ||eps(z_s, p) - eps(z_s, '')||^2 (s_i - s_{i+1}) over the kept visited sigmas, over
    their total span, is what direct transformer calls on the same z_s give (Flux: both at the sampling guidance
    embedding, no CFG mixing)."""
    pipe = load_pipeline(str(flow_model), device="cpu")
    family = family_of(pipe)
    guidance = family.default_guidance if family.guidance_distilled else 4.0
    mi, path = PointwiseMIHook(pipe, MIConfig(min_timestep=50)), Trajectory()
    hooked = sample(pipe, ["a red circle"], [2], SamplerConfig(steps=4, guidance=guidance),
                    hooks=(mi, path))[0].scores["mi"]
    cond, uncond = encode_prompts(pipe, ["a red circle"]), encode_prompts(pipe, [""])
    sigmas = [float(t) / family.num_train_timesteps for _, t in path.states] + [0.0]
    total, span = 0.0, 0.0
    with torch.no_grad():
        for i, (z_t, t) in enumerate(path.states):
            if int(t) <= 50:
                continue
            eps = [family.to_epsilon(family.denoise(z_t, t, c), z_t, t) for c in (cond, uncond)]
            width = sigmas[i] - sigmas[i + 1]
            total += width * float(family.mi_weight(t.reshape(1)) * (eps[0] - eps[1]).pow(2).sum())
            span += width
    assert span > 0 and hooked == pytest.approx(total / span, rel=1e-4)


def test_flow_image_mi_is_zero_without_a_prompt_and_does_not_depend_on_the_shift(flow_model):
    """The forward process is the model's (x_s = (1 - s) x_0 + s eps at uniform s), not the sampler's shifted
    schedule: a folder whose scheduler config says shift 1 scores the same images the same."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    pipe = load_pipeline(str(flow_model), device="cpu")
    images, config, scored = image_mi_zero_without_a_prompt(pipe, steps=2)
    pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config, shift=1.0,
                                                                 use_dynamic_shifting=False)
    assert np.array_equal(image_mi(pipe, images, ["a red circle"] * 2, config).mean, scored.mean)


@pytest.mark.parametrize("recipe,objective", [("mitune", "sft"), ("mitune", "dpo"), ("dreamsync", "sft"),
                                              ("realign", "sft")])
def test_flow_round_of_each_recipe_and_its_adapter_in_vanilla_diffusers(flow_model, recipe, objective, tmp_path):
    """One round (flow-matching velocity loss; Diffusion-DPO on velocity errors), the adapter on the transformer's
    attention (MMDiT's text-stream projections too) in the format the pipeline class's load_lora_weights reads,
    and vanilla diffusers with it makes diffalign's image."""
    from safetensors.torch import load_file

    adapter = one_round(flow_model, recipe, tmp_path, "--train-steps", "1", "--objective", objective)
    keys = load_file(adapter / "pytorch_lora_weights.safetensors").keys()
    assert all(k.startswith("transformer.") and (".lora_A." in k or ".lora_B." in k) for k in keys)  # peft keys
    assert any(".attn.to_q." in k for k in keys) and any(".add_q_proj." in k for k in keys)
    ours = sample(load_pipeline(str(flow_model), adapter, device="cpu"), ["a red circle"], [9],
                  SamplerConfig(steps=3, guidance=3.0))[0].image.astype(int)
    assert np.abs(ours - _vanilla(flow_model, ["a red circle"], [9], 3, 3.0, adapter)[0]).max() <= 1


def test_flow_personalize_blend_reweight_and_vanilla_load(flow_model, tmp_path):
    """DreamBooth-style LoRA with prior preservation on the transformer; its checkpoint loads in vanilla diffusers
    and makes diffalign's image. DreamBlend's guided and locally blended sampling of the late checkpoint under the
    early one, and RealignDiff's re-weighting, on the joint attention."""
    from test_dreamblend import subject_images

    images = tmp_path / "subject"
    images.mkdir()
    for i, im in enumerate(subject_images(2)):
        Image.fromarray(np.asarray(Image.fromarray(im).resize((32, 32)))).save(images / f"{i}.png")
    out = tmp_path / "run"
    assert main(["personalize", "--images", str(images), "--class-prompt", "a circle", "--out", str(out),
                 "--model", str(flow_model), "--train-steps", "2", "--save-every", "1", "--class-images", "1",
                 "--rank", "2", "--steps", "2", "--device", "cpu"]) == 0
    checkpoint = out / "checkpoint-2"
    ours = sample(load_pipeline(str(flow_model), checkpoint, device="cpu"), ["a sks circle"], [5],
                  SamplerConfig(steps=2, guidance=3.0))[0].image.astype(int)
    assert np.abs(ours - _vanilla(flow_model, ["a sks circle"], [5], 2, 3.0, checkpoint)[0]).max() <= 1
    blend = ["generate", "--model", str(flow_model), "--prompt", "a sks circle", "--n", "1",
             "--guide", str(out / "checkpoint-1"), "--edit", str(checkpoint), *FAST]
    assert main([*blend, "--out", str(tmp_path / "guided")]) == 0
    assert json.loads((tmp_path / "guided" / "index.jsonl").read_text())["attention_distance"] > 0
    assert main([*blend, "--local-blend", "0.5", "--out", str(tmp_path / "local")]) == 0
    assert (tmp_path / "local" / "grid.png").exists()
    assert main(["generate", "--model", str(flow_model), "--prompt", "a red circle and a blue square", "--n", "1",
                 "--reweight", "3", "--out", str(tmp_path / "reweighted"), *FAST]) == 0
    row = json.loads((tmp_path / "reweighted" / "index.jsonl").read_text())
    assert set(row["reweighted_objects"]) <= {0, 1}


def test_flow_model_refuses_a_ddpm_scheduler_before_loading(flow_model, tmp_path, monkeypatch, capsys):
    from diffusers import DiffusionPipeline

    def loaded(*args, **kwargs):
        raise AssertionError("weights were loaded before the refusal")

    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", loaded)
    assert main(["generate", "--model", str(flow_model), "--prompt", "a red circle", "--n", "1", "--scheduler", "dpm",
                 "--out", str(tmp_path / "g"), *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "drop --scheduler" in err[0] and not (tmp_path / "g").exists()
