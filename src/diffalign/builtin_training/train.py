"""`diffalign world train --stage vae|clip|unet|assemble`: the stages that build the built-in model folder.

vae, clip (optionally continuing a model's CLIP with relation / texture / axis twins and a text anchor) and unet
(optionally from an assembled model, with binding noise in its captions) each keep their state under
WORK/<stage>/ and resume from it; `assemble` writes the standard diffusers pipeline folder (loadable with
DiffusionPipeline.from_pretrained). The built-in scorers (vqa, aesthetics, captioner) train in train_scorers.py.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..io import load_tensors, save_tensors
from .checkpoint import load_state, save_state
from .configs import make_clip, make_train_scheduler, make_unet, make_vae
from .data import SceneStream, binding_noise, contrastive_batch
from .tokenizer import build_tokenizer
from ..world.vocab import RELATIONS

log = logging.getLogger(__name__)
STAGES = ("vae", "clip", "unet")  # the pipeline; the built-in scorers train in train_scorers.py


@dataclass
class StageConfig:
    work: Path
    steps: int
    batch: int
    lr: float
    seed: int = 0
    save_every: int = 200
    init_from: Path | None = None  # an assembled model folder: its UNet (unet stage) or decoder (vae stage) continues
    cache_size: int = 24_576  # unet stage: encoded renders it trains on
    latent_noise: float = 0.0  # vae stage: max std of noise added to the scaled latents the decoder reads
    twins: dict[str, int] = field(default_factory=dict)  # clip stage: twins per batch by kind (data.contrastive_batch)
    anchor: float = 0.0  # clip stage with init_from: weight of TextAnchor (0: none)
    caption_swap: float = 0.0  # unet stage: share of two-group captions bound the wrong way (data.binding_noise)


DEFAULTS = {
    "vae": dict(steps=4000, batch=16, lr=1e-3),
    "clip": dict(steps=1800, batch=64, lr=5e-4),
    "unet": dict(steps=6000, batch=64, lr=4e-4),
}


def _loop(cfg: StageConfig, stage: str, step_fn, start: int, state_objects: dict) -> None:
    state_path = cfg.work / stage / "state.pt"
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc=f"train {stage}", mininterval=10)
    t0 = time.time()
    for step in bar:
        loss = step_fn(step)
        bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        if (step + 1) % cfg.save_every == 0 or step + 1 == cfg.steps:
            save_state(state_path, step + 1, **state_objects)
    log.info("stage %s: %d steps in %.0f s, state in %s", stage, cfg.steps - start, time.time() - t0, state_path)


def edge_loss(recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L1 between image gradients: keeps edges and stripe patterns sharp, which MSE alone blurs."""
    dx = lambda im: im[..., :, 1:] - im[..., :, :-1]  # noqa: E731
    dy = lambda im: im[..., 1:, :] - im[..., :-1, :]  # noqa: E731
    return F.l1_loss(dx(recon), dx(x)) + F.l1_loss(dy(recon), dy(x))


def train_vae(cfg: StageConfig) -> None:
    """Reconstruction training from scratch; with `cfg.init_from` only that model's decoder is trained. Its
    encoder, and so the latent space its UNet was trained in, stays fixed (as in Stability's sd-vae-ft-mse), so
    the fine-tuned decoder draws sharper images from the same UNet. `cfg.latent_noise` perturbs the latents
    the decoder reads (std uniform in [0, latent_noise] per image, in the UNet's scaled units), so that it maps
    the slightly-off latents a UNet samples onto clean renders instead of drawing their errors."""
    from diffusers import AutoencoderKL

    torch.manual_seed(cfg.seed)
    if cfg.init_from is not None:
        seed_work_from_model(cfg.work, cfg.init_from, ("clip", "unet"))
        vae = AutoencoderKL.from_pretrained(cfg.init_from / "vae")
        vae.encoder.requires_grad_(False)
        vae.quant_conv.requires_grad_(False)
    else:
        vae = make_vae()
    opt = torch.optim.AdamW([p for p in vae.parameters() if p.requires_grad], lr=cfg.lr)
    start = load_state(cfg.work / "vae" / "state.pt", model=vae, opt=opt)
    stream = SceneStream(cfg.seed + start, textured=True)

    def step(i: int) -> float:
        x, _ = stream.batch(cfg.batch)
        with torch.set_grad_enabled(cfg.init_from is None):
            posterior = vae.encode(x).latent_dist
        z = posterior.sample()
        sigma = cfg.latent_noise / vae.config.scaling_factor * torch.rand(len(z), 1, 1, 1)
        recon = vae.decode(z + sigma * torch.randn_like(z)).sample
        loss = (F.mse_loss(recon, x) + 0.5 * F.l1_loss(recon, x) + edge_loss(recon, x)
                + 1e-6 * posterior.kl().mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    _loop(cfg, "vae", step, start, {"model": vae, "opt": opt})
    if cfg.init_from is None:
        with torch.no_grad():  # scale latents to unit variance, as Stable Diffusion's scaling_factor does
            x, _ = stream.batch(1024)
            std = vae.encode(x).latent_dist.sample().std().item()
        vae.register_to_config(scaling_factor=1.0 / std)
    vae.save_pretrained(cfg.work / "vae" / "final")


@dataclass
class TextAnchor:
    """Keeps a continued CLIP's text states where they were on captions without a relation: the UNet read the
    old states, so a relation training that moves them (texture separation 0.81 -> 0.55) costs it what it knew
    of everything else. The penalty is the squared distance of the per-token states (padding included: the
    UNet reads it) to the reference text tower's, relative to their squared norm, times `weight`."""

    reference: torch.nn.Module  # the text tower before this training, frozen
    weight: float

    @classmethod
    def from_clip(cls, folder: Path, weight: float) -> TextAnchor:
        """Anchor to the text tower of the CLIPModel saved in `folder`."""
        from transformers import CLIPModel

        return cls(CLIPModel.from_pretrained(folder).text_model.eval(), weight)

    def __call__(self, input_ids: torch.Tensor, states: torch.Tensor, texts: list[str]) -> torch.Tensor:
        keep = torch.tensor([not any(phrase in t for phrase in RELATIONS) for t in texts])
        if not keep.any():
            return states.new_zeros(())
        with torch.no_grad():
            target = self.reference(input_ids[keep]).last_hidden_state
        return self.weight * ((states[keep] - target) ** 2).sum(-1).mean() / (target ** 2).sum(-1).mean()


def clip_loss(model, tokenizer, images: torch.Tensor, captions: list[str], negatives: list[str],
              anchor: TextAnchor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE; each image also competes against its own hard-negative caption."""
    tokens = tokenizer(captions + negatives, padding="max_length", truncation=True, return_tensors="pt")
    out = model(input_ids=tokens.input_ids, pixel_values=images)
    n = len(captions)
    per_image = out.logits_per_image  # n x 2n
    target = torch.arange(n)
    loss = (F.cross_entropy(per_image, target) + F.cross_entropy(per_image[:, :n].T, target)) / 2
    if anchor is not None:
        loss = loss + anchor(tokens.input_ids, out.text_model_output.last_hidden_state, captions + negatives)
    return loss


def train_clip(cfg: StageConfig) -> None:
    """Contrastive training from scratch; with `cfg.init_from` it continues that model's CLIP (and keeps its
    tokenizer), which is how relations were taught to a CLIP that had learnt attributes only."""
    from transformers import CLIPModel, CLIPTokenizer

    torch.manual_seed(cfg.seed)
    if cfg.init_from is None:
        tokenizer = build_tokenizer(cfg.work / "clip" / "tokenizer")
        model = make_clip(len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id)
    else:
        shutil.copytree(cfg.init_from / "tokenizer", cfg.work / "clip" / "tokenizer", dirs_exist_ok=True)
        tokenizer = CLIPTokenizer.from_pretrained(cfg.work / "clip" / "tokenizer")
        model = CLIPModel.from_pretrained(cfg.init_from / "clip")
    anchor = None
    if cfg.anchor:
        if cfg.init_from is None:
            raise ValueError("the text anchor keeps a continued CLIP's states: it needs init_from")
        anchor = TextAnchor.from_clip(cfg.init_from / "clip", cfg.anchor)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.1)
    start = load_state(cfg.work / "clip" / "state.pt", model=model, opt=opt)
    stream = SceneStream(cfg.seed + 1 + start)

    def step(i: int) -> float:
        loss = clip_loss(model, tokenizer, *contrastive_batch(stream, cfg.batch, cfg.twins), anchor=anchor)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    _loop(cfg, "clip", step, start, {"model": model, "opt": opt})
    model.save_pretrained(cfg.work / "clip" / "final")


def seed_work_from_model(work: Path, model_dir: Path, components=("vae", "clip")) -> None:
    """Make an assembled model's components the finished stages of `work` (its tokenizer goes with clip), so
    a stage can continue a shipped model after the model's own work folder is gone."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPModel

    loaders = {"vae": AutoencoderKL, "clip": CLIPModel, "unet": UNet2DConditionModel}
    for name in components:
        if not (work / name / "final").exists():
            loaders[name].from_pretrained(model_dir / name).save_pretrained(work / name / "final")
    if "clip" in components:
        shutil.copytree(model_dir / "tokenizer", work / "clip" / "tokenizer", dirs_exist_ok=True)


def _load_frozen(work: Path):
    from diffusers import AutoencoderKL
    from transformers import CLIPModel, CLIPTokenizer

    for stage in ("vae", "clip"):
        if not (work / stage / "final").exists():
            raise SystemExit(f"stage {stage} has not finished in {work}: run `diffalign world train --stage {stage}`")
    vae = AutoencoderKL.from_pretrained(work / "vae" / "final").eval()
    clip = CLIPModel.from_pretrained(work / "clip" / "final").eval()
    tokenizer = CLIPTokenizer.from_pretrained(work / "clip" / "tokenizer")
    return vae, clip, tokenizer


def load_latents(path: Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Latent tensors and their captions (kept in the file's metadata), read in one open."""
    return load_tensors(path, "captions")


def build_latent_cache(work: Path, vae, n: int, seed: int, chunk: int = 512) -> Path:
    """Encode n renders once (posterior mean and std), chunk by chunk, resumable."""
    path = work / "unet" / f"latents-{n}.safetensors"
    if path.exists():
        return path
    parts_dir = work / "unet" / "latent_parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    captions_all: list[str] = []
    for k in tqdm(range(n // chunk), desc="encode latents", mininterval=10):
        part = parts_dir / f"{k:04d}.safetensors"
        if not part.exists():
            stream = SceneStream(seed * 100_003 + k)
            x, specs = stream.batch(chunk)
            with torch.no_grad():
                dist = vae.encode(x).latent_dist
            save_tensors({"mean": dist.mean, "std": dist.std}, part,
                         metadata={"captions": json.dumps([s.text() for s in specs])})
    means, stds = [], []
    for k in range(n // chunk):
        tensors, captions = load_latents(parts_dir / f"{k:04d}.safetensors")
        captions_all.extend(captions)
        means.append(tensors["mean"])
        stds.append(tensors["std"])
    save_tensors({"mean": torch.cat(means), "std": torch.cat(stds)}, path,
                 metadata={"captions": json.dumps(captions_all)})
    return path


def warmup_cosine(step: int, total: int, warmup: int = 300, floor: float = 0.1) -> float:
    """LR factor: linear warm-up, then cosine decay to `floor` at `total` (the last steps sharpen samples)."""
    cosine = 0.5 * (1 + math.cos(math.pi * min(step, total) / total))
    return min(1.0, (step + 1) / warmup) * (floor + (1 - floor) * cosine)


def train_unet(cfg: StageConfig, caption_dropout: float = 0.1) -> None:
    """Epsilon-prediction training on cached latents; with `cfg.init_from` it continues that model's UNet
    (raw and EMA weights both start from it) under a fresh warm-up + cosine schedule of `cfg.steps`."""
    from diffusers import UNet2DConditionModel
    from diffusers.training_utils import EMAModel

    torch.manual_seed(cfg.seed)
    if cfg.init_from is not None:
        seed_work_from_model(cfg.work, cfg.init_from)
    vae, clip, tokenizer = _load_frozen(cfg.work)
    cache = build_latent_cache(cfg.work, vae, cfg.cache_size, cfg.seed)
    tensors, captions = load_latents(cache)
    scale = vae.config.scaling_factor
    text_model = clip.text_model
    unet = UNet2DConditionModel.from_pretrained(cfg.init_from / "unet") if cfg.init_from else make_unet()
    ema = EMAModel(unet.parameters(), decay=0.999, use_ema_warmup=True, power=0.75)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, cfg.steps))
    noise_scheduler = make_train_scheduler()
    start = load_state(cfg.work / "unet" / "state.pt", model=unet, ema=ema, opt=opt, sched=sched)
    gen = torch.Generator().manual_seed(cfg.seed + start)
    rng = np.random.default_rng(cfg.seed + start)

    def step(i: int) -> float:
        idx = torch.from_numpy(rng.integers(0, len(captions), cfg.batch))
        mean, std = tensors["mean"][idx], tensors["std"][idx]
        z0 = (mean + std * torch.randn(mean.shape, generator=gen)) * scale
        texts = [captions[j] for j in idx.tolist()]
        if cfg.caption_swap:
            texts = binding_noise(texts, cfg.caption_swap, rng)
        texts = ["" if rng.random() < caption_dropout else t for t in texts]
        with torch.no_grad():
            tok = tokenizer(texts, padding="max_length", truncation=True, return_tensors="pt")
            cond = text_model(tok.input_ids).last_hidden_state
        noise = torch.randn(z0.shape, generator=gen)
        t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (cfg.batch,), generator=gen)
        pred = unet(noise_scheduler.add_noise(z0, noise, t), t, cond).sample
        loss = F.mse_loss(pred, noise)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        sched.step()
        ema.step(unet.parameters())
        return loss.item()

    _loop(cfg, "unet", step, start, {"model": unet, "ema": ema, "opt": opt, "sched": sched})
    ema.copy_to(unet.parameters())
    unet.save_pretrained(cfg.work / "unet" / "final")


def assemble(work: Path, out: Path) -> Path:
    """Write the standard diffusers folder: vae, text_encoder, tokenizer, unet, scheduler (+ clip/ for scorers)."""
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    vae, clip, tokenizer = _load_frozen(work)
    text_encoder = CLIPTextModel(clip.config.text_config)
    getattr(text_encoder, "text_model", text_encoder).load_state_dict(clip.text_model.state_dict())
    unet = UNet2DConditionModel.from_pretrained(work / "unet" / "final")
    scheduler = DPMSolverMultistepScheduler.from_config(make_train_scheduler().config)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(out)
    for name in ("vocab.json", "merges.txt"):  # the BPE files too, for transformers versions without tokenizer.json
        shutil.copy(work / "clip" / "tokenizer" / name, out / "tokenizer" / name)
    clip.save_pretrained(out / "clip")
    log.info("built-in model written to %s", out)
    return out


TRAINERS = {"vae": train_vae, "clip": train_clip, "unet": train_unet}
