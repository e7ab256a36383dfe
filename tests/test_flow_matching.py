"""The flow-matching maths (models/families/flow_matching.py) against the definitions it comes from, and the tiny SD3
and Flux folders (tests/tiny_models.py) as vanilla diffusers loads and runs them."""

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline, FlowMatchEulerDiscreteScheduler

from diffalign.models.families.flow_matching import add_noise, mi_weight, riemann_spans, to_epsilon, velocity


def _draws(n=6):
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(n, 16, 4, 4, generator=gen), torch.randn(n, 16, 4, 4, generator=gen),
            torch.rand(n, generator=gen))


def test_velocity_and_epsilon_invert_the_forward_process():
    z0, eps, s = _draws()
    x = add_noise(z0, eps, s)
    v = velocity(z0, eps)
    assert torch.allclose(to_epsilon(v, x, s), eps, atol=1e-5)
    assert torch.allclose(x - s.view(-1, 1, 1, 1) * v, z0, atol=1e-5)  # x_0 = x_s - s v
    assert torch.allclose(add_noise(z0, eps, torch.ones(6)), eps) and torch.allclose(add_noise(z0, eps, 0.0), z0)


def test_epsilon_gap_is_the_velocity_gap_times_one_minus_sigma():
    """eps_c - eps_u = (1 - s)(v_c - v_u): the MI integrand in either parametrization, and the epsilon error of a
    velocity prediction is (1 - s) times its velocity error (the flow-matching Diffusion-DPO weighting)."""
    x, v_c, s = _draws()
    v_u = torch.randn_like(v_c)
    gap = to_epsilon(v_c, x, s) - to_epsilon(v_u, x, s)
    assert torch.allclose(gap, (1 - s).view(-1, 1, 1, 1) * (v_c - v_u), atol=1e-5)


def test_mi_weight_is_kongs_half_log_snr_derivative():
    s = torch.linspace(0.01, 0.99, 50, dtype=torch.float64).requires_grad_(True)
    log_snr = 2 * torch.log((1 - s) / s)
    (d,) = torch.autograd.grad(log_snr.sum(), s)
    assert torch.allclose(mi_weight(s.detach()), 0.5 * d.abs())
    # in velocity units: weight (1 - s) / s on ||v_c - v_u||^2
    assert torch.allclose(mi_weight(s.detach()) * (1 - s.detach()) ** 2, (1 - s.detach()) / s.detach())
    assert mi_weight(torch.tensor([1.0])).item() == 0 and torch.isfinite(mi_weight(torch.tensor([1e-30]))).all()


@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_the_samplers_sigmas_with_their_spans_are_a_riemann_sum_over_sigma(shift):
    """sum_i f(s_i) (s_i - s_{i+1}) over FlowMatchEuler's shifted sigmas approximates int_0^1 f(s) ds whatever
    the shift; the plain mean over steps does only without one."""
    scheduler = FlowMatchEulerDiscreteScheduler(shift=shift)
    scheduler.set_timesteps(200)
    s = scheduler.timesteps.double() / scheduler.config.num_train_timesteps
    f = lambda x: torch.exp(-((x - 0.3) ** 2) / 0.02)  # noqa: E731
    fine = torch.linspace(0, 1, 100_001, dtype=torch.float64)
    exact = torch.trapezoid(f(fine), fine)
    riemann = float((f(s) * riemann_spans(s)).sum())
    assert riemann == pytest.approx(float(exact), rel=0.02)
    assert (float(f(s).mean()) == pytest.approx(float(exact), rel=0.02)) == (shift == 1.0)


@pytest.mark.parametrize("folder,kwargs", [("tiny_sd3", {}), ("tiny_flux", {"height": 32, "width": 32})])
def test_tiny_flow_pipelines_load_and_run_in_vanilla_diffusers(folder, kwargs, request):
    pipe = DiffusionPipeline.from_pretrained(str(request.getfixturevalue(folder)))
    images = pipe(["a red circle", "two green crosses"], num_inference_steps=2, output_type="np",
                  generator=[torch.Generator().manual_seed(s) for s in (0, 1)], **kwargs).images
    assert images.shape == (2, 32, 32, 3) and np.isfinite(images).all() and images.std() > 0
    assert pipe.vae.config.latent_channels == 16 and pipe.vae.config.shift_factor is not None
