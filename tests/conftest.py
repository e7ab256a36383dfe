"""Shared fixtures: tiny randomly initialised Stable Diffusion (1.x, 2.x, XL) pipelines built from configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)


def build_tiny_pipeline(out: Path, width: int = 32, prediction_type: str = "epsilon") -> Path:
    """A real StableDiffusionPipeline folder with random weights, small enough for CPU tests: SD 1.x style
    (epsilon) or SD 2.x style (v_prediction)."""
    from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from diffalign.builtin_training.configs import make_train_scheduler
    from diffalign.builtin_training.tokenizer import build_tokenizer

    torch.manual_seed(0)
    tokenizer = build_tokenizer(out.parent / (out.name + "-tokenizer"))
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        max_position_embeddings=tokenizer.model_max_length, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id))
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, sample_size=64,
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                        block_out_channels=[8, 8, 8, 8], layers_per_block=1, norm_num_groups=4)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(width, 2 * width), cross_attention_dim=32, attention_head_dim=2,
                                norm_num_groups=8, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"))
    scheduler = DPMSolverMultistepScheduler.from_config(make_train_scheduler().config, prediction_type=prediction_type)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(out)
    return out


def build_tiny_xl_pipeline(out: Path, prediction_type: str = "epsilon") -> Path:
    """A real StableDiffusionXLPipeline folder with random weights: CLIPTextModel + CLIPTextModelWithProjection
    (penultimate states concatenated to the UNet's 64-wide context, pooled embedding from the second), a UNet with
    the text_time added embedding (6 time ids), the SD tiny VAE (64 px images), Euler as SDXL ships it."""
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from diffalign.builtin_training.configs import make_train_scheduler
    from diffalign.builtin_training.tokenizer import build_tokenizer

    torch.manual_seed(0)
    tokenizer = build_tokenizer(out.parent / (out.name + "-tokenizer"))
    text = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=2, max_position_embeddings=tokenizer.model_max_length,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.eos_token_id)
    text_encoder = CLIPTextModel(CLIPTextConfig(**text))
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**text, projection_dim=32))
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, sample_size=64,
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                        block_out_channels=[8, 8, 8, 8], layers_per_block=1, norm_num_groups=4)
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                                block_out_channels=(32, 64), cross_attention_dim=64, attention_head_dim=2,
                                norm_num_groups=8, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), addition_embed_type="text_time",
                                addition_time_embed_dim=8, projection_class_embeddings_input_dim=6 * 8 + 32)
    scheduler = EulerDiscreteScheduler.from_config(make_train_scheduler().config, prediction_type=prediction_type,
                                                   timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                     tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=scheduler,
                                     force_zeros_for_empty_prompt=True, add_watermarker=False)
    pipe.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="session")
def tiny_model_v(tmp_path_factory) -> Path:
    """An SD 2.x-style folder: the same architecture, trained (here: declared) for v-prediction."""
    return build_tiny_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd-v", prediction_type="v_prediction")


@pytest.fixture(scope="session")
def tiny_model_xl(tmp_path_factory) -> Path:
    """An SDXL folder (epsilon, force_zeros_for_empty_prompt as the base model ships)."""
    return build_tiny_xl_pipeline(tmp_path_factory.mktemp("models") / "tiny-sdxl")


@pytest.fixture(scope="session")
def tiny_model_xl_v(tmp_path_factory) -> Path:
    """An SDXL folder declared for v-prediction (as v-tuned SDXL fine-tunes are)."""
    return build_tiny_xl_pipeline(tmp_path_factory.mktemp("models") / "tiny-sdxl-v", prediction_type="v_prediction")


@pytest.fixture(scope="session")
def tiny_pipe(tiny_model):
    from diffalign.models import load_pipeline

    return load_pipeline(str(tiny_model), device="cpu")


@pytest.fixture(scope="session")
def other_tiny_model(tmp_path_factory) -> Path:
    """Same kind of pipeline, other UNet widths: adapters of tiny_model must not load into it."""
    return build_tiny_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd-wide", width=48)


# Tiny random scorer models (tests/tiny_models.py), each built once per session into a hub-style folder.

def _tiny(tmp_path_factory, name: str) -> Path:
    from tiny_models import BUILDERS

    return BUILDERS[name](tmp_path_factory.mktemp("scorer-models") / name)


@pytest.fixture(scope="session")
def tiny_blip(tmp_path_factory) -> Path:
    """A BLIP captioner folder (BlipForConditionalGeneration + BlipProcessor), as a hub download would be."""
    return _tiny(tmp_path_factory, "blip")


@pytest.fixture(scope="session")
def tiny_blip_vqa(tmp_path_factory) -> Path:
    return _tiny(tmp_path_factory, "blip_vqa")


@pytest.fixture(scope="session")
def tiny_blip2(tmp_path_factory) -> Path:
    return _tiny(tmp_path_factory, "blip2")


@pytest.fixture(scope="session")
def tiny_owlv2(tmp_path_factory) -> Path:
    return _tiny(tmp_path_factory, "owlv2")


@pytest.fixture(scope="session")
def tiny_grounding_dino(tmp_path_factory) -> Path:
    return _tiny(tmp_path_factory, "grounding_dino")


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    return _tiny(tmp_path_factory, "clip")


@pytest.fixture(scope="session")
def tiny_grounding(tmp_path_factory) -> Path:
    """OWL-ViT and SAM folders (model + processor) at <folder>/owl and <folder>/sam, the shapes of the hub ones."""
    from tiny_models import build_owlvit, build_sam

    folder = tmp_path_factory.mktemp("grounding")
    build_owlvit(folder / "owl")
    build_sam(folder / "sam")
    return folder


# Tiny flow-matching pipelines (tests/tiny_models.py): SD3 / SD3.5 (MMDiT) and Flux (guidance-distilled).

@pytest.fixture(scope="session")
def tiny_sd3(tmp_path_factory) -> Path:
    from tiny_models import build_sd3

    return build_sd3(tmp_path_factory.mktemp("models") / "tiny-sd3")


@pytest.fixture(scope="session")
def tiny_flux(tmp_path_factory) -> Path:
    from tiny_models import build_flux

    return build_flux(tmp_path_factory.mktemp("models") / "tiny-flux")
