"""`diffalign world train` continuing a shipped model: the unet stage (resuming after an interruption) and the
vae stage (its decoder only)."""

import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel

from diffalign.builtin import BUILTIN_MODEL_DIR
from diffalign.builtin.checkpoint import load_state
from diffalign.builtin.train import StageConfig, assemble, train_unet, train_vae


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_unet_stage_continues_shipped_model_and_resumes(tmp_path):
    cfg = StageConfig(work=tmp_path, steps=2, batch=4, lr=1e-4, save_every=1, init_from=BUILTIN_MODEL_DIR,
                      cache_size=512)
    train_unet(cfg)
    assert (tmp_path / "vae" / "final").is_dir() and (tmp_path / "clip" / "tokenizer" / "vocab.json").exists()
    assert (tmp_path / "unet" / "latents-512.safetensors").exists()
    assert load_state(tmp_path / "unet" / "state.pt") == 2

    shipped = _flat(UNet2DConditionModel.from_pretrained(BUILTIN_MODEL_DIR / "unet"))
    after_two = _flat(UNet2DConditionModel.from_pretrained(tmp_path / "unet" / "final"))
    moved = (after_two - shipped).norm() / shipped.norm()
    assert 0 < moved < 1e-2  # it started from the shipped weights, not from a fresh init

    cfg.steps = 3  # a rerun with a larger total continues from the saved step
    train_unet(cfg)
    assert load_state(tmp_path / "unet" / "state.pt") == 3
    after_three = _flat(UNet2DConditionModel.from_pretrained(tmp_path / "unet" / "final"))
    assert not torch.equal(after_three, after_two)

    pipe = DiffusionPipeline.from_pretrained(assemble(tmp_path, tmp_path / "model"))  # a loadable model again
    assert torch.equal(_flat(pipe.unet), after_three)


def test_vae_stage_from_a_model_fine_tunes_only_its_decoder(tmp_path):
    shipped = AutoencoderKL.from_pretrained(BUILTIN_MODEL_DIR / "vae")
    train_vae(StageConfig(work=tmp_path, steps=2, batch=4, lr=1e-3, save_every=1, init_from=BUILTIN_MODEL_DIR))
    tuned = AutoencoderKL.from_pretrained(tmp_path / "vae" / "final")
    for part in ("encoder", "quant_conv"):  # the latent space the UNet was trained in stays
        assert torch.equal(_flat(getattr(tuned, part)), _flat(getattr(shipped, part)))
    assert not torch.equal(_flat(tuned.decoder), _flat(shipped.decoder))
    assert tuned.config.scaling_factor == shipped.config.scaling_factor

    pipe = DiffusionPipeline.from_pretrained(assemble(tmp_path, tmp_path / "model"))  # with the model's own UNet
    assert torch.equal(_flat(pipe.unet), _flat(UNet2DConditionModel.from_pretrained(BUILTIN_MODEL_DIR / "unet")))
    assert torch.equal(_flat(pipe.vae.decoder), _flat(tuned.decoder))
