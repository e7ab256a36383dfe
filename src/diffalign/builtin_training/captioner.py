"""The built-in captioner (the shapes-world BLIP-2 stand-in): a tiny `BlipForConditionalGeneration`
trained from scratch on renders, so the built-in and the real caption reward share one code path.

Targets are full descriptions of what was drawn (every attribute filled in from the render), so a
caption is a function of the image; inputs are augmented to look like the diffusion model's
outputs (a round trip through the built-in VAE, blur, noise).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import BertTokenizerFast, BlipConfig, BlipForConditionalGeneration, BlipProcessor
from transformers.models.blip import BlipImageProcessorPil

from ..world.prompts import is_held_out
from ..world.render import PlacedObject, render_prompt
from ..world.spec import PromptSpec
from ..world.vocab import IMAGE_SIZE, words
from .configs import MAX_TOKENS
from .data import SceneStream

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]


def build_processor(directory: Path) -> BlipProcessor:
    """A word-level BERT tokenizer over the world's words plus a 64x64 image processor, saved to directory."""
    directory.mkdir(parents=True, exist_ok=True)
    vocab = {w: i for i, w in enumerate(SPECIALS + words())}
    tokenizer = BertTokenizerFast(vocab=vocab, do_lower_case=True, model_max_length=MAX_TOKENS, bos_token="[DEC]")
    images = BlipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, image_mean=[0.5] * 3,
                                image_std=[0.5] * 3)
    processor = BlipProcessor(image_processor=images, tokenizer=tokenizer)
    processor.save_pretrained(directory)
    return processor


def make_captioner(tokenizer) -> BlipForConditionalGeneration:
    """~1.6M parameters: a 4-layer ViT on 8x8 patches and a 3-layer decoder with cross-attention."""
    width = 128
    tower = dict(hidden_size=width, intermediate_size=4 * width, num_attention_heads=4)
    config = BlipConfig(
        vision_config=dict(image_size=IMAGE_SIZE, patch_size=8, num_hidden_layers=4, **tower),
        text_config=dict(vocab_size=len(tokenizer), num_hidden_layers=3, encoder_hidden_size=width,
                         max_position_embeddings=MAX_TOKENS, label_smoothing=0.0,
                         bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id,
                         sep_token_id=tokenizer.sep_token_id, eos_token_id=tokenizer.sep_token_id, **tower),
        projection_dim=width,
    )
    return BlipForConditionalGeneration(config)


def describe(spec: PromptSpec, objects: list[PlacedObject]) -> str:
    """The spec with every attribute the prompt left open filled in from the drawn objects (groups in order)."""
    first, filled = 0, []
    for group in spec.objects:
        drawn = objects[first]
        filled.append(replace(group, color=drawn.color, size=drawn.size, texture=drawn.texture))
        first += group.count
    return replace(spec, objects=tuple(filled)).text()


def scene_batch(stream: SceneStream, n: int) -> tuple[np.ndarray, list[str]]:
    """n renders of fresh train-distribution prompts and their full descriptions."""
    images, captions = [], []
    while len(images) < n:
        spec = stream.spec()
        image, objects = render_prompt(spec, int(stream.rng.integers(2**31)))
        caption = describe(spec, objects)
        if not is_held_out(caption):  # filling in attributes can spell a held-out prompt (a single object)
            images.append(image)
            captions.append(caption)
    return np.stack(images), captions


@torch.no_grad()
def augment(x: torch.Tensor, vae, gen: torch.Generator) -> torch.Tensor:
    """Make renders look generated: 30% go through the VAE (posterior sample), a third get a 3x3 blur,
    all get a little Gaussian noise. x is N x 3 x H x W in [-1, 1]."""
    n = len(x)
    x = x.clone()
    trip = torch.rand(n, generator=gen) < 0.3
    if trip.any() and vae is not None:
        z = vae.encode(x[trip]).latent_dist.sample(generator=gen)
        x[trip] = vae.decode(z).sample.clamp(-1, 1)
    blur = torch.rand(n, generator=gen) < 0.33
    if blur.any():
        kernel = torch.tensor([1.0, 2.0, 1.0])
        kernel = (kernel[:, None] * kernel[None, :] / 16).expand(3, 1, 3, 3)
        x[blur] = F.conv2d(F.pad(x[blur], (1, 1, 1, 1), mode="replicate"), kernel, groups=3)
    sigma = 0.05 * torch.rand(n, 1, 1, 1, generator=gen)
    return (x + sigma * torch.randn(x.shape, generator=gen)).clamp(-1, 1)


def caption_loss(model, tokenizer, pixels: torch.Tensor, captions: list[str]) -> torch.Tensor:
    """Teacher-forced cross-entropy, as BLIP fine-tuning does it: [DEC] replaces [CLS], pads are ignored."""
    tokens = tokenizer(captions, padding="longest", truncation=True, return_tensors="pt")
    input_ids = tokens.input_ids.clone()
    input_ids[:, 0] = tokenizer.bos_token_id
    labels = input_ids.masked_fill(tokens.attention_mask == 0, -100)
    return model(pixel_values=pixels, input_ids=input_ids, attention_mask=tokens.attention_mask, labels=labels).loss

