"""The model-family interface: everything the sampler, the hooks, the MI scorer, the trainer, adapters,
personalization and the pool need to know about a diffusers text-to-image pipeline, in one place per family.

A family is a subclass of `Family`, one file per family in this package (`sd.py`, `sdxl.py`, ...), registered in
`families/__init__.py` under its diffusers pipeline class name (`model_index.json`'s `_class_name`). Callers never
touch `pipe.unet`, `pipe.text_encoder` or a scheduler's noise schedule directly; they call `family_of(pipe)` and
use what it offers. What a new family implements:

- class attributes: `pipeline_class` (the diffusers class name, which also saves its LoRA files),
  `description` (for the refusal message), `components` (pipeline parts that must be present),
  `denoiser_name` ("unet" or "transformer": the module adapters attach to and the LoRA key prefix),
  `text_encoder_targets` (text encoder name -> LoRA target modules, for `adapter.text_encoder`),
  `lora_targets` (the denoiser's default LoRA targets), `default_guidance` (the diffusers pipeline's default).
- `encode(prompts) -> Conditioning`: what the denoiser is conditioned on, with gradients when enabled (the
  trainer's text-encoder adapter needs them; `sampling.encode_prompts` is the no-grad call). The empty prompt ""
  encodes to the family's unconditional conditioning: classifier-free guidance's other branch and MI's null prompt.
- `denoise(latents, t, cond) -> prediction`: the raw model output for B x C x h x w latents (pack/unpack inside
  if the denoiser wants tokens), `t` a scalar or a B-vector of training-grid timesteps (0..T-1; flow matching:
  sigma * T), `cond` a Conditioning of B rows.
- the training (forward) process on that grid: `num_train_timesteps`, `draw_timesteps(n, generator)` (the
  trainer's t, one CPU-generator call), `add_noise(z0, noise, t)` (z_t), `target(z0, noise, t)` (what `denoise`
  is trained to output: epsilon, v or velocity), `to_epsilon(output, x_t, t)` (the prediction as the noise it
  implies: hooks and MI always see epsilon), `mi_weight(t, variant)` (the float64 weight of
  ||eps(z_t, p) - eps(z_t, "")||^2 in the point-wise MI estimate at t; variants "official" and "paper").
- `latent_shape` (C x h x w of one sample's initial noise, drawn per sample as diffusers draws it).
- optionally `set_timesteps(scheduler, steps, device)` (e.g. Flux's resolution-dependent shift) and
  `from_vae` / `to_vae` (defaults: the VAE's scaling_factor and shift_factor).
Adapters (`save_lora`) and image encode/decode are generic here: a family only overrides them when its diffusers
pipeline stores something differently.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

ATTENTION_PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")  # every diffusers attention block's projections
CLIP_TEXT_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")  # a CLIP text encoder's attention


@dataclass(frozen=True)
class Conditioning:
    """What a family's denoiser is conditioned on, batch-first in every field: cat/slice/move it like a tensor;
    `rows` and `from_rows` store it one prompt at a time (the pool). Fields a family does not use stay None."""

    prompt_embeds: torch.Tensor  # B x L x D text tokens the denoiser attends to
    pooled_embeds: torch.Tensor | None = None  # B x D' pooled text vector (SDXL, SD3, Flux)
    time_ids: torch.Tensor | None = None  # B x k micro-conditioning (SDXL: original size, crop, target size)
    text_ids: torch.Tensor | None = None  # B x L x 3 text token positions (Flux)
    guidance: torch.Tensor | None = None  # B guidance scales a guidance-distilled denoiser takes as input (Flux)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The fields that are set, by name."""
        return {f.name: v for f in dataclasses.fields(self) if (v := getattr(self, f.name)) is not None}

    def map(self, fn) -> Conditioning:
        return Conditioning(**{name: fn(v) for name, v in self.tensors().items()})

    def __len__(self) -> int:
        return len(self.prompt_embeds)

    def __getitem__(self, index) -> Conditioning:
        """Rows, as tensor indexing gives them (a slice or an index tensor keeps the batch axis)."""
        return self.map(lambda v: v[index])

    def to(self, device=None, dtype: torch.dtype | None = None) -> Conditioning:
        """Moved, and floating-point fields cast to `dtype` when given."""
        return self.map(lambda v: v.to(device, dtype) if dtype is not None and v.is_floating_point()
                        else v.to(device))

    def expand(self, n: int) -> Conditioning:
        """A one-row conditioning as n rows (a view, like Tensor.expand)."""
        return self.map(lambda v: v.expand(n, *v.shape[1:]))

    @staticmethod
    def cat(parts: list[Conditioning]) -> Conditioning:
        names = parts[0].tensors().keys()
        return Conditioning(**{name: torch.cat([p.tensors()[name] for p in parts]) for name in names})

    def rows(self) -> list[dict[str, torch.Tensor]]:
        """Per row, its fields without the batch axis."""
        return [{name: v[i] for name, v in self.tensors().items()} for i in range(len(self))]

    @staticmethod
    def from_rows(rows: list[dict[str, torch.Tensor]]) -> Conditioning:
        return Conditioning(**{name: torch.stack([r[name] for r in rows]) for name in rows[0]})


FIELDS = tuple(f.name for f in dataclasses.fields(Conditioning))


class Family:
    """One model family (see the module docstring for what a subclass implements); wraps a loaded pipeline and
    reads its parts when called, so a caller that swaps `pipe.scheduler` or `pipe.unet` is followed."""

    pipeline_class: ClassVar[str]
    description: ClassVar[str]
    components: ClassVar[tuple[str, ...]]
    denoiser_name: ClassVar[str] = "unet"
    text_encoder_targets: ClassVar[dict[str, tuple[str, ...]]] = {}
    lora_targets: ClassVar[tuple[str, ...]] = ATTENTION_PROJECTIONS
    default_guidance: ClassVar[float]
    # the guidance scale is an input of the denoiser (Conditioning.guidance), not classifier-free guidance: the
    # sampler makes one pass per step, and an unconditional one only for hooks that need it (Flux)
    guidance_distilled: ClassVar[bool] = False
    # the order of an MMDiT's joint attention sequence (sampling/attention.py): [image; text] (SD3) or [text; image]
    joint_text_first: ClassVar[bool] = False
    # the DDPM-family schedulers --scheduler names (sampling.schedulers) fit its denoiser; a flow model samples with
    # its folder's flow-matching scheduler only
    named_schedulers: ClassVar[bool] = True
    # its pipeline's LoRA files hold diffusers' UNet-era keys (lora.down / lora.up, convert_state_dict_to_diffusers);
    # the transformer pipelines' (SD3, Flux) load peft's own keys (lora_A / lora_B) and drop the others
    unet_lora_keys: ClassVar[bool] = True
    # extra from_pretrained arguments (Stable Diffusion: no safety checker, which would black out generated images)
    load_kwargs: ClassVar[dict] = {}

    def __init__(self, pipe) -> None:
        self.pipe = pipe

    # -- parts -------------------------------------------------------------------------------------------------

    @property
    def denoiser(self) -> torch.nn.Module:
        return getattr(self.pipe, self.denoiser_name)

    def text_encoders(self) -> dict[str, torch.nn.Module]:
        """The text encoders an adapter may adapt, by pipeline component name."""
        return {name: getattr(self.pipe, name) for name in self.text_encoder_targets}

    def modules(self) -> dict[str, torch.nn.Module]:
        """Every module an adapter may live in: the denoiser first, then the text encoders."""
        return {self.denoiser_name: self.denoiser, **self.text_encoders()}

    @property
    def tokenizer(self):
        """The tokenizer whose positions index `Conditioning.prompt_embeds` (re-weighting, attention masks)."""
        return self.pipe.tokenizer

    # -- what a family implements --------------------------------------------------------------------------------

    def encode(self, prompts: list[str]) -> Conditioning:
        raise NotImplementedError

    def denoise(self, latents: torch.Tensor, t: torch.Tensor, cond: Conditioning) -> torch.Tensor:
        raise NotImplementedError

    @property
    def num_train_timesteps(self) -> int:
        raise NotImplementedError

    def draw_timesteps(self, n: int, generator: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def add_noise(self, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def target(self, z0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def to_epsilon(self, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def mi_weight(self, t: torch.Tensor, variant: str = "official") -> torch.Tensor:
        raise NotImplementedError

    @property
    def latent_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    # -- defaults a family may override ------------------------------------------------------------------------

    def mi_spans(self, timesteps: torch.Tensor) -> torch.Tensor | None:
        """Per visited timestep, its weight in the sampling hook's MI average; None: equal weights (timesteps
        evenly spaced on the training grid). Flow samplers' shifted sigmas are not, so theirs are Riemann spans."""
        return None

    def set_timesteps(self, scheduler, steps: int, device) -> None:
        scheduler.set_timesteps(steps, device=device)

    @property
    def image_size(self) -> int:
        """The side in pixels of the images the model makes by default."""
        return self.latent_shape[-1] * self.pipe.vae_scale_factor

    def from_vae(self, z: torch.Tensor) -> torch.Tensor:
        """A VAE latent as the denoiser sees it: (z - shift_factor) * scaling_factor."""
        config = self.pipe.vae.config
        shift = config.get("shift_factor")
        return (z - shift) * config.scaling_factor if shift is not None else z * config.scaling_factor

    def to_vae(self, z: torch.Tensor) -> torch.Tensor:
        config = self.pipe.vae.config
        shift = config.get("shift_factor")
        return z / config.scaling_factor + shift if shift is not None else z / config.scaling_factor

    def save_lora(self, out: Path, layers: dict[str, dict[str, torch.Tensor]], metadata: dict[str, dict]) -> None:
        """Diffusers LoRA files that `<pipeline_class>.load_lora_weights(out)` reads: layers and peft metadata by
        component name (the denoiser's, the text encoders')."""
        import diffusers

        getattr(diffusers, self.pipeline_class).save_lora_weights(
            out, **{f"{name}_lora_layers": v for name, v in layers.items()},
            **{f"{name}_lora_adapter_metadata": v for name, v in metadata.items()})
