"""Record a UNet's cross-attention probabilities with diffusers attention processors (diffusers code untouched).

`capture_cross_attention(unet)` wraps every cross-attention layer's processor. The wrapper always
returns exactly what the wrapped (default) processor returns; only while its store is recording
does it also compute the layer's attention probabilities softmax(QK^T / sqrt(d)) from the same
projections (LoRA layers included) and keep them, with their autograd graph, so a loss on them
can be differentiated with respect to the latents.
"""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

import torch


class AttentionStore:
    """Cross-attention maps of the forward passes made while recording (B x heads x pixels x tokens per layer)."""

    def __init__(self) -> None:
        self.maps: list[torch.Tensor] = []
        self.recording = False

    @contextmanager
    def record(self) -> Iterator[list[torch.Tensor]]:
        self.maps, self.recording = [], True
        try:
            yield self.maps
        finally:
            self.recording = False


class CaptureProcessor:
    """Delegates to the layer's own processor; adds the layer's cross-attention probabilities to the store."""

    def __init__(self, inner, store: AttentionStore) -> None:
        self.inner, self.store = inner, store

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, **kwargs) -> torch.Tensor:
        if self.store.recording and encoder_hidden_states is not None:
            self.store.maps.append(attention_probs(attn, hidden_states, encoder_hidden_states, attention_mask))
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, **kwargs)


def attention_probs(attn, hidden_states: torch.Tensor, context: torch.Tensor,
                    attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """B x heads x pixels x tokens probabilities of a transformer block's cross-attention (3-d hidden states)."""
    if hidden_states.ndim != 3:
        raise ValueError("cross-attention capture expects B x pixels x channels hidden states")
    batch = hidden_states.shape[0]
    if attn.norm_cross:
        context = attn.norm_encoder_hidden_states(context)
    mask = attn.prepare_attention_mask(attention_mask, context.shape[1], batch)
    query = attn.head_to_batch_dim(attn.to_q(hidden_states))
    key = attn.head_to_batch_dim(attn.to_k(context))
    probs = attn.get_attention_scores(query, key, mask)
    return probs.view(batch, attn.heads, *probs.shape[1:])


@contextmanager
def capture_cross_attention(unet) -> Iterator[AttentionStore]:
    """Wrap the UNet's cross-attention processors (names ending 'attn2.processor') for the duration."""
    original = dict(unet.attn_processors)
    store = AttentionStore()
    wrapped = {name: CaptureProcessor(proc, store) if name.endswith("attn2.processor") else proc
               for name, proc in original.items()}
    if wrapped == original:
        raise ValueError("the UNet has no cross-attention layers to capture")
    unet.set_attn_processor(wrapped)
    try:
        yield store
    finally:
        unet.set_attn_processor(original)
