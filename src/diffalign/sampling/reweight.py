"""Cross-attention re-weighting (RealignDiff, fine stage): raise the attention that image positions pay
to chosen prompt tokens, e.g. the words of an object the first pass left out.

A diffusers attention processor on the cross-attention layers multiplies the post-softmax
probabilities of the chosen tokens by their weight and renormalises each row (the same as adding
log(weight) to their logits); weight 1 is the default processor. Only the conditional half of a
classifier-free-guided batch is re-weighted: the empty prompt has no object tokens.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from diffusers.models.attention_processor import Attention

from ..questions.phrases import PromptObject, prompt_objects
from .hooks import StepState


class TokenWeights:
    """What the processors read at each UNet call: n x L weights for the n prompts of the batch, or None."""

    def __init__(self) -> None:
        self.weights: torch.Tensor | None = None

    def rows(self, batch: int) -> torch.Tensor | None:
        """Weights for a batch of `batch` rows: [ones; weights] for a guided batch [uncond; cond]."""
        if self.weights is None:
            return None
        n = len(self.weights)
        if batch == n:
            return self.weights
        if batch == 2 * n:
            return torch.cat([torch.ones_like(self.weights), self.weights])
        raise ValueError(f"token weights for {n} prompts do not fit a batch of {batch}")


class ReweightAttnProcessor:
    """diffusers' AttnProcessor with the probabilities of weighted tokens scaled and renormalised."""

    def __init__(self, state: TokenWeights):
        self.state = state

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, *args, **kwargs):
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch_size, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch_size, channel, height * width).transpose(1, 2)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        batch_size, sequence_length, _ = context.shape
        attention_mask = attn.prepare_attention_mask(attention_mask, sequence_length, batch_size)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        key, value = attn.to_k(context), attn.to_v(context)
        query, key, value = attn.head_to_batch_dim(query), attn.head_to_batch_dim(key), attn.head_to_batch_dim(value)
        probs = attn.get_attention_scores(query, key, attention_mask)  # (B * heads) x Q x L
        weights = self.state.rows(batch_size) if encoder_hidden_states is not None else None
        if weights is not None:
            w = weights.to(probs).repeat_interleave(attn.heads, dim=0)[:, None, :]  # row b*heads+h is batch b
            probs = probs * w
            probs = probs / probs.sum(-1, keepdim=True)
        hidden_states = attn.batch_to_head_dim(torch.bmm(probs, value))
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch_size, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


@contextmanager
def reweighting(unet):
    """Install the processor on every cross-attention layer (attn2) for the duration; yields its TokenWeights."""
    original = unet.attn_processors
    state = TokenWeights()
    unet.set_attn_processor({name: ReweightAttnProcessor(state) if ".attn2." in name else proc
                             for name, proc in original.items()})
    try:
        yield state
    finally:
        unet.set_attn_processor(original)


class ReweightHook:
    """Sampler hook: feeds each batch its rows of `weights` (N x L, in the order of the prompts given to
    `sample`), for the first `until_step` steps (None: all). Use inside `reweighting(unet)`."""

    name = "reweight"

    def __init__(self, state: TokenWeights, weights: torch.Tensor, until_step: int | None = None):
        self.state, self.all, self.until_step, self.offset = state, weights, until_step, 0

    def begin(self, batch_size: int) -> None:
        self.state.weights = self.all[self.offset : self.offset + batch_size]
        self.offset += batch_size

    def step(self, state: StepState) -> None:
        if self.until_step is not None and state.index + 1 >= self.until_step:
            self.state.weights = None  # the next UNet calls run unweighted

    def end(self) -> dict[str, torch.Tensor]:
        self.state.weights = None
        return {}


def word_positions(tokenizer, prompt: str) -> list[tuple[str, list[int]]]:
    """Each whitespace word of the prompt with its token positions in the padded sequence (after BOS)."""
    out, position = [], 1 if tokenizer.bos_token_id is not None else 0
    for word in prompt.lower().replace(",", " ").rstrip(". ").split():
        n = len(tokenizer.tokenize(word))
        out.append((word, list(range(position, position + n))))
        position += n
    return out


def object_positions(tokenizer, prompt: str, objects: list[PromptObject] | None = None) -> list[list[int]]:
    """Token positions of each prompt object: its noun and the adjectives right before it, objects in order."""
    objects = prompt_objects(prompt) if objects is None else objects
    words = word_positions(tokenizer, prompt)
    out, cursor = [], 0
    for obj in objects:
        head = next((i for i in range(cursor, len(words)) if words[i][0] in obj.words), None)
        if head is None:
            out.append([])
            continue
        end = head
        while end + 1 < len(words) and words[end + 1][0] in obj.words:
            end += 1
        out.append([p for _, ps in words[head : end + 1] for p in ps])
        cursor = end + 1
    return out


def token_weights(tokenizer, prompt: str, boosted: list[int], weight: float) -> torch.Tensor:
    """A length-L weight vector: `weight` at every token position of the boosted objects, 1 elsewhere."""
    length = tokenizer.model_max_length
    w = torch.ones(length)
    for positions in (p for i, p in enumerate(object_positions(tokenizer, prompt)) if i in boosted):
        w[[p for p in positions if p < length]] = weight
    return w
