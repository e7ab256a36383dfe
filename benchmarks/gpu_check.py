"""A full-size Stable Diffusion 2.1 UNet at 512 px on a GPU, random weights (no download): images/s of diffalign's
sampler against a vanilla diffusers pipeline call at the same batch, and the time and peak memory of a bf16 LoRA
and a DoRA training step with and without gradient checkpointing. Prints one JSON object. Run by gpu_check.sh.

    python benchmarks/gpu_check.py [--batch 8 --steps 20 --train-batch 16]
    python benchmarks/gpu_check.py --tiny     # the same steps on a toy-sized model on the CPU: checks the script

The pipeline folder is a real StableDiffusionPipeline: the UNet from stabilityai/stable-diffusion-2-1-base's
published unet/config.json (865M parameters, 64 x 64 latents = 512 px), its VAE's and text encoder's architectures
(OpenCLIP ViT-H's text tower as CLIPTextModel, 77 tokens) and scheduler, all randomly initialised, with the
built-in model's tokenizer padded to 77 tokens (random weights need no real vocabulary). Timing and memory depend
on the architecture and sizes only, not on the weights. The sampler figures come from
benchmarks/sampler_throughput.py, the training figures from benchmarks/train_memory.py (one fresh process per
configuration, CUDA max_memory_allocated above the memory before the step), both run on that folder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent

# stabilityai/stable-diffusion-2-1-base, unet/config.json (diffusers format)
SD21_UNET = {
    "act_fn": "silu", "attention_head_dim": [5, 10, 20, 20], "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False, "cross_attention_dim": 1024,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1, "dual_cross_attention": False, "flip_sin_to_cos": True, "freq_shift": 0,
    "in_channels": 4, "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32,
    "num_class_embeds": None, "only_cross_attention": False, "out_channels": 4, "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "upcast_attention": False, "use_linear_projection": True,
}
# vae/config.json (the SD 2.x autoencoder, 8x downsampling)
SD21_VAE = {
    "act_fn": "silu", "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32,
    "sample_size": 512, "scaling_factor": 0.18215,
}
# text_encoder/config.json (OpenCLIP ViT-H/14's text tower; the vocabulary size is the tokenizer's here)
SD21_TEXT = {
    "hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16, "num_hidden_layers": 23,
    "max_position_embeddings": 77, "hidden_act": "gelu", "projection_dim": 512, "layer_norm_eps": 1e-05,
}
# scheduler/scheduler_config.json
SD21_SCHEDULER = {
    "beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "clip_sample": False,
    "num_train_timesteps": 1000, "prediction_type": "epsilon", "set_alpha_to_one": False, "skip_prk_steps": True,
    "steps_offset": 1, "trained_betas": None,
}
# --tiny: the same classes at toy size, to check the script on a CPU
TINY_UNET = {**SD21_UNET, "attention_head_dim": 2, "block_out_channels": [32, 32, 64, 64], "cross_attention_dim": 32,
             "layers_per_block": 1, "sample_size": 8}
TINY_VAE = {**SD21_VAE, "block_out_channels": [32, 32, 32, 32], "layers_per_block": 1, "sample_size": 64}
TINY_TEXT = {**SD21_TEXT, "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
             "num_hidden_layers": 2}


def build(folder: Path, tiny: bool) -> dict:
    """Write the random-weight pipeline folder (float16 weights; load_pipeline's dtype on a GPU); its sizes."""
    import torch
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from diffalign.builtin import BUILTIN_MODEL_DIR

    torch.manual_seed(0)
    tokenizer = CLIPTokenizer.from_pretrained(BUILTIN_MODEL_DIR / "tokenizer", model_max_length=77)
    text = TINY_TEXT if tiny else SD21_TEXT
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, **text))
    unet = UNet2DConditionModel(**(TINY_UNET if tiny else SD21_UNET))
    vae = AutoencoderKL(**(TINY_VAE if tiny else SD21_VAE))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=PNDMScheduler.from_config(SD21_SCHEDULER), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.to(torch.float16).save_pretrained(folder)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return {"unet_parameters": count(unet), "vae_parameters": count(vae), "text_encoder_parameters": count(text_encoder),
            "pixels": 8 * unet.config.sample_size}


def run_json(command: list[str]) -> dict:
    out = subprocess.run([sys.executable, *command], capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(out.stdout[out.stdout.index("{"):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a toy-sized model on the CPU (checks the script)")
    parser.add_argument("--batch", type=int, help="images per sampler call (default 8; --tiny 2)")
    parser.add_argument("--steps", type=int, help="denoising steps (default 20; --tiny 2)")
    parser.add_argument("--train-batch", type=int, help="training rows per step (default 16, the recipes' "
                        "micro-batch on a real model; --tiny 2)")
    parser.add_argument("--rank", type=int, default=32, help="adapter rank (MI-Tune's)")
    args = parser.parse_args()
    batch, steps, train_batch = (args.batch or (2 if args.tiny else 8), args.steps or (2 if args.tiny else 20),
                                 args.train_batch or (2 if args.tiny else 16))
    device = ["--device", "cpu"] if args.tiny else []
    import torch

    result = {"gpu": torch.cuda.get_device_name() if torch.cuda.is_available() and not args.tiny else None,
              "torch": torch.__version__, "tiny": args.tiny}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / ("tiny-sd21" if args.tiny else "sd21-base-random")
        result["model"] = build(folder, args.tiny)
        result["build_s"] = round(time.perf_counter() - t0, 1)
        result["sampler"] = run_json([str(HERE / "sampler_throughput.py"), "--model", str(folder), "--batch",
                                      str(batch), "--steps", str(steps), "--repeats", "2"])
        result["training"] = []
        for adapter in ("lora", "dora"):
            for checkpointing in (False, True):
                row = run_json([str(HERE / "train_memory.py"), "--model", str(folder), "--batch", str(train_batch),
                                "--adapter", adapter, "--rank", str(args.rank), *device,
                                "--one", "bf16", str(int(checkpointing)), "1"])
                result["training"].append({"adapter": adapter, "gradient_checkpointing": checkpointing, **row})
    result["total_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
