"""`diffalign world train --stage vqa|aesthetics|captioner`: the built-in scorers, trained on the shipped model's
parts.

The three stages read the shipped VAE (the aesthetics head also its CLIP) of the built-in model, so run them
after it is assembled. Like the model stages they keep state under WORK/<stage>/ and resume from it; the final
weights go to WORK/<stage>/final and are copied to the shipped scorer folder (`--scorers-out`).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from ..io import load_tensors, save_tensors
from ..scorers.aesthetics import AestheticMLP, clip_embeddings
from ..scorers.shapes_vqa import ShapesVQA
from ..world.render import PlacedObject
from ..builtin import BUILTIN_MODEL_DIR
from .checkpoint import load_state
from ..images import to_tensor, to_uint8
from .data import SceneStream
from .degrade import add_noise, blur, degrade
from .train import StageConfig, _loop, warmup_cosine
from .vqa_data import build_vqa_cache, parse_labels, vae_round_trip

log = logging.getLogger(__name__)
SCORER_DEFAULTS = {
    "vqa": dict(steps=1200, batch=128, lr=2e-3),
    "aesthetics": dict(steps=4000, batch=256, lr=1e-3),
    "captioner": dict(steps=1400, batch=32, lr=1e-3),
}
CLEAN_SCORE, WORST_SCORE = 9.0, 1.0  # aesthetics targets on LAION's 1-10 scale: clean renders vs fully degraded


def _shipped_vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(str(BUILTIN_MODEL_DIR / "vae")).eval()


def train_vqa(cfg: StageConfig, cache_size: int = 12_288) -> Path:
    torch.manual_seed(cfg.seed)
    cache = build_vqa_cache(cfg.work / "vqa" / "data.safetensors", _shipped_vae(), cache_size, cfg.seed)
    tensors, scenes = load_tensors(cache, "objects")
    images = tensors["images"]
    model = ShapesVQA()
    labels = [parse_labels([PlacedObject(**o) for o in objects], model.config.grid) for objects in scenes]
    parts, centres, offsets = (torch.from_numpy(np.stack(x)) for x in zip(*labels))
    parts = parts.long()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, cfg.steps, warmup=100, floor=0.05))
    start = load_state(cfg.work / "vqa" / "state.pt", model=model, opt=opt, sched=sched)
    rng = np.random.default_rng(cfg.seed + start)
    gen = torch.Generator().manual_seed(cfg.seed + start)

    def step(i: int) -> float:
        idx = torch.from_numpy(rng.integers(0, len(images), cfg.batch))
        x = to_tensor(images[idx].numpy())
        x = blur(x, torch.where(torch.rand(len(x), generator=gen) < 0.5, torch.rand(len(x), generator=gen), 0.0))
        x = add_noise(x, 0.06 * torch.rand(len(x), generator=gen), gen)
        centre, offset, part_logits = model.split(model(x))
        target = centres[idx]
        loss = F.binary_cross_entropy_with_logits(centre, target, pos_weight=torch.tensor(20.0))
        loss = loss + (F.l1_loss(offset, offsets[idx], reduction="none").sum(1) * target).sum() / target.sum()
        for k, logits in enumerate(part_logits):  # object cells are ~10 %: background must not drown them
            weight = torch.ones(logits.shape[1])
            weight[0] = 0.05
            loss = loss + F.cross_entropy(logits, parts[idx, k], weight=weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        return loss.item()

    model.train()
    _loop(cfg, "vqa", step, start, {"model": model, "opt": opt, "sched": sched})
    model.eval().save(cfg.work / "vqa" / "final")
    return cfg.work / "vqa" / "final"


def _aesthetics_data(path: Path, clip, n: int, seed: int, draws: int = 4) -> Path:
    """CLIP embeddings of n renders (half VAE-decoded), each clean and `draws - 1` times degraded, with targets."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    stream = SceneStream(seed, textured=False)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    vae = _shipped_vae()
    embeds, targets = [], []
    for k in range(n // 256):
        x, _ = stream.batch(256)
        if k % 2 == 0:
            x = to_tensor(vae_round_trip(vae, to_uint8(x), gen).numpy())
        for d in range(draws):
            severity = torch.zeros(len(x)) if d == 0 else 0.1 + 0.9 * torch.rand(len(x), generator=gen)
            y = x if d == 0 else degrade(x, severity, gen, rng)
            embeds.append(clip_embeddings(clip, y))
            targets.append(CLEAN_SCORE - (CLEAN_SCORE - WORST_SCORE) * severity)
        log.info("aesthetics data: %d / %d renders", (k + 1) * 256, n)
    save_tensors({"embeds": torch.cat(embeds), "targets": torch.cat(targets)}, path)
    return path


def train_aesthetics(cfg: StageConfig, n_renders: int = 4096) -> Path:
    from transformers import CLIPModel

    torch.manual_seed(cfg.seed)
    clip = CLIPModel.from_pretrained(str(BUILTIN_MODEL_DIR / "clip")).eval()
    data = _aesthetics_data(cfg.work / "aesthetics" / "data.safetensors", clip, n_renders, cfg.seed)
    tensors = load_file(data)
    embeds, targets = tensors["embeds"], tensors["targets"]
    head = AestheticMLP(embeds.shape[1], relu=True)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=1e-4)
    start = load_state(cfg.work / "aesthetics" / "state.pt", model=head, opt=opt)
    gen = torch.Generator().manual_seed(cfg.seed + start)

    def step(i: int) -> float:
        idx = torch.randint(0, len(embeds), (cfg.batch,), generator=gen)
        loss = F.mse_loss(head(embeds[idx]), targets[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    head.train()
    _loop(cfg, "aesthetics", step, start, {"model": head, "opt": opt})
    out = cfg.work / "aesthetics" / "final"
    out.mkdir(parents=True, exist_ok=True)
    save_tensors(dict(head.eval().state_dict()), out / "model.safetensors")
    return out


def install(final: Path, target: Path) -> None:
    """Copy a stage's final weights into the shipped scorer folder."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(final, target)
    log.info("scorer weights written to %s", target)


def train_captioner(cfg: StageConfig) -> Path:
    """Teacher-forced captioning on augmented renders; returns WORK/captioner/final (model + processor)."""
    from diffusers import AutoencoderKL

    from .captioner import augment, build_processor, caption_loss, make_captioner, scene_batch

    torch.manual_seed(cfg.seed)
    processor = build_processor(cfg.work / "captioner" / "processor")
    tokenizer = processor.tokenizer
    model = make_captioner(tokenizer)
    vae = AutoencoderKL.from_pretrained(BUILTIN_MODEL_DIR / "vae").eval()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, cfg.steps, warmup=100))
    start = load_state(cfg.work / "captioner" / "state.pt", model=model, opt=opt, sched=sched)
    stream = SceneStream(cfg.seed + 2 + start)
    gen = torch.Generator().manual_seed(cfg.seed + start)

    def step(i: int) -> float:
        images, captions = scene_batch(stream, cfg.batch)
        loss = caption_loss(model, tokenizer, augment(to_tensor(images), vae, gen), captions)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        return loss.item()

    _loop(cfg, "captioner", step, start, {"model": model, "opt": opt, "sched": sched})
    out = cfg.work / "captioner" / "final"
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out



SCORER_TRAINERS = {"vqa": train_vqa, "aesthetics": train_aesthetics, "captioner": train_captioner}
