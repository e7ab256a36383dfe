"""Architectures of the built-in model (VAE, CLIP, UNet, training scheduler), sized so that each training stage
and a full `diffalign align` fit a 2-core CPU; sizes and parameter counts are in docs/builtin-model.md."""

from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPConfig, CLIPModel

MAX_TOKENS = 24
EMBED_DIM = 128


def make_vae() -> AutoencoderKL:
    """64x64x3 -> 8x8x4 (three downsamplings), ~0.9M parameters."""
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, sample_size=64,
        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[16, 32, 64, 64], layers_per_block=1, norm_num_groups=16,
        mid_block_add_attention=False,
    )


def make_clip(vocab_size: int, bos: int, eos: int) -> CLIPModel:
    """Tiny CLIP: a 4-layer text tower (the pipeline's text_encoder) and a ViT with 8x8 patches."""
    tower = dict(hidden_size=EMBED_DIM, intermediate_size=4 * EMBED_DIM, num_hidden_layers=4, num_attention_heads=4)
    config = CLIPConfig(
        text_config=dict(vocab_size=vocab_size, max_position_embeddings=MAX_TOKENS, bos_token_id=bos,
                         eos_token_id=eos, pad_token_id=eos, **tower),
        vision_config=dict(image_size=64, patch_size=8, **tower),
        projection_dim=EMBED_DIM,
    )
    return CLIPModel(config)


def make_unet() -> UNet2DConditionModel:
    """~6.3M parameters on 8x8x4 latents, cross-attention at both resolutions."""
    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(64, 128),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=EMBED_DIM, attention_head_dim=4, norm_num_groups=32,
    )


def make_train_scheduler() -> DDPMScheduler:
    """Stable Diffusion's noise schedule, epsilon prediction."""
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085,
                         beta_end=0.012, prediction_type="epsilon", clip_sample=False, steps_offset=1)
