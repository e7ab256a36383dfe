import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline

from diffalign.builtin import BUILTIN_MODEL_DIR
from diffalign.errors import UserInputError
from diffalign.models import default_guidance, is_shapes_world_model, load_pipeline, resolve_model


def test_resolve_model_names():
    assert resolve_model("builtin") == str(BUILTIN_MODEL_DIR)
    assert resolve_model("stabilityai/stable-diffusion-2-1") == "stabilityai/stable-diffusion-2-1"
    with pytest.raises(UserInputError, match="model not found"):
        resolve_model("/no/such/folder")


def test_a_copy_of_the_builtin_folder_gets_the_builtin_defaults(tiny_model, tmp_path):
    """A folder `world train` assembled (it holds clip/) is sampled like the built-in model: its
    guidance is the built-in one, not Stable Diffusion's 7.5 (a benchmark once ran at 7.5 by mistake)."""
    import shutil

    copy = shutil.copytree(str(BUILTIN_MODEL_DIR), tmp_path / "copy")
    assert is_shapes_world_model("builtin") and is_shapes_world_model(str(copy))
    assert not is_shapes_world_model(str(tiny_model)) and not is_shapes_world_model("org/model")
    assert default_guidance(str(copy)) == default_guidance("builtin") == 3.0
    assert default_guidance(str(tiny_model)) == 7.5


def test_sampling_without_a_guidance_uses_the_models_own(tiny_pipe):
    """Library callers of sample() get the model's guidance (here Stable Diffusion's 7.5), not a fixed one."""
    from diffalign.sampling import SamplerConfig, sample

    def image(guidance):
        config = SamplerConfig(steps=2, guidance=guidance)
        return sample(tiny_pipe, ["a red circle"], [0], config, progress=False)[0].image

    assert np.array_equal(image(None), image(7.5))
    assert not np.array_equal(image(None), image(3.0))


def test_folder_without_model_index_is_rejected(tmp_path):
    with pytest.raises(UserInputError, match="model_index.json"):
        resolve_model(str(tmp_path))


def test_missing_adapter_is_a_clear_error(tiny_model, tmp_path):
    with pytest.raises(UserInputError, match="adapter not found"):
        load_pipeline(str(tiny_model), adapter=tmp_path / "nope", device="cpu")


def test_a_folder_without_lora_weights_is_a_clear_error(tiny_model, tmp_path):
    with pytest.raises(UserInputError, match="not a LoRA adapter: .* holds no pytorch_lora_weights"):
        load_pipeline(str(tiny_model), adapter=tmp_path, device="cpu")


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


@pytest.mark.parametrize("pipeline", ["PixArtAlphaPipeline", "KandinskyV22Pipeline"])
def test_unsupported_pipeline_is_refused_before_any_weights_load(pipeline, tmp_path, capsys, monkeypatch):
    """Only model_index.json exists: a load would fail on missing weights, so refusing means it never started."""
    import json

    from diffalign.cli.main import main

    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": pipeline, "transformer": ["diffusers",
                                                                                                   "X"]}))
    assert main(["generate", "--model", str(tmp_path), "--prompt", "a red circle", "--out",
                 str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"is a {pipeline}; diffalign runs StableDiffusionPipeline" in err
    assert not (tmp_path / "out").exists()
