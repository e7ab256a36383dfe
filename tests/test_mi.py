import numpy as np
import pytest
import torch

from diffalign.errors import UserInputError
from diffalign.sampling import SamplerConfig, sample
from diffalign.scorers import make_scorer
from diffalign.scorers.mi import MIConfig, PointwiseMIHook, image_mi, kappa

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
        hook = PointwiseMIHook(tiny_pipe.scheduler, MIConfig(min_timestep=50))
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

    hook = PointwiseMIHook(tiny_pipe.scheduler, MIConfig(min_timestep=50))
    out = sample(tiny_pipe, ["a red circle"], [3], CFG, hooks=(Capture(), hook))
    from diffalign.sampling import encode_prompts
    cond, uncond = encode_prompts(tiny_pipe, ["a red circle"]), encode_prompts(tiny_pipe, [""])
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
    a = image_mi(tiny_pipe, images, ["a red circle"] * 2, n_timesteps=8, seed=1)
    b = image_mi(tiny_pipe, images, ["a red circle"] * 2, n_timesteps=8, seed=1)
    np.testing.assert_array_equal(a.mean, b.mean)
    assert (a.mean > 0).all() and (a.stderr > 0).all() and (a.stderr < a.mean).all()


def test_standard_estimator_is_a_gap_in_denoising_error_and_only_for_images(tiny_pipe):
    images = np.stack([s.image for s in sample(tiny_pipe, ["a red circle"] * 3, [0, 1, 2], CFG)])
    standard = image_mi(tiny_pipe, images, ["a red circle"] * 3, n_timesteps=8, seed=1,
                        config=MIConfig(estimator="standard"))
    orthogonal = image_mi(tiny_pipe, images, ["a red circle"] * 3, n_timesteps=8, seed=1)
    assert not np.allclose(standard.mean, orthogonal.mean) and (standard.stderr > 0).all()
    for config in (MIConfig(estimator="standard"), MIConfig()):  # no prompt, no information: 0 up to float noise
        empty = image_mi(tiny_pipe, images, [""] * 3, n_timesteps=4, config=config).mean
        assert np.abs(empty).max() < 1e-3 * np.abs(orthogonal.mean).max()
    with pytest.raises(ValueError, match="orthogonal estimator only"):
        PointwiseMIHook(tiny_pipe.scheduler, MIConfig(estimator="standard"))
    with pytest.raises(UserInputError, match="unknown MI estimator 'exact'; choose from orthogonal, standard"):
        make_scorer("mi", tiny_pipe, estimator="exact")
    scored = make_scorer("mi", tiny_pipe, estimator="standard", n_timesteps=8, seed=1).score(images, ["a red circle"] * 3)
    np.testing.assert_array_equal(scored["mi"], standard.mean)
