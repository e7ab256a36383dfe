import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from safetensors.torch import load_file

from diffalign.errors import UserInputError
from diffalign.models import family_of, load_pipeline
from diffalign.sampling import SamplerConfig, encode_prompts, sample
from diffalign.training import (AdapterConfig, TrainConfig, attach_adapter, check_train_config, frozen_conditioning,
                                save_adapter, train_adapter)

PROMPTS = ["a red circle", "two blue squares"]


def trained_adapter(tiny_model, tmp_path, kind):
    pipe = load_pipeline(str(tiny_model), device="cpu")
    config = AdapterConfig(kind=kind, rank=4, alpha=8)
    params = attach_adapter(pipe, config)
    latents = torch.randn(4, 4, 8, 8)
    embeds = encode_prompts(pipe, PROMPTS * 2)
    losses = train_adapter(pipe, params, latents, frozen_conditioning(embeds),
                           TrainConfig(steps=6, batch_size=4, lr=1e-2), tmp_path / f"{kind}_state.pt", progress=False)
    assert len(losses) == 6 and all(np.isfinite(losses))
    return pipe, save_adapter(pipe, config, tmp_path / kind)


def vanilla_images(model, adapter, seeds, steps):
    """PROMPTS through a vanilla diffusers pipeline with the adapter loaded by load_lora_weights."""
    vanilla = DiffusionPipeline.from_pretrained(str(model))
    vanilla.set_progress_bar_config(disable=True)
    vanilla.load_lora_weights(str(adapter))
    return vanilla(PROMPTS, num_inference_steps=steps, guidance_scale=4.0, output_type="np",
                   generator=[torch.Generator().manual_seed(s) for s in seeds]).images


def test_adapter_init_comes_from_the_seed_alone(tiny_model):
    """A resumed run re-attaches its adapter after other work has used the global RNG; the init must not move."""
    def lora_a(seed, draws):
        torch.rand(draws)  # whatever the process did before
        pipe = load_pipeline(str(tiny_model), device="cpu")
        attach_adapter(pipe, AdapterConfig(kind="lora", rank=4, alpha=4), seed=seed)
        return torch.cat([p.detach().flatten() for n, p in pipe.unet.named_parameters() if "lora_A" in n])

    assert torch.equal(lora_a(3, 1), lora_a(3, 1000))
    assert not torch.equal(lora_a(3, 1), lora_a(4, 1))
    pipe = load_pipeline(str(tiny_model), device="cpu")
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    attach_adapter(pipe, AdapterConfig(kind="lora", rank=4, alpha=4), seed=5)
    assert torch.equal(torch.rand(3), expected)  # attaching leaves the global RNG where it was


@pytest.mark.parametrize("kind", ["dora", "lora"])
def test_adapter_is_really_what_it_says(tiny_model, tmp_path, kind):
    pipe, folder = trained_adapter(tiny_model, tmp_path, kind)
    state = load_file(folder / "pytorch_lora_weights.safetensors")
    magnitudes = [k for k in state if "lora_magnitude_vector" in k]
    if kind == "lora":
        assert not magnitudes
        return
    assert magnitudes, "DoRA must save its magnitude vectors"
    # the magnitudes were trained: they moved away from the column norms of the base weights they start at
    base = DiffusionPipeline.from_pretrained(str(tiny_model)).unet.state_dict()
    moved = 0
    for key in magnitudes:
        module = key.removeprefix("unet.").rsplit(".lora_magnitude_vector", 1)[0]
        w = base[module + ".weight"]
        moved += not torch.allclose(state[key].float(), w.norm(p=2, dim=1), atol=1e-6)
    assert moved > 0


@pytest.mark.parametrize("family", ["tiny_model", "tiny_model_xl"])  # SD, SDXL
def test_adapter_loads_in_vanilla_diffusers_and_reproduces_our_images(family, request, tmp_path):
    tiny_model = request.getfixturevalue(family)
    pipe, folder = trained_adapter(tiny_model, tmp_path, "dora")
    ours = sample(pipe, PROMPTS, [5, 6], SamplerConfig(steps=5, guidance=4.0))
    theirs = vanilla_images(tiny_model, folder, [5, 6], steps=5)
    base = sample(load_pipeline(str(tiny_model), device="cpu"), PROMPTS, [5, 6], SamplerConfig(steps=5, guidance=4.0))
    for mine, ref, before in zip(ours, theirs, base):
        assert np.abs(mine.image.astype(int) - (ref * 255).round().astype(int)).max() <= 1
        assert np.abs(mine.image.astype(int) - before.image).max() > 1, "the adapter must change the images"


def test_adapter_that_does_not_match_the_model_is_a_clear_error(tiny_model, other_tiny_model, tmp_path):
    _, folder = trained_adapter(tiny_model, tmp_path, "lora")
    with pytest.raises(UserInputError, match="does not match"):
        load_pipeline(str(other_tiny_model), adapter=folder, device="cpu")


def test_training_resumes_from_its_state_without_redoing_steps(tiny_model, tmp_path):
    """Constant and scheduled learning rates: a run killed after step 2 of 4 resumes at step 3's lr, so it ends
    where the uninterrupted one does."""
    latents = torch.randn(4, 4, 8, 8)
    finals = {}
    for schedule in ({}, {"lr_scheduler": "cosine", "lr_warmup_steps": 1}):
        config = TrainConfig(steps=4, batch_size=4, save_every=1, **schedule)
        pipe = load_pipeline(str(tiny_model), device="cpu")
        params = attach_adapter(pipe, AdapterConfig(kind="lora", rank=4, alpha=4))
        embeds = encode_prompts(pipe, PROMPTS * 2)
        calls = []

        def killed_in_step_3(rows):
            calls.append(rows)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return embeds[rows]

        state = tmp_path / f"state-{len(schedule)}.pt"
        with pytest.raises(KeyboardInterrupt):
            train_adapter(pipe, params, latents, killed_in_step_3, config, state, progress=False)
        saved = torch.load(state, weights_only=False)
        assert saved["step"] == 2
        if schedule:  # cosine after 1 warmup step of 4: step 3's lr is the schedule's, not the base lr
            assert saved["opt"]["param_groups"][0]["lr"] == pytest.approx(1e-4 * (1 + np.cos(np.pi / 3)) / 2)
        resumed = train_adapter(pipe, params, latents, frozen_conditioning(embeds), config, state, progress=False)
        assert len(resumed) == 4
        straight_pipe = load_pipeline(str(tiny_model), device="cpu")  # the same 4 steps without the interruption
        straight_params = attach_adapter(straight_pipe, AdapterConfig(kind="lora", rank=4, alpha=4))
        straight = train_adapter(straight_pipe, straight_params, latents, frozen_conditioning(embeds), config,
                                 tmp_path / f"straight-{len(schedule)}.pt", progress=False)
        assert resumed == straight  # the resumed run draws the same batches, noise and timesteps
        assert all(torch.equal(a, b) for a, b in zip(params, straight_params))
        finals[len(schedule)] = params
    assert not all(torch.equal(a, b) for a, b in zip(finals[0], finals[2]))  # the schedule changed the steps


def test_schedules_diffusers_would_reject_or_change_are_refused():
    for config, message in ((TrainConfig(lr_scheduler="step"), "unknown train.lr_scheduler"),
                            (TrainConfig(steps=10, lr_warmup_steps=10, lr_scheduler="cosine"), "below train.steps"),
                            (TrainConfig(lr_warmup_steps=5), "needs a schedule that warms up")):
        with pytest.raises(UserInputError, match=message):
            check_train_config(config)
    check_train_config(TrainConfig(steps=10, lr_warmup_steps=9, lr_scheduler="linear"))


@pytest.mark.parametrize("family", ["tiny_model", "tiny_model_xl"])  # SD's text encoder, SDXL's two
def test_text_encoder_adapter_is_optional_and_loads_in_vanilla_diffusers(family, request, tmp_path):
    from diffalign.training import trained_conditioning

    tiny_model = request.getfixturevalue(family)
    pipe = load_pipeline(str(tiny_model), device="cpu")
    config = AdapterConfig(kind="lora", rank=4, alpha=4, text_encoder=True)
    params = attach_adapter(pipe, config)
    encoders = family_of(pipe).text_encoders()
    assert encoders and all(any("lora" in n for n, _ in m.named_parameters()) for m in encoders.values())
    train_adapter(pipe, params, torch.randn(2, 4, 8, 8), trained_conditioning(pipe, PROMPTS),
                  TrainConfig(steps=3, batch_size=2, lr=1e-2), tmp_path / "state.pt", progress=False)
    folder = save_adapter(pipe, config, tmp_path / "te")
    keys = load_file(folder / "pytorch_lora_weights.safetensors").keys()
    assert {k.split(".")[0] for k in keys} == {"unet", *encoders}
    ours = sample(pipe, PROMPTS, [1, 2], SamplerConfig(steps=4, guidance=4.0))
    theirs = vanilla_images(tiny_model, folder, [1, 2], steps=4)
    for mine, ref in zip(ours, theirs):
        assert np.abs(mine.image.astype(int) - (ref * 255).round().astype(int)).max() <= 1


@pytest.mark.parametrize("family", ["tiny_model", "tiny_model_xl"])  # SD, SDXL
def test_dpo_prefers_the_chosen_latents_relative_to_the_base_model(family, request, tmp_path):
    """Diffusion-DPO starts at log 2 (adapter = base) and learns to denoise the chosen latents better than the
    rejected ones, relative to the frozen base model."""
    from diffalign.training.trainer import adapters_disabled, denoising_error

    pipe = load_pipeline(str(request.getfixturevalue(family)), device="cpu")
    params = attach_adapter(pipe, AdapterConfig(kind="lora", rank=4, alpha=4))
    gen = torch.Generator().manual_seed(0)
    chosen, rejected = torch.randn(4, 4, 8, 8, generator=gen), torch.randn(4, 4, 8, 8, generator=gen) * 2
    embeds = encode_prompts(pipe, PROMPTS * 2)
    losses = train_adapter(pipe, params, chosen, frozen_conditioning(embeds),
                           TrainConfig(steps=30, batch_size=4, lr=3e-3, objective="dpo", dpo_beta=50.0),
                           tmp_path / "state.pt", progress=False, rejected=rejected)
    assert losses[0] == pytest.approx(np.log(2), abs=1e-4)
    noise, t = torch.randn(chosen.shape, generator=gen), torch.full((4,), 500)
    model = family_of(pipe)

    def margin():  # error on chosen minus error on rejected, same noise and t (both families predict epsilon)
        errors = [denoising_error(model, model.add_noise(z, noise, t), t, embeds, model.target(z, noise, t))
                  for z in (chosen, rejected)]
        return (errors[0] - errors[1]).mean().item()

    with torch.no_grad():
        tuned = margin()
        with adapters_disabled(pipe):
            base = margin()
    assert tuned < base


def test_the_dpo_reference_switches_off_the_text_encoder_adapter_too(tiny_model):
    from diffalign.training.trainer import adapters_disabled

    pipe = load_pipeline(str(tiny_model), device="cpu")
    base = encode_prompts(pipe, PROMPTS).prompt_embeds
    params = attach_adapter(pipe, AdapterConfig(kind="lora", rank=4, alpha=4, text_encoder=True))
    with torch.no_grad():
        for name, p in pipe.text_encoder.named_parameters():
            if "lora_B" in name:
                p.add_(0.5)  # a trained text-encoder adapter
    assert params and not torch.allclose(encode_prompts(pipe, PROMPTS).prompt_embeds, base)
    with adapters_disabled(pipe):
        assert torch.allclose(encode_prompts(pipe, PROMPTS).prompt_embeds, base)
    assert not torch.allclose(encode_prompts(pipe, PROMPTS).prompt_embeds, base)  # switched back on afterwards


def test_dpo_without_rejected_samples_is_an_error(tiny_model, tmp_path):
    pipe = load_pipeline(str(tiny_model), device="cpu")
    params = attach_adapter(pipe, AdapterConfig(kind="lora", rank=4, alpha=4))
    with pytest.raises(ValueError, match="rejected"):
        train_adapter(pipe, params, torch.randn(2, 4, 8, 8), frozen_conditioning(encode_prompts(pipe, PROMPTS)),
                      TrainConfig(steps=1, objective="dpo"), tmp_path / "state.pt", progress=False)
