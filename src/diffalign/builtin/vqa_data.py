"""Training data of the built-in VQA model: renders with yes/no questions answered from their scenes.

Questions are the grammar questions of the scene's own prompt (all "yes") and of prompts one change
away from it (perturb.one_change_variants and a swapped-binding hard negative), answered from the
placed objects; a question whose parent is "no" is not kept (DSG never asks it). Half the renders go
through the built-in VAE (encode, sample, decode) so they look like generated images.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..io import load_tensors, save_tensors
from ..questions import QuestionGenerator
from ..scorers.shapes_vqa import PARTS
from ..world.perturb import one_change_variants
from ..world.render import PlacedObject, render_prompt, shape_mask
from ..world.spec import PromptSpec
from ..world.vocab import COLORS, IMAGE_SIZE, SHAPES, SIZES, TEXTURES
from .data import SceneStream, hard_negative, to_tensor
from .scene_answers import SceneObject, answer


def scene_questions(spec: PromptSpec, objects: list[SceneObject], generator: QuestionGenerator,
                    rng: np.random.Generator) -> list[tuple[str, str, bool]]:
    """(question, kind, answer) of the scene's prompt and its one-change neighbours, each question once."""
    specs = [spec, *(v for _, v in one_change_variants(spec, rng)), hard_negative(spec, rng)]
    out: dict[str, tuple[str, bool]] = {}
    for s in specs:
        answers: dict[int, bool | None] = {}
        for q in generator.generate(s.text()).questions:
            a = answer(q, objects) if all(answers.get(p) for p in q.parents) else None
            answers[q.id] = a
            if a is not None:
                out.setdefault(q.text, (q.kind, a))
    return [(text, kind, a) for text, (kind, a) in out.items()]


GRID = 16  # the VQA stem's grid: one part label per 4x4 pixel cell
_INDEX = {"shape": SHAPES, "color": COLORS, "texture": TEXTURES, "size": tuple(SIZES)}


def part_labels(objects: list[PlacedObject]) -> np.ndarray:
    """len(PARTS) x GRID x GRID uint8: per cell, 1 + the index of the shape, colour, texture and size of
    the object drawn at the cell's centre pixel, 0 for background."""
    full = np.zeros((len(PARTS), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    for o in objects:
        mask = shape_mask(o.shape, o.side)
        for k, part in enumerate(PARTS):
            region = full[k, o.y : o.y + o.side, o.x : o.x + o.side]
            region[mask] = _INDEX[part].index(getattr(o, part)) + 1
    step = IMAGE_SIZE // GRID
    return full[:, step // 2 :: step, step // 2 :: step]


def build_vqa_cache(path: Path, vae, n: int, seed: int, generator: QuestionGenerator, chunk: int = 512) -> Path:
    """n renders (uint8), their part labels and questions, chunk by chunk (resumable); every other chunk
    is VAE-decoded."""
    if path.exists():
        return path
    part_dir = path.parent / "vqa_parts"
    part_dir.mkdir(parents=True, exist_ok=True)
    for k in tqdm(range(n // chunk), desc="render vqa data", mininterval=10):
        part = part_dir / f"{k:04d}.safetensors"
        if part.exists():
            continue
        stream = SceneStream(seed * 100_003 + k, textured=k % 4 == 1)
        images, parts, questions = [], [], []
        for _ in range(chunk):
            spec = stream.spec()
            image, placed = render_prompt(spec, int(stream.rng.integers(2**31)))
            images.append(image)
            parts.append(part_labels(placed))
            questions.append(scene_questions(spec, [SceneObject.from_placed(o) for o in placed], generator,
                                             stream.rng))
        x = torch.from_numpy(np.stack(images))
        if k % 2 == 0:
            x = vae_round_trip(vae, x, torch.Generator().manual_seed(k))
        save_tensors({"images": x, "parts": torch.from_numpy(np.stack(parts))}, part,
                     metadata={"questions": json.dumps(questions)})
    tensors, questions = {"images": [], "parts": []}, []
    for k in range(n // chunk):
        read, qs = load_tensors(part_dir / f"{k:04d}.safetensors", "questions")
        for name, parts_so_far in tensors.items():
            parts_so_far.append(read[name])
        questions.extend(qs)
    save_tensors({name: torch.cat(v) for name, v in tensors.items()}, path,
                 metadata={"questions": json.dumps(questions)})
    return path


@torch.no_grad()
def vae_round_trip(vae, images: torch.Tensor, gen: torch.Generator, batch: int = 64) -> torch.Tensor:
    out = []
    for s in range(0, len(images), batch):
        dist = vae.encode(to_tensor(images[s : s + batch].numpy())).latent_dist
        x = vae.decode(dist.mean + dist.std * torch.randn(dist.mean.shape, generator=gen)).sample
        out.append(((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1))
    return torch.cat(out)
