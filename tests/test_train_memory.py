"""Mixed precision, gradient checkpointing, micro-batches and sliced VAE decode (issue 25, items 2 and 3)."""

import numpy as np
import pytest
import torch

from diffalign.errors import UserInputError
from diffalign.methods.recipe import check_recipe, load_recipe, override
from diffalign.models import load_pipeline
from diffalign.sampling import encode_prompts
from diffalign.sampling.sampler import decode
from diffalign.training import AdapterConfig, TrainConfig, attach_adapter, frozen_conditioning, train_adapter
from diffalign.training.trainer import NonFiniteLoss, resolve_precision

PROMPTS = ["a red circle", "two blue squares"]


def setup(model, kind="lora", base_dtype=torch.float32):
    pipe = load_pipeline(str(model), device="cpu")
    embeds = encode_prompts(pipe, PROMPTS * 4)
    pipe.unet.to(base_dtype)  # the frozen base in half precision, as on a GPU
    params = attach_adapter(pipe, AdapterConfig(kind=kind, rank=4, alpha=8))
    return pipe, params, embeds


@pytest.mark.parametrize("precision,dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_half_precision_training_keeps_float32_adapter_weights_and_learns(tiny_model, tmp_path, precision, dtype):
    """A DoRA adapter on a half-precision base: before, fp16 gave [1.18, nan, ...] after the first step."""
    pipe, params, embeds = setup(tiny_model, "dora", dtype)
    assert params and all(p.dtype == torch.float32 for p in params)
    assert all(p.dtype == dtype for n, p in pipe.unet.named_parameters() if "lora" not in n)
    latents = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    state = tmp_path / "state.pt"
    losses = train_adapter(pipe, params, latents, frozen_conditioning(embeds[:4]),
                           TrainConfig(steps=16, batch_size=4, lr=1e-2, mixed_precision=precision), state,
                           progress=False)
    assert all(np.isfinite(losses)) and np.mean(losses[-4:]) < np.mean(losses[:4])
    assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in params)
    saved = torch.load(state, weights_only=False)
    moments = [v for s in saved["opt"]["state"].values() for k, v in s.items() if k != "step"]
    assert moments and all(m.dtype == torch.float32 for m in moments)  # AdamW's state in float32
    assert ("scaler" in saved) == (precision == "fp16")  # fp16's grad scaler resumes with the rest


def test_precision_defaults_and_refusals():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision(TrainConfig(), cpu, torch.float32) == "no"
    assert resolve_precision(TrainConfig(mixed_precision="bf16"), cpu, torch.float32) == "bf16"
    if not torch.cuda.is_available():
        assert resolve_precision(TrainConfig(), cuda, torch.float16) == "fp16"  # a GPU without bf16
    with pytest.raises(ValueError, match="float32"):
        resolve_precision(TrainConfig(mixed_precision="no"), cpu, torch.float16)
    with pytest.raises(ValueError, match="unknown mixed precision"):
        resolve_precision(TrainConfig(mixed_precision="fp8"), cpu, torch.float32)


@pytest.mark.parametrize("objective", ["sft", "dpo"])
def test_checkpointing_and_micro_batches_train_as_the_whole_batch(tiny_model, tmp_path, objective):
    gen = torch.Generator().manual_seed(1)
    latents, rejected = torch.randn(8, 4, 8, 8, generator=gen), torch.randn(8, 4, 8, 8, generator=gen) * 2
    runs = {}
    for micro, ckpt in ((None, False), (2, False), (None, True), (4, True)):
        pipe, params, embeds = setup(tiny_model)
        start = [p.detach().clone() for p in params]
        config = TrainConfig(steps=3, batch_size=8, lr=1e-2, objective=objective, dpo_beta=50.0, micro_batch=micro,
                             gradient_checkpointing=ckpt)
        losses = train_adapter(pipe, params, latents, frozen_conditioning(embeds), config,
                               tmp_path / f"{objective}-{micro}-{ckpt}.pt", progress=False,
                               rejected=rejected if objective == "dpo" else None)
        assert not pipe.unet.is_gradient_checkpointing  # switched off after training
        runs[micro, ckpt] = losses, [p.detach().clone() for p in params]
    base_losses, base_params = runs[None, False]
    moved = torch.cat([(a - b).flatten() for a, b in zip(base_params, start)]).norm()
    for key, (losses, params) in runs.items():
        assert losses == pytest.approx(base_losses, rel=1e-5), key
        # float sums in another order: AdamW's normalised step can turn the last bits of a near-zero gradient into a
        # step of lr either way on that one weight (so no max-abs bound holds), but not move the adapter as a whole
        differ = torch.cat([(a - b).flatten() for a, b in zip(params, base_params)]).norm()
        assert differ <= 1e-2 * moved, key


def test_a_non_finite_loss_stops_and_keeps_the_last_finite_state(tiny_model, tmp_path):
    latents = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    state = tmp_path / "state.pt"
    pipe, params, embeds = setup(tiny_model)
    conditioning = frozen_conditioning(embeds[:4])
    train_adapter(pipe, params, latents, conditioning, TrainConfig(steps=2, batch_size=4, save_every=1), state,
                  progress=False)
    bad = torch.tensor([1.0, float("nan"), 1.0, 1.0])  # a loss that goes NaN at step 3
    with pytest.raises(NonFiniteLoss, match=r"^train step 3: loss is nan; the last saved state .* is kept") as err:
        train_adapter(pipe, params, latents, conditioning, TrainConfig(steps=4, batch_size=4, save_every=1), state,
                      progress=False, weights=bad)
    assert "\n" not in str(err.value) and isinstance(err.value, UserInputError)
    saved = torch.load(state, weights_only=False)
    assert saved["step"] == 2 and all(torch.isfinite(v).all() for v in saved["adapter"]["unet"].values())
    assert not pipe.unet.training  # back in eval mode
    pipe, params, embeds = setup(tiny_model)  # the rerun, in a fresh process: resumes at step 2
    resumed = train_adapter(pipe, params, latents, conditioning, TrainConfig(steps=4, batch_size=4, save_every=1),
                            state, progress=False)
    pipe, straight_params, _ = setup(tiny_model)
    straight = train_adapter(pipe, straight_params, latents, conditioning,
                             TrainConfig(steps=4, batch_size=4, save_every=1), tmp_path / "straight.pt",
                             progress=False)
    assert resumed == straight and all(torch.equal(a, b) for a, b in zip(params, straight_params))


def test_sliced_decode_makes_the_images_of_the_whole_batch(tiny_pipe):
    latents = torch.randn(5, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    whole = decode(tiny_pipe, latents)
    pixels = 64 * 64
    for per_call in (1, 2):
        sliced = decode(tiny_pipe, latents, max_pixels=per_call * pixels)
        assert sliced.shape == whole.shape and np.abs(sliced.astype(int) - whole).max() <= 1
    single = np.concatenate([decode(tiny_pipe, latents[i : i + 1]) for i in range(5)])
    assert np.abs(single.astype(int) - whole).max() <= 1


def test_recipe_refuses_a_micro_batch_that_does_not_divide_the_batch():
    recipe = load_recipe("mitune", True)
    check_recipe(override(recipe, **{"train.micro_batch": 16, "train.mixed_precision": "bf16"}))
    with pytest.raises(UserInputError, match=r"train\.micro_batch \(--micro-batch\) 24 must divide"):
        check_recipe(override(recipe, **{"train.micro_batch": 24}))
    with pytest.raises(UserInputError, match=r"train\.mixed_precision"):
        check_recipe(override(recipe, **{"train.mixed_precision": "fp8"}))
    with pytest.raises(UserInputError, match=r"score_batch \(--score-batch\) must be at least 1"):
        check_recipe(override(recipe, score_batch=0))


def test_cli_flags_reach_the_recipe():
    from diffalign.cli.align import align_recipe
    from diffalign.cli.main import build_parser

    args = build_parser().parse_args(["align", "--mixed-precision", "fp16", "--gradient-checkpointing",
                                      "--micro-batch", "16", "--score-batch", "8", "--mi-batch", "4"])
    recipe = align_recipe(args)
    assert (recipe.train.mixed_precision, recipe.train.gradient_checkpointing, recipe.train.micro_batch,
            recipe.score_batch, recipe.mi.batch_size) == ("fp16", True, 16, 8, 4)
    default = align_recipe(build_parser().parse_args(["align"]))
    assert default.train == load_recipe("mitune", True).train and default.score_batch == 64
    args = build_parser().parse_args(["personalize", "--images", "x", "--class-prompt", "a square", "--out", "o",
                                      "--mixed-precision", "bf16", "--micro-batch", "4"])
    assert args.mixed_precision == "bf16" and args.micro_batch == 4
