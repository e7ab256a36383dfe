"""Training and test data of the built-in VQA model, all from the renderer's scenes.

The scene parser learns per-cell labels of renders (`parse_labels`); half the renders go through
the built-in VAE (encode, sample, decode) so they look like generated images. `scene_questions`
asks a scene the grammar questions of its own prompt (all "yes") and of prompts one change away
(perturb.one_change_variants and a swapped-binding hard negative), answered from the placed
objects; a question whose parent is "no" is not kept (DSG never asks it).
"""

from __future__ import annotations

import json
from dataclasses import asdict
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
from ..world.vocab import IMAGE_SIZE
from ..images import to_tensor, to_uint8
from .data import SceneStream, allowed, hard_negative
from ..questions.scene_answers import SceneObject, answer


def scene_questions(spec: PromptSpec, objects: list[SceneObject], generator: QuestionGenerator,
                    rng: np.random.Generator) -> list[tuple[str, str, bool]]:
    """(question, kind, answer) of the scene's prompt and its one-change neighbours, each question once."""
    specs = [spec, *(v for _, v in one_change_variants(spec, rng) if allowed(v)), hard_negative(spec, rng)]
    out: dict[str, tuple[str, bool]] = {}
    for s in specs:
        answers: dict[int, bool | None] = {}
        for q in generator.generate(s.text()).questions:
            a = answer(q, objects) if all(answers.get(p) for p in q.parents) else None
            answers[q.id] = a
            if a is not None:
                out.setdefault(q.text, (q.kind, a))
    return [(text, kind, a) for text, (kind, a) in out.items()]


def parse_labels(objects: list[PlacedObject], grid: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the scene parser learns, per cell of a grid x grid grid:
    - parts (len(PARTS) x g x g uint8): 1 + the index of the shape, colour, texture and size of the object
      drawn at the cell's centre pixel, 0 for background;
    - centres (g x g float): 1 in the cell holding an object's centre;
    - offsets (2 x g x g float): where in that cell the centre lies (x, y in cells, -0.5..0.5)."""
    full = np.zeros((len(PARTS), IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    centres = np.zeros((grid, grid), np.float32)
    offsets = np.zeros((2, grid, grid), np.float32)
    cell = IMAGE_SIZE / grid
    for o in objects:
        mask = shape_mask(o.shape, o.side)
        for k, (part, values) in enumerate(PARTS.items()):
            region = full[k, o.y : o.y + o.side, o.x : o.x + o.side]
            region[mask] = values.index(getattr(o, part)) + 1
        cx, cy = o.center[0] / cell, o.center[1] / cell
        x, y = min(int(cx), grid - 1), min(int(cy), grid - 1)
        centres[y, x] = 1
        offsets[:, y, x] = cx - x - 0.5, cy - y - 0.5
    step = IMAGE_SIZE // grid
    return full[:, step // 2 :: step, step // 2 :: step], centres, offsets


def build_vqa_cache(path: Path, vae, n: int, seed: int, chunk: int = 512) -> Path:
    """n renders (uint8) and their placed objects, chunk by chunk (resumable); every other chunk is
    VAE-decoded."""
    if path.exists():
        return path
    part_dir = path.parent / "vqa_parts"
    part_dir.mkdir(parents=True, exist_ok=True)
    for k in tqdm(range(n // chunk), desc="render vqa data", mininterval=10):
        part = part_dir / f"{k:04d}.safetensors"
        if part.exists():
            continue
        stream = SceneStream(seed * 100_003 + k, textured=k % 4 == 1)
        images, scenes = [], []
        for _ in range(chunk):
            image, placed = render_prompt(stream.spec(), int(stream.rng.integers(2**31)))
            images.append(image)
            scenes.append([asdict(o) for o in placed])
        x = torch.from_numpy(np.stack(images))
        if k % 2 == 0:
            x = vae_round_trip(vae, x, torch.Generator().manual_seed(k))
        save_tensors({"images": x}, part, metadata={"objects": json.dumps(scenes)})
    images, scenes = [], []
    for k in range(n // chunk):
        read, objects = load_tensors(part_dir / f"{k:04d}.safetensors", "objects")
        images.append(read["images"])
        scenes.extend(objects)
    save_tensors({"images": torch.cat(images)}, path, metadata={"objects": json.dumps(scenes)})
    return path


@torch.no_grad()
def vae_round_trip(vae, images: torch.Tensor, gen: torch.Generator | None, batch: int = 64) -> torch.Tensor:
    """uint8 NxHxWx3 through encoder and decoder: a posterior sample drawn with `gen`, or its mean if None."""
    out = []
    for s in range(0, len(images), batch):
        dist = vae.encode(to_tensor(images[s : s + batch].numpy()).to(vae.device, vae.dtype)).latent_dist
        x = vae.decode(dist.mode() if gen is None else dist.sample(generator=gen)).sample.float().cpu()
        out.append(to_uint8(x))
    return torch.cat(out)
