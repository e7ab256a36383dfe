from dataclasses import replace

import numpy as np
import pytest
import torch

from diffalign.errors import UserInputError
from diffalign.sampling import SamplerConfig, sample
from diffalign.scorers import make_scorer
from diffalign.models.families.sd import kappa, training_schedule
from diffalign.sampling.sampler import encode_images, encode_prompts
from diffalign.scorers.contrasts import contrast_prompts
from diffalign.scorers.mi import MIConfig, PointwiseMIHook, image_mi

CFG = SamplerConfig(steps=6, guidance=5.0, scheduler="ddim")


def test_kappa_variants_differ_by_alpha_t(tiny_pipe):
    s = tiny_pipe.scheduler
    t = torch.tensor([100, 500, 900])
    ratio = kappa(s, t, "official") / kappa(s, t, "paper")
    torch.testing.assert_close(ratio, (1 - s.betas[t]).double())


class CountingUNet(torch.nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.inner, self.calls = unet, 0

    def forward(self, *args, **kwargs):
        self.calls += 1
        return self.inner(*args, **kwargs)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.inner, name)


def test_mi_hook_costs_no_unet_call_and_leaves_images_unchanged(tiny_pipe):
    prompts, seeds = ["a red circle", "two blue squares"], [0, 1]
    original = tiny_pipe.unet
    counting = CountingUNet(original)
    tiny_pipe.unet = counting
    try:
        plain = sample(tiny_pipe, prompts, seeds, CFG)
        calls_plain, counting.calls = counting.calls, 0
        hook = PointwiseMIHook(tiny_pipe, MIConfig(min_timestep=50))
        scored = sample(tiny_pipe, prompts, seeds, CFG, hooks=(hook,))
        assert counting.calls == calls_plain
    finally:
        tiny_pipe.unet = original
    for a, b in zip(plain, scored):
        np.testing.assert_array_equal(a.image, b.image)
    assert all(s.scores["mi"] > 0 for s in scored)


def test_mi_hook_matches_a_direct_computation(tiny_pipe):
    """Recompute kappa_t ||eps_c - eps_u||^2 at the visited steps with explicit UNet calls."""
    captured = []

    class Capture:
        def begin(self, n):
            pass

        def step(self, state):
            captured.append((state.timestep, state.latents.clone()))

        def end(self):
            return {}

    hook = PointwiseMIHook(tiny_pipe, MIConfig(min_timestep=50))
    out = sample(tiny_pipe, ["a red circle"], [3], CFG, hooks=(Capture(), hook))
    from diffalign.sampling import encode_prompts
    cond, uncond = (encode_prompts(tiny_pipe, [p]).prompt_embeds for p in ("a red circle", ""))
    values = []
    with torch.no_grad():
        for t, z in captured:
            if int(t) <= 50:
                continue
            e_c = tiny_pipe.unet(z, t, encoder_hidden_states=cond).sample
            e_u = tiny_pipe.unet(z, t, encoder_hidden_states=uncond).sample
            values.append(float(kappa(tiny_pipe.scheduler, t) * (e_c - e_u).pow(2).sum()))
    assert len(values) < len(captured), "steps at t <= 50 must be skipped"
    assert np.isclose(out[0].scores["mi"], np.mean(values), rtol=1e-4)


def test_image_mi_is_deterministic_with_a_standard_error(tiny_pipe):
    images = np.stack([s.image for s in sample(tiny_pipe, ["a red circle"] * 2, [0, 1], CFG)])
    a = image_mi(tiny_pipe, images, ["a red circle"] * 2, config=MIConfig(n_timesteps=8, seed=1))
    b = image_mi(tiny_pipe, images, ["a red circle"] * 2, config=MIConfig(n_timesteps=8, seed=1))
    np.testing.assert_array_equal(a.mean, b.mean)
    assert (a.mean > 0).all() and (a.stderr > 0).all() and (a.stderr < a.mean).all()


def test_standard_estimator_is_a_gap_in_denoising_error_and_only_for_images(tiny_pipe):
    images = np.stack([s.image for s in sample(tiny_pipe, ["a red circle"] * 3, [0, 1, 2], CFG)])
    standard = image_mi(tiny_pipe, images, ["a red circle"] * 3,
                        config=MIConfig(estimator="standard", n_timesteps=8, seed=1))
    orthogonal = image_mi(tiny_pipe, images, ["a red circle"] * 3, config=MIConfig(n_timesteps=8, seed=1))
    assert not np.allclose(standard.mean, orthogonal.mean) and (standard.stderr > 0).all()
    for config in (MIConfig(estimator="standard"), MIConfig()):  # no prompt, no information: 0 up to float noise
        empty = image_mi(tiny_pipe, images, [""] * 3, config=replace(config, n_timesteps=4)).mean
        assert np.abs(empty).max() < 1e-3 * np.abs(orthogonal.mean).max()
    with pytest.raises(ValueError, match="orthogonal estimator only"):
        PointwiseMIHook(tiny_pipe, MIConfig(estimator="standard"))
    with pytest.raises(UserInputError, match="unknown MI estimator .exact.; choose from orthogonal, standard, co"):
        make_scorer("mi", tiny_pipe, estimator="exact")
    scorer = make_scorer("mi", tiny_pipe, estimator="standard", n_timesteps=8, seed=1)
    scored = scorer.score(images, ["a red circle"] * 3)
    np.testing.assert_array_equal(scored["mi"], standard.mean)


def test_contrastive_estimator_is_the_margin_over_the_closest_rival(tiny_pipe):
    """By hand, with the same stratified draws: per draw, kappa_t ||eps - eps(z_t, c, t)||^2 for the prompt, the
    null prompt and each contrast; the estimate is min over rivals of (mean error under it - under the prompt)."""
    prompt = "a red square and a blue circle"
    texts = [prompt, "", *contrast_prompts(prompt)]
    images = np.stack([s.image for s in sample(tiny_pipe, [prompt], [3], CFG)])
    config = MIConfig(estimator="contrastive", min_timestep=500)
    got = image_mi(tiny_pipe, images, [prompt], config=replace(config, n_timesteps=4, seed=2))
    standard = image_mi(tiny_pipe, images, [prompt], config=replace(config, estimator="standard", n_timesteps=4,
                                                                    seed=2))
    gen = torch.Generator("cpu").manual_seed(2)
    edges = np.linspace(501, 1000, 5)
    with torch.no_grad():
        z0 = encode_images(tiny_pipe, images)
        embeds = encode_prompts(tiny_pipe, texts).prompt_embeds
        errors = []
        for j in range(4):
            t = torch.randint(int(edges[j]), int(edges[j + 1]), (1,), generator=gen)
            noise = torch.randn(z0.shape, generator=gen)
            z_t = training_schedule(tiny_pipe.scheduler).add_noise(z0, noise, t)
            eps = tiny_pipe.unet(z_t.expand(len(texts), -1, -1, -1), t.expand(len(texts)),
                                 encoder_hidden_states=embeds).sample
            errors.append(kappa(tiny_pipe.scheduler, t) * (noise - eps).pow(2).flatten(1).sum(1).double())
    errors = torch.stack(errors)  # draws x prompts
    gaps = errors.mean(0)[1:] - errors.mean(0)[0]
    # A gap is a difference of errors ~1e3 times larger, each summed in float32 by a UNet whose batch here differs
    # from image_mi's; so the tolerance is float32 rounding of the errors, not of the gap.
    rounding = 1e-6 * float(errors.abs().mean())
    assert np.isclose(got.mean[0], float(gaps.min()), rtol=0, atol=rounding)
    assert np.isclose(standard.mean[0], float(gaps[0]), rtol=0, atol=rounding)  # the standard's rival: the null prompt
    per_draw = errors[:, 1] - errors[:, 0]  # jackknife of a mean = the plain Monte-Carlo standard error
    assert np.isclose(standard.stderr[0], float(per_draw.std() / 2), rtol=0, atol=rounding)
    assert got.stderr[0] > 0


def test_contrastive_estimator_without_contrasts_is_the_standard_one(tiny_pipe):
    prompts = ["a giraffe next to a lamp", "a red square and a blue circle"]
    assert contrast_prompts(prompts[0]) == [] and contrast_prompts(prompts[1])
    images = np.stack([s.image for s in sample(tiny_pipe, prompts, [0, 1], CFG)])
    contrastive = image_mi(tiny_pipe, images, prompts,
                           config=MIConfig(estimator="contrastive", n_timesteps=4, seed=1))
    standard = image_mi(tiny_pipe, images, prompts, config=MIConfig(estimator="standard", n_timesteps=4, seed=1))
    # Equal up to float32 rounding of the ~1e3-sized errors whose difference they are (the UNet batches differ).
    rounding = 5e-3
    assert np.isclose(contrastive.mean[0], standard.mean[0], rtol=0, atol=rounding)
    # the null prompt is one of the rivals: at most the standard estimate, which it equals (up to the same rounding)
    # when the null prompt is the closest rival
    assert contrastive.mean[1] <= standard.mean[1] + rounding
    with pytest.raises(UserInputError, match="MI n_timesteps .mi.n_timesteps. must be at least 1"):
        make_scorer("mi", tiny_pipe, estimator="contrastive", n_timesteps=0)
    with pytest.raises(UserInputError, match=r"min_timestep must be in \[0, 999\)"):
        image_mi(tiny_pipe, images, prompts, config=MIConfig(min_timestep=999, n_timesteps=2))


@pytest.mark.parametrize("family", ["tiny_model", "tiny_model_xl"])  # SD (DPM-Solver folder), SDXL (Euler folder)
def test_image_mi_does_not_depend_on_the_scheduler_a_folder_ships(family, request):
    """Images are noised with the model's training process, not the sampling scheduler's add_noise (Euler's is
    sigma-space: 14.6x the right scale at t = 999), so swapping the folder's scheduler leaves MI unchanged."""
    import copy

    from diffalign.models import load_pipeline
    from diffalign.sampling import make_scheduler

    tiny_pipe = load_pipeline(str(request.getfixturevalue(family)), device="cpu")
    images = np.stack([s.image for s in sample(tiny_pipe, ["a red circle", "two blue squares"], [0, 1], CFG)])
    prompts = ["a red circle", "two blue squares"]
    config = MIConfig(estimator="standard", n_timesteps=6, seed=3)
    results = {}
    for name in ("ddpm", "pndm", "euler", "dpm"):
        pipe = copy.copy(tiny_pipe)
        pipe.scheduler = make_scheduler(name, tiny_pipe.scheduler)
        results[name] = image_mi(pipe, images, prompts, config)
    base = results["ddpm"]
    for name, got in results.items():
        assert np.all(np.abs(got.mean - base.mean) <= np.maximum(base.stderr, 1e-6)), name
        np.testing.assert_allclose(got.mean, base.mean, rtol=1e-5, atol=1e-6)
