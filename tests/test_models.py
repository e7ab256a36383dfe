import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline

from diffalign.builtin import BUILTIN_MODEL_DIR
from diffalign.errors import UserInputError
from diffalign.models import load_pipeline, resolve_model


def test_resolve_model_names():
    assert resolve_model("builtin") == str(BUILTIN_MODEL_DIR)
    assert resolve_model("stabilityai/stable-diffusion-2-1") == "stabilityai/stable-diffusion-2-1"
    with pytest.raises(UserInputError, match="model not found"):
        resolve_model("/no/such/folder")


def test_folder_without_model_index_is_rejected(tmp_path):
    with pytest.raises(UserInputError, match="model_index.json"):
        resolve_model(str(tmp_path))


def test_missing_adapter_is_a_clear_error(tiny_model, tmp_path):
    with pytest.raises(UserInputError, match="adapter not found"):
        load_pipeline(str(tiny_model), adapter=tmp_path / "nope", device="cpu")


def test_builtin_model_loads_in_vanilla_diffusers_and_generates():
    pipe = DiffusionPipeline.from_pretrained(str(BUILTIN_MODEL_DIR))
    pipe.set_progress_bar_config(disable=True)
    out = pipe("a red circle", num_inference_steps=4, generator=torch.Generator().manual_seed(0),
               height=64, width=64, output_type="np").images
    assert out.shape == (1, 64, 64, 3)
    assert np.isfinite(out).all() and out.std() > 0.01


def test_builtin_model_size_fits_the_repo_budget():
    total = sum(p.stat().st_size for p in BUILTIN_MODEL_DIR.rglob("*") if p.is_file())
    assert total <= 60 * 2**20
