"""Re-weighting of the attention to the prompt (RealignDiff, fine stage): raise the attention that image positions
pay to chosen prompt tokens, e.g. the words of an object the first pass left out.

An `AttentionTap` (attention.py) on every layer where the image attends to the prompt adds log(weight) to the
image positions' logits of the chosen tokens: their post-softmax probabilities multiplied by their weight and each
row renormalised (in an MMDiT's joint attention, over the image and text keys together); weight 1 changes nothing.
Only the conditional half of a classifier-free-guided batch is re-weighted: the empty prompt has no object tokens.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

from ..questions.phrases import PromptObject, prompt_objects
from .attention import Span, tapped, word_positions
from .hooks import StepState


class TokenWeights:
    """What the taps read at each denoiser call: n x L weights for the n prompts of the batch, or None (off).
    Token positions past L have weight 1."""

    def __init__(self) -> None:
        self.weights: torch.Tensor | None = None

    @property
    def active(self) -> bool:
        return self.weights is not None

    def rows(self, batch: int) -> torch.Tensor:
        """Weights for a batch of `batch` rows: [ones; weights] for a guided batch [uncond; cond]."""
        n = len(self.weights)
        if batch == n:
            return self.weights
        if batch == 2 * n:
            return torch.cat([torch.ones_like(self.weights), self.weights])
        raise ValueError(f"token weights for {n} prompts do not fit a batch of {batch}")

    def on_attention(self, query: torch.Tensor, key: torch.Tensor, span: Span, scale: float | None) -> torch.Tensor:
        """The additive logit bias: log(weight) where an image query meets a weighted text key, 0 elsewhere."""
        n_text = key[:, :, span.text].shape[2]
        w = self.rows(len(query)).to(query.device, torch.float32)[:, :n_text]
        w = torch.cat([w, w.new_ones(len(w), n_text - w.shape[1])], dim=1)
        if span.image == slice(None):  # cross-attention: every query is an image position, every key a token
            return w.log()[:, None, None, :]
        bias = query.new_zeros(len(query), 1, query.shape[2], key.shape[2], dtype=torch.float32)
        bias[:, :, span.image, span.text] = w.log()[:, None, None, :]
        return bias


@contextmanager
def reweighting(family):
    """Tap every image-to-text attention layer of the family's denoiser for the duration; yields its TokenWeights."""
    state = TokenWeights()
    with tapped(family, state):
        yield state


class ReweightHook:
    """Sampler hook: feeds each batch its rows of `weights` (N x L, in the order of the prompts given to
    `sample`), for the first `until_step` steps (None: all). Use inside `reweighting(family)`."""

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
    """Weights up to the prompt's last word (positions after it have weight 1): `weight` at every token position
    of the boosted objects, 1 elsewhere."""
    w = torch.ones(max([1, *(p + 1 for _, ps in word_positions(tokenizer, prompt) for p in ps)]))
    for positions in (p for i, p in enumerate(object_positions(tokenizer, prompt)) if i in boosted):
        w[positions] = weight
    return w
