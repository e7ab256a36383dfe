"""The attention tap (sampling/attention.py) on a UNet's cross-attention and an MMDiT's joint attention: what it
reads is the image-to-text attention recomputed by hand from the layer's own projections, what it adds is
log(weight) on the image rows' logits of the weighted tokens, and with nothing to add every family's denoiser output
is bit-identical."""

from __future__ import annotations

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor2_0, JointAttnProcessor2_0
from diffusers.models.transformers.transformer_flux import FluxAttention, FluxAttnProcessor

from diffalign.models import family_of, load_pipeline
from diffalign.sampling.attention import AttentionStore, AttentionTap, capture_text_attention
from diffalign.sampling.reweight import TokenWeights, reweighting, token_weights
from diffalign.sampling.sampler import encode_prompts

N_IMAGE, N_TEXT, HEADS, DIM = 5, 3, 2, 4  # unequal lengths: a span the wrong way round reads other numbers


def _heads(x: torch.Tensor) -> torch.Tensor:
    """B x L x (H D) -> B x H x L x D."""
    return x.unflatten(-1, (HEADS, DIM)).transpose(1, 2)


def _joint(cls, processor):
    torch.manual_seed(0)
    kwargs = dict(query_dim=8, heads=HEADS, dim_head=DIM, added_kv_proj_dim=8, out_dim=8, context_pre_only=False)
    return cls(**kwargs, processor=processor) if cls is FluxAttention else cls(**kwargs, bias=True, processor=processor)


def _inputs():
    g = torch.Generator().manual_seed(1)
    return torch.randn(2, N_IMAGE, 8, generator=g), torch.randn(2, N_TEXT, 8, generator=g)


def _capture(attn, x, ctx, text_first: bool) -> list[torch.Tensor]:
    store = AttentionStore()
    attn.set_processor(AttentionTap(attn.processor, store, joint=True, text_first=text_first))
    with torch.no_grad(), store.record() as maps:
        attn(hidden_states=x, encoder_hidden_states=ctx)
    return maps


def test_cross_attention_weight_one_is_the_default_and_a_weight_scales_and_renormalises():
    torch.manual_seed(0)
    attn = Attention(query_dim=8, cross_attention_dim=8, heads=2, dim_head=4, out_bias=True,
                     processor=AttnProcessor2_0())
    with torch.no_grad():  # output dimension 0 = the attention head 0 pays to token values' dimension 0
        attn.to_v.weight.copy_(torch.eye(8))
        attn.to_out[0].weight.copy_(torch.eye(8))
        attn.to_out[0].bias.zero_()
    x, context = torch.randn(2, 5, 8), torch.randn(2, 6, 8)
    context[:, :, 0] = 0
    context[:, 3, 0] = 1.0  # only token 3 carries value in dimension 0: out[..., 0] = p(token 3)
    with torch.no_grad():
        default = attn(x, encoder_hidden_states=context)
        state = TokenWeights()
        attn.set_processor(AttentionTap(AttnProcessor2_0(), state, joint=False, text_first=False))
        assert torch.equal(attn(x, encoder_hidden_states=context), default)  # weights off: the processor's own call
        state.weights = torch.ones(2, 4)  # shorter than the context: the rest weigh 1
        assert torch.allclose(attn(x, encoder_hidden_states=context), default, atol=1e-6)
        state.weights[:, 3] = 3.0
        boosted = attn(x, encoder_hidden_states=context)[..., 0]
    p = default[..., 0]
    assert torch.all(boosted > p) and torch.allclose(boosted, 3 * p / (1 + 2 * p), atol=1e-5)


def test_sd3_joint_attention_capture_and_bias_are_the_hand_computed_ones():
    """SD3's processor: [image; text] in one attention. The map is softmax over the text keys of the image queries;
    the weight multiplies the image rows' probabilities of a token over all keys and renormalises."""
    attn = _joint(Attention, JointAttnProcessor2_0())
    x, ctx = _inputs()
    with torch.no_grad():
        plain = attn(hidden_states=x, encoder_hidden_states=ctx)
        q = torch.cat([_heads(attn.to_q(x)), _heads(attn.add_q_proj(ctx))], 2)
        k = torch.cat([_heads(attn.to_k(x)), _heads(attn.add_k_proj(ctx))], 2)
        v = torch.cat([_heads(attn.to_v(x)), _heads(attn.add_v_proj(ctx))], 2)
        logits = q @ k.transpose(-1, -2) / DIM ** 0.5
    (captured,) = _capture(attn, x, ctx, text_first=False)
    assert torch.allclose(captured, logits[:, :, :N_IMAGE, N_IMAGE:].softmax(-1), atol=1e-6)

    state = TokenWeights()
    attn.set_processor(AttentionTap(JointAttnProcessor2_0(), state, joint=True, text_first=False))
    state.weights = torch.tensor([[1.0, 3.0, 1.0], [0.5, 1.0, 2.0]])
    with torch.no_grad():
        image_out, text_out = attn(hidden_states=x, encoder_hidden_states=ctx)
        bias = torch.zeros_like(logits)
        bias[:, :, :N_IMAGE, N_IMAGE:] = state.weights.log()[:, None, None, :]
        mixed = ((logits + bias).softmax(-1) @ v).transpose(1, 2).flatten(2)
    assert torch.allclose(image_out, attn.to_out[0](mixed[:, :N_IMAGE]), atol=1e-5)
    assert torch.allclose(text_out, plain[1], atol=1e-6)  # text rows are not re-weighted
    assert not torch.allclose(image_out, plain[0], atol=1e-4)


def test_flux_joint_attention_is_read_text_first_after_its_qk_norms():
    attn = _joint(FluxAttention, FluxAttnProcessor())
    x, ctx = _inputs()
    with torch.no_grad():
        q = attn.norm_q(attn.to_q(x).unflatten(-1, (HEADS, DIM))).transpose(1, 2)
        k = attn.norm_added_k(attn.add_k_proj(ctx).unflatten(-1, (HEADS, DIM))).transpose(1, 2)
    (captured,) = _capture(attn, x, ctx, text_first=True)
    assert captured.shape == (2, HEADS, N_IMAGE, N_TEXT)
    assert torch.allclose(captured, (q @ k.transpose(-1, -2) / DIM ** 0.5).softmax(-1), atol=1e-6)


@pytest.mark.parametrize("fixture", ["tiny_model", "tiny_model_xl", "tiny_sd3", "tiny_flux"])
def test_every_family_the_tap_changes_nothing_unless_it_weights(fixture, request):
    """Capture leaves the denoiser's output bit-identical and reads, per layer, each image position's distribution
    over all the prompt's tokens; weights of 1 change nothing; a weighted prompt changes the conditional row of a
    guided batch and leaves the unconditional one exactly as it was."""
    pipe = load_pipeline(str(request.getfixturevalue(fixture)), device="cpu")
    family = family_of(pipe)
    prompt = "a red circle and a blue square"
    cond = encode_prompts(pipe, ["", prompt])
    z = torch.randn(1, *family.latent_shape, generator=torch.Generator().manual_seed(0)).repeat(2, 1, 1, 1)
    t = torch.tensor(500.0)
    with torch.no_grad():
        plain = family.denoise(z, t, cond)
        with capture_text_attention(family) as store, store.record() as maps:
            captured = family.denoise(z, t, cond)
        weights = token_weights(family.tokenizer, prompt, [1], 4.0)[None]
        with reweighting(family) as state:
            state.weights = torch.ones_like(weights)
            ones = family.denoise(z, t, cond)
            state.weights = weights
            weighted = family.denoise(z, t, cond)
        after = family.denoise(z, t, cond)
    assert torch.equal(captured, plain) and torch.equal(after, plain)
    assert maps and all(m.shape[0] == 2 and m.shape[-1] == cond.prompt_embeds.shape[1] for m in maps)
    assert all(torch.allclose(m.sum(-1), torch.ones(())) for m in maps)
    assert torch.allclose(ones, plain, atol=1e-6)
    assert torch.allclose(weighted[0], plain[0], atol=1e-6) and not torch.allclose(weighted[1], plain[1], atol=1e-5)
