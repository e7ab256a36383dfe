"""DreamBlend's cross-attention guidance: sample an edit (late, overfit) checkpoint while pulling its
cross-attention maps toward those of a guide (early, underfit) checkpoint started from the same noise. On an MMDiT
(SD3, Flux) the maps are the image-to-text part of its joint attention (attention.py), the same per-pixel
distributions over the prompt's tokens.

Both checkpoints are LoRA adapters of one base, so a single denoiser holds both and the hook switches
the active adapter (diffusers `set_adapters`) between the guide and the edit passes instead of
loading two denoisers. At each of the first `steps` denoising steps it
1. advances the guide's own trajectory z^G one step (CFG, its own copy of the scheduler and of the
   per-sample generators) and records the guide's cross-attention A_G (prompt rows);
2. runs the edit adapter on z^E with gradients, records A_E and takes one gradient step
   z^E <- z^E - grad_z [alpha * D], D = sum over layers of mean over heads and pixels of
   sum over tokens |A_E - A_G| (the L1 distance of the per-pixel token distributions, in [0, 2] per layer);
then the sampler makes its normal CFG step from the moved z^E with the edit adapter.
Cost per guided step: the guide's CFG pass, one conditional edit pass with backward, and the usual
CFG pass (about 3.5x a plain step); unguided steps cost the same as plain sampling.

Local blending (`local_blend`, an addition to DreamBlend in the manner of Prompt-to-Prompt's local blend):
the edit checkpoint keeps the subject's look but repaints the rest of the picture in its last, low-noise
steps, where no attention map can steer it. With a threshold set, the guide runs every step, and before
each step and after the last, z^E keeps its own values only where the guide attends to the subject (its class
word, `a [token] [class]`: each pixel's share of the attention to the prompt's words, averaged over layers, heads
and the steps so far, scaled from its minimum to its maximum to [0, 1], above the threshold) and takes the guide's
z^G elsewhere. Cost: the guide's CFG pass at every step.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import UserInputError
from ..models import Conditioning, family_of
from .attention import capture_text_attention, word_positions
from .hooks import StepState
from .schedulers import scale_input, step as scheduler_step


@dataclass(frozen=True)
class GuidanceConfig:
    alpha: float = 1.0  # strength: the latent moves by alpha * grad D
    steps: int = 10  # guide the first `steps` denoising steps (the ones that set the layout)
    guide: str = "guide"  # adapter names in the denoiser
    edit: str = "edit"
    local_blend: float | None = None  # threshold in (0, 1) of the guide's subject map; None: no local blending
    token: str = "sks"  # the subject's token, which local blending finds in every prompt

    def __post_init__(self) -> None:
        if self.local_blend is not None and not 0 < self.local_blend < 1:
            raise UserInputError(f"the local blend threshold must be in (0, 1), got {self.local_blend}")


def subject_positions(tokenizer, prompt: str, token: str) -> list[int]:
    """Context positions of the word after `token` (its class noun, `a [token] [class]`). The class word's map is
    the one that is local: a rare token's pieces attend everywhere, like the start token."""
    words = word_positions(tokenizer, prompt)
    at = next((i for i, (word, _) in enumerate(words) if word == token), len(words))
    if at + 1 >= len(words):
        raise UserInputError(f"local blending needs the subject token {token!r} followed by its class word in every "
                             f"prompt; {prompt!r} has none")
    return words[at + 1][1]


def token_masks(tokenizer, prompts: list[str], token: str, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """B x length 0/1 masks over the context positions: each prompt's subject class word (subject_positions),
    and all its words."""
    subject, words = torch.zeros(len(prompts), length), torch.zeros(len(prompts), length)
    for row, prompt in enumerate(prompts):
        subject[row, subject_positions(tokenizer, prompt, token)] = 1
        words[row, [p for _, ps in word_positions(tokenizer, prompt) for p in ps]] = 1
    return subject, words


def subject_attention(maps: list[torch.Tensor], subject: torch.Tensor, words: torch.Tensor,
                      size: int) -> torch.Tensor:
    """B x 1 x size x size: each pixel's share of attention to the subject mask's tokens among the words mask's,
    mean over layers and heads. A share, not the raw attention, so that where another object's words take the
    attention the subject's map is low even when its words are alike."""
    subject, words = subject.to(maps[0])[:, None], words.to(maps[0])[:, None]
    layers = []
    for m in maps:  # B x heads x pixels x tokens
        attention = m.mean(1)
        share = (attention * subject).sum(-1) / (attention * words).sum(-1)
        side = int(round(share.shape[1] ** 0.5))
        layers.append(F.interpolate(share.view(-1, 1, side, side), size=size, mode="bilinear"))
    return torch.stack(layers).mean(0)


def attention_distance(edit: list[torch.Tensor], guide: list[torch.Tensor]) -> torch.Tensor:
    """Per-sample D = sum_layers mean_{heads, pixels} sum_tokens |A_E - A_G|."""
    return sum((e - g).abs().sum(-1).mean(dim=(1, 2)) for e, g in zip(edit, guide, strict=True))


def subject_map(attention: torch.Tensor) -> torch.Tensor:
    """Attention scaled to [0, 1] per sample (min to max), the scale the local blend threshold is on."""
    low = attention.amin(dim=(2, 3), keepdim=True)
    return (attention - low) / (attention.amax(dim=(2, 3), keepdim=True) - low).clamp_min(1e-12)


def _clone(generator: torch.Generator) -> torch.Generator:
    twin = torch.Generator(generator.device)
    twin.set_state(generator.get_state())
    return twin


class CrossAttentionGuidance:
    """Sampler hook (LatentSteer); its score `attention_distance` is D averaged over the guided steps."""

    def __init__(self, pipe, config: GuidanceConfig, cfg_scale: float) -> None:
        self.family, self.config, self.cfg_scale = family_of(pipe), config, cfg_scale
        self.denoiser, self.tokenizer = self.family.denoiser, self.family.tokenizer
        self.distances: list[torch.Tensor] = []

    def begin(self, batch_size: int) -> None:
        self.distances = []
        self.denoiser.set_adapters(self.config.edit)

    def start(self, latents, context: Conditioning, prompts, scheduler, generators) -> None:
        self.n, self.context = len(latents), context
        self.z_guide = latents.clone()
        self.edit_scheduler = scheduler  # the sampler's: scales the edit model's input at the current step
        self.scheduler = copy.deepcopy(scheduler)
        self.generators = [_clone(g) for g in generators]
        if self.config.local_blend is not None:
            self.subject_tokens, self.word_tokens = token_masks(self.tokenizer, prompts, self.config.token,
                                                                context.prompt_embeds.shape[1])
            self.subject_attention = torch.zeros(self.n, 1, *latents.shape[2:], dtype=latents.dtype,
                                                 device=latents.device)

    def steer(self, index: int, timestep: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        blending, guiding = self.config.local_blend is not None, index < self.config.steps
        if not (blending or guiding):
            return latents
        with capture_text_attention(self.family) as store:
            self.denoiser.set_adapters(self.config.guide)
            z_guide = self.z_guide
            with store.record() as guide_maps:
                self._advance_guide(timestep)
            guide_maps = [m[-self.n:] for m in guide_maps]  # the prompt rows of the CFG batch
            self.denoiser.set_adapters(self.config.edit)
            if blending:
                self.subject_attention += subject_attention(guide_maps, self.subject_tokens, self.word_tokens,
                                                            latents.shape[-1])
                latents = self.blend(latents, z_guide)
            if guiding:
                distance, grad = self.distance_gradient(store, guide_maps, latents, timestep)
                self.distances.append(distance.detach())
                latents = latents - self.config.alpha * grad
        return latents

    def blend(self, latents: torch.Tensor, z_guide: torch.Tensor) -> torch.Tensor:
        """The edit's latent where the guide attends to the subject, the guide's elsewhere."""
        mask = (subject_map(self.subject_attention) > self.config.local_blend).to(latents.dtype)
        return mask * latents + (1 - mask) * z_guide

    def finish(self, latents: torch.Tensor) -> torch.Tensor:
        return latents if self.config.local_blend is None else self.blend(latents, self.z_guide)

    def distance_gradient(self, store, guide_maps: list[torch.Tensor], latents: torch.Tensor,
                          timestep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample D between the edit adapter's maps at `latents` and the guide's, and grad_z of its sum."""
        with torch.enable_grad(), store.record() as edit_maps:
            z = latents.detach().requires_grad_(True)
            self.family.denoise(scale_input(self.edit_scheduler, z, timestep), timestep, self.context[-self.n:])
            distance = attention_distance(edit_maps, guide_maps)
            (grad,) = torch.autograd.grad(distance.sum(), z)
        return distance, grad

    def _advance_guide(self, t: torch.Tensor) -> None:
        guided = len(self.context) == 2 * self.n
        z_in = torch.cat([self.z_guide, self.z_guide]) if guided else self.z_guide
        out = self.family.denoise(scale_input(self.scheduler, z_in, t), t, self.context)
        if guided:
            uncond, cond = out.chunk(2)
            out = uncond + self.cfg_scale * (cond - uncond)
        self.z_guide = scheduler_step(self.scheduler, out, t, self.z_guide, self.generators)

    def step(self, state: StepState) -> None:
        pass

    def end(self) -> dict[str, torch.Tensor]:
        if not self.distances:
            return {}
        return {"attention_distance": torch.stack(self.distances).mean(0)}
