"""A tap on the attention that image positions pay to the prompt, with diffusers attention processors (diffusers code
untouched): read it (attention capture, DreamBlend's guidance) or bias it (RealignDiff's re-weighting).

Two kinds of layers carry it. A UNet's cross-attention (`attn2`): the queries are image positions, the keys the
prompt's tokens. An MMDiT's joint attention (SD3, Flux): one attention over the image and text tokens together, in
the blocks that project the text stream (those with `add_k_proj`; Flux's single-stream blocks see one concatenated
sequence and are left alone). `AttentionTap` wraps such a layer's own processor and intercepts the one call of
torch's `scaled_dot_product_attention` that every one of these processors makes, where query and key are final
(LoRA, Flux's q/k norms and rotary embedding applied): so the same code is exact for every family, without
re-implementing their processors. Its `Span` says where the image queries and the text keys are in that call.
Image-to-text attention is then softmax over the text keys of the image queries' logits: a UNet's cross-attention
probabilities exactly, and for joint attention the image rows' attention restricted to the text and renormalised.
"""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Span:
    """Where the image queries and the text keys sit in an attention call's sequence (cross-attention: all of each)."""

    image: slice
    text: slice

    @staticmethod
    def of(n_image: int, n_text: int, joint: bool, text_first: bool) -> Span:
        if not joint:
            return Span(slice(None), slice(None))
        if text_first:  # Flux: [text; image]
            return Span(slice(n_text, n_text + n_image), slice(0, n_text))
        return Span(slice(0, n_image), slice(n_image, n_image + n_text))  # SD3: [image; text]


def text_attention(query: torch.Tensor, key: torch.Tensor, span: Span, scale: float | None = None) -> torch.Tensor:
    """B x heads x image positions x text tokens: each image position's attention distribution over the prompt."""
    scale = query.shape[-1] ** -0.5 if scale is None else scale
    logits = query[:, :, span.image] @ key[:, :, span.text].transpose(-1, -2) * scale
    return logits.softmax(-1)


def word_positions(tokenizer, prompt: str) -> list[tuple[str, list[int]]]:
    """Each whitespace word of the prompt with its token positions in the padded sequence (after BOS)."""
    out, position = [], 1 if tokenizer.bos_token_id is not None else 0
    for word in prompt.lower().replace(",", " ").rstrip(". ").split():
        n = len(tokenizer.tokenize(word))
        out.append((word, list(range(position, position + n))))
        position += n
    return out


# what a tap does at each intercepted call: (query, key, span) -> an additive bias of the attention logits, or None
OnAttention = Callable[[torch.Tensor, torch.Tensor, Span, float | None], torch.Tensor | None]


@contextmanager
def intercept_attention(on_attention: OnAttention, span: Span) -> Iterator[None]:
    """torch's scaled_dot_product_attention, for the duration, first calls `on_attention` and adds what it returns
    to the attention logits. Raises if nothing called it (a processor that does not use torch's SDPA)."""
    real, calls = F.scaled_dot_product_attention, []

    def sdpa(query, key, value, attn_mask=None, *args, **kwargs):
        calls.append(True)
        bias = on_attention(query, key, span, kwargs.get("scale"))
        if bias is not None:
            bias = bias.to(query.dtype)
            if attn_mask is None:
                attn_mask = bias
            elif attn_mask.dtype == torch.bool:
                attn_mask = bias.masked_fill(~attn_mask, float("-inf"))
            else:
                attn_mask = attn_mask + bias
        return real(query, key, value, attn_mask, *args, **kwargs)

    F.scaled_dot_product_attention = sdpa
    try:
        yield
    finally:
        F.scaled_dot_product_attention = real
    if not calls:
        raise RuntimeError("an attention processor made no scaled_dot_product_attention call to tap (xformers or a "
                           "custom processor?); use diffusers' default processors")


class AttentionTap:
    """Delegates to the layer's own processor; while `tap.active`, routes the layer's attention call through
    `tap.on_attention` (see the module docstring)."""

    def __init__(self, inner, tap, joint: bool, text_first: bool) -> None:
        self.inner, self.tap, self.joint, self.text_first = inner, tap, joint, text_first

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 *args, **kwargs):
        if encoder_hidden_states is None or not self.tap.active:
            return self.inner(attn, hidden_states, encoder_hidden_states, *args, **kwargs)
        span = Span.of(hidden_states.shape[1], encoder_hidden_states.shape[1], self.joint, self.text_first)
        with intercept_attention(self.tap.on_attention, span):
            return self.inner(attn, hidden_states, encoder_hidden_states, *args, **kwargs)


def text_attention_layers(denoiser) -> dict[str, bool]:
    """Processor names of the layers where image positions attend to the prompt -> whether the layer is joint."""
    layers = {}
    for name in denoiser.attn_processors:
        module = denoiser.get_submodule(name.removesuffix(".processor"))
        if getattr(module, "add_k_proj", None) is not None:
            layers[name] = True  # MMDiT joint attention with a text stream
        elif name.endswith("attn2.processor"):
            layers[name] = False  # UNet cross-attention
    return layers


@contextmanager
def tapped(family, tap) -> Iterator[None]:
    """Every image-to-text attention layer of the family's denoiser wrapped in an AttentionTap for the duration."""
    denoiser = family.denoiser
    original = dict(denoiser.attn_processors)
    layers = text_attention_layers(denoiser)
    if not layers:
        raise ValueError(f"{type(denoiser).__name__} has no layer where the image attends to the prompt")
    denoiser.set_attn_processor({name: AttentionTap(proc, tap, layers[name], family.joint_text_first)
                                 if name in layers else proc for name, proc in original.items()})
    try:
        yield
    finally:
        denoiser.set_attn_processor(original)


class AttentionStore:
    """Image-to-text attention of the forward passes made while recording (B x heads x image positions x text
    tokens per layer), with their autograd graph, so a loss on them can be differentiated w.r.t. the latents."""

    def __init__(self) -> None:
        self.maps: list[torch.Tensor] = []
        self.active = False

    @contextmanager
    def record(self) -> Iterator[list[torch.Tensor]]:
        self.maps, self.active = [], True
        try:
            yield self.maps
        finally:
            self.active = False

    def on_attention(self, query, key, span: Span, scale: float | None) -> None:
        self.maps.append(text_attention(query, key, span, scale))


@contextmanager
def capture_text_attention(family) -> Iterator[AttentionStore]:
    """Record the image-to-text attention of the family's denoiser inside `store.record()`."""
    store = AttentionStore()
    with tapped(family, store):
        yield store
