import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from diffalign.builtin_training.data import SceneStream
from diffalign.builtin_training.degrade import blur, degrade
from diffalign.errors import UserInputError
from diffalign.scorers import make_scorer
from diffalign.scorers.aesthetics import AestheticMLP


def _uint8(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def test_blur_of_sigma_zero_keeps_the_image_and_degrade_changes_it():
    x, _ = SceneStream(3).batch(4)
    assert torch.allclose(blur(x, torch.zeros(4)), x, atol=1e-5)
    y = degrade(x, torch.full((4,), 0.8), torch.Generator().manual_seed(0), np.random.default_rng(0))
    assert ((y - x).abs().flatten(1).mean(1) > 0.01).all()


def test_builtin_head_rates_clean_renders_above_degraded_ones():
    x, _ = SceneStream(424_242).batch(48)
    degraded = degrade(x, 0.4 + 0.6 * torch.rand(48, generator=torch.Generator().manual_seed(1)),
                       torch.Generator().manual_seed(2), np.random.default_rng(3))
    scorer = make_scorer("aesthetics", model="builtin", device="cpu")
    clean = scorer.score(_uint8(x), [""] * 48)["aesthetics"]
    bad = scorer.score(_uint8(degraded), [""] * 48)["aesthetics"]
    assert (clean > bad).mean() >= 0.85
    assert np.median(clean) >= 0.6  # DreamSync's threshold keeps clean renders


def build_tiny_clip(out, projection_dim: int = 16):
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    tower = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    CLIPModel(CLIPConfig(text_config=dict(vocab_size=50, **tower),
                         vision_config=dict(image_size=32, patch_size=8, **tower),
                         projection_dim=projection_dim)).save_pretrained(out)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(out)
    return out


def test_laion_mlp_from_pth_or_safetensors_with_any_clip(tmp_path):
    clip = build_tiny_clip(tmp_path / "clip")
    torch.manual_seed(1)
    state = AestheticMLP(16).state_dict()
    torch.save(state, tmp_path / "head.pth")
    save_file(state, tmp_path / "head.safetensors")
    images = _uint8(SceneStream(5).batch(3)[0])
    a = make_scorer("aesthetics", model=str(tmp_path / "head.pth"), clip=str(clip), device="cpu").score(images, [""] * 3)
    b = make_scorer("aesthetics", model=str(tmp_path / "head.safetensors"), clip=str(clip), device="cpu").score(images, [""] * 3)
    assert np.allclose(a["aesthetics_rating"], b["aesthetics_rating"], atol=1e-5)
    assert np.allclose(a["aesthetics"], np.clip(a["aesthetics_rating"] / 10, 0, 1))
    assert np.all((a["aesthetics"] >= 0) & (a["aesthetics"] <= 1))


def test_bad_aesthetics_inputs_are_user_errors(tmp_path):
    clip = build_tiny_clip(tmp_path / "clip")
    save_file(AestheticMLP(8).state_dict(), tmp_path / "head8.safetensors")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserInputError, match="takes 8-d embeddings"):
        make_scorer("aesthetics", model=str(tmp_path / "head8.safetensors"), clip=str(clip))
    with pytest.raises(UserInputError, match="weights not found"):
        make_scorer("aesthetics", model=str(tmp_path / "missing.pth"), clip=str(clip))
    with pytest.raises(UserInputError, match="not a LAION-style"):
        make_scorer("aesthetics", model=str(tmp_path / "junk.pth"), clip=str(clip))
    with pytest.raises(UserInputError, match="CLIP model not found"):
        make_scorer("aesthetics", model=str(tmp_path / "head8.safetensors"), clip="no such clip")
    with pytest.raises(UserInputError, match="drop clip"):
        make_scorer("aesthetics", model="builtin", clip=str(clip))
