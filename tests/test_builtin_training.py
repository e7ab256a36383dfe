"""`diffalign world train` continuing a shipped model: the unet stage (resuming after an interruption), the
vae stage (its decoder only) and the clip stage (with relation, axis and texture twins, and the text anchor),
whose CLIP a unet stage then keeps; the binding noise a unet stage can train on."""

import numpy as np
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel
from transformers import CLIPModel

from diffalign.builtin import BUILTIN_MODEL_DIR
from diffalign.builtin_training.checkpoint import load_state
from diffalign.builtin_training.data import SceneStream, allowed, binding_noise, contrastive_batch, swapped_textures
from diffalign.builtin_training.train import StageConfig, TextAnchor, assemble, train_clip, train_unet, train_vae
from diffalign.world.grammar import parse
from diffalign.world.vocab import OPPOSITE_RELATION, TRANSPOSED_RELATION


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_unet_stage_continues_shipped_model_and_resumes(tmp_path):
    cfg = StageConfig(work=tmp_path, steps=2, batch=4, lr=1e-4, save_every=1, init_from=BUILTIN_MODEL_DIR,
                      cache_size=512)
    train_unet(cfg)
    assert (tmp_path / "vae" / "final").is_dir() and (tmp_path / "clip" / "tokenizer" / "vocab.json").exists()
    assert (tmp_path / "unet" / "latents-512.safetensors").exists()
    assert load_state(tmp_path / "unet" / "state.pt") == 2

    shipped = _flat(UNet2DConditionModel.from_pretrained(BUILTIN_MODEL_DIR / "unet"))
    after_two = _flat(UNet2DConditionModel.from_pretrained(tmp_path / "unet" / "final"))
    moved = (after_two - shipped).norm() / shipped.norm()
    assert 0 < moved < 1e-2  # it started from the shipped weights, not from a fresh init

    cfg.steps = 3  # a rerun with a larger total continues from the saved step
    train_unet(cfg)
    assert load_state(tmp_path / "unet" / "state.pt") == 3
    after_three = _flat(UNet2DConditionModel.from_pretrained(tmp_path / "unet" / "final"))
    assert not torch.equal(after_three, after_two)

    pipe = DiffusionPipeline.from_pretrained(assemble(tmp_path, tmp_path / "model"))  # a loadable model again
    assert torch.equal(_flat(pipe.unet), after_three)


def test_vae_stage_from_a_model_fine_tunes_only_its_decoder(tmp_path):
    shipped = AutoencoderKL.from_pretrained(BUILTIN_MODEL_DIR / "vae")
    train_vae(StageConfig(work=tmp_path, steps=2, batch=4, lr=1e-3, save_every=1, init_from=BUILTIN_MODEL_DIR))
    tuned = AutoencoderKL.from_pretrained(tmp_path / "vae" / "final")
    for part in ("encoder", "quant_conv"):  # the latent space the UNet was trained in stays
        assert torch.equal(_flat(getattr(tuned, part)), _flat(getattr(shipped, part)))
    assert not torch.equal(_flat(tuned.decoder), _flat(shipped.decoder))
    assert tuned.config.scaling_factor == shipped.config.scaling_factor

    pipe = DiffusionPipeline.from_pretrained(assemble(tmp_path, tmp_path / "model"))  # with the model's own UNet
    assert torch.equal(_flat(pipe.unet), _flat(UNet2DConditionModel.from_pretrained(BUILTIN_MODEL_DIR / "unet")))
    assert torch.equal(_flat(pipe.vae.decoder), _flat(tuned.decoder))


def test_relation_twins_are_flipped_scenes_with_the_opposite_relation_as_negative():
    images, captions, negatives = contrastive_batch(SceneStream(3), 24, {"relation": 4})
    specs = [parse(c) for c in captions]
    with_relation = [s for s in specs[:24] if s.relation]
    assert len(captions) == len(images) == len(negatives) == 24 + min(4, len(with_relation))
    for original, twin in zip(with_relation, specs[24:]):
        assert twin.objects == original.objects and twin.relation == OPPOSITE_RELATION[original.relation]
    for spec, negative in zip(specs, negatives):
        if spec.relation:
            assert parse(negative).relation == OPPOSITE_RELATION[spec.relation]
    plain = contrastive_batch(SceneStream(3), 24)  # no twins: the batch the clip stage always drew
    assert len(plain[1]) == 24 and plain[1] == captions[:24]


def test_axis_twins_are_transposed_scenes_and_the_first_kind_gives_the_negative():
    _, captions, negatives = contrastive_batch(SceneStream(5), 32, {"axis": 3, "relation": 3})
    specs = [parse(c) for c in captions]
    with_relation = [s for s in specs[:32] if s.relation]
    assert len(with_relation) >= 3 and len(specs) == 32 + 6
    for original, twin in zip(with_relation, specs[32:35]):
        assert twin.objects == original.objects and twin.relation == TRANSPOSED_RELATION[original.relation]
    for original, twin in zip(with_relation, specs[35:]):
        assert twin.relation == OPPOSITE_RELATION[original.relation]
    assert all(parse(n).relation == TRANSPOSED_RELATION[s.relation] for s, n in zip(specs, negatives) if s.relation)


def test_texture_twins_swap_the_two_objects_textures():
    _, captions, negatives = contrastive_batch(SceneStream(4), 64, {"texture": 6})
    specs = [parse(c) for c in captions]
    two_textures = [s for s in specs[:64] if len(s.objects) == 2 and s.objects[0].texture != s.objects[1].texture
                    and allowed(swapped_textures(s))]  # a twin that would be a held-out prompt is not drawn
    assert len(specs) == 64 + min(6, len(two_textures)) > 64
    for original, twin in zip(two_textures, specs[64:]):
        assert [o.texture for o in twin.objects] == [o.texture for o in reversed(original.objects)]
        assert [o.shape for o in twin.objects] == [o.shape for o in original.objects]
    for spec, negative in zip(specs, negatives):
        if spec in two_textures:
            assert [o.texture for o in parse(negative).objects] == [o.texture for o in reversed(spec.objects)]


def test_clip_stage_continues_a_model_and_the_unet_stage_keeps_that_clip(tmp_path):
    train_clip(StageConfig(work=tmp_path, steps=2, batch=8, lr=1e-4, save_every=1, init_from=BUILTIN_MODEL_DIR,
                           twins={"relation": 4, "texture": 4}))
    shipped = _flat(CLIPModel.from_pretrained(BUILTIN_MODEL_DIR / "clip"))
    continued = _flat(CLIPModel.from_pretrained(tmp_path / "clip" / "final"))
    assert 0 < (continued - shipped).norm() / shipped.norm() < 1e-2  # started from the model's CLIP
    assert (tmp_path / "clip" / "tokenizer" / "vocab.json").exists()

    train_unet(StageConfig(work=tmp_path, steps=1, batch=4, lr=1e-4, init_from=BUILTIN_MODEL_DIR, cache_size=512))
    pipe = DiffusionPipeline.from_pretrained(assemble(tmp_path, tmp_path / "model"))
    ids = pipe.tokenizer(["a red circle to the left of a blue square"], return_tensors="pt").input_ids
    with torch.no_grad():
        folders = {"shipped": BUILTIN_MODEL_DIR / "clip", "continued": tmp_path / "clip" / "final"}
        states = {name: CLIPModel.from_pretrained(folder).text_model(ids).last_hidden_state
                  for name, folder in folders.items()}
        assert torch.equal(pipe.text_encoder(ids)[0], states["continued"])  # the pipeline reads the continued CLIP
    assert not torch.equal(states["continued"], states["shipped"])


def test_text_anchor_penalises_drift_on_captions_without_a_relation_only():
    from transformers import CLIPTokenizer

    reference = CLIPModel.from_pretrained(BUILTIN_MODEL_DIR / "clip").text_model.eval()
    texts = ["a red striped circle and a blue square", "a red circle to the left of a blue square"]
    ids = CLIPTokenizer.from_pretrained(BUILTIN_MODEL_DIR / "tokenizer")(
        texts, padding="max_length", return_tensors="pt").input_ids
    anchor = TextAnchor(reference, weight=2.0)
    with torch.no_grad():
        states = reference(ids).last_hidden_state
    assert anchor(ids, states, texts) == 0
    moved = states.clone()
    moved[1] += 1.0  # the relation caption may move freely
    assert anchor(ids, moved, texts) == 0
    moved[0] += 1.0
    assert anchor(ids, moved, texts) > 0


def test_anchored_clip_stage_keeps_the_text_states_closer(tmp_path):
    from transformers import CLIPTokenizer

    ids = CLIPTokenizer.from_pretrained(BUILTIN_MODEL_DIR / "tokenizer")(
        ["a small red striped circle and a large blue checkered square"], padding="max_length",
        return_tensors="pt").input_ids
    drift = {}
    for weight in (0.0, 200.0):
        work = tmp_path / f"anchor{weight}"
        train_clip(StageConfig(work=work, steps=6, batch=6, lr=5e-4, init_from=BUILTIN_MODEL_DIR,
                               twins={"axis": 2}, anchor=weight))
        with torch.no_grad():
            states = [CLIPModel.from_pretrained(folder).text_model(ids).last_hidden_state
                      for folder in (BUILTIN_MODEL_DIR / "clip", work / "clip" / "final")]
        drift[weight] = float((states[1] - states[0]).norm() / states[0].norm())
    assert 0 < drift[200.0] < drift[0.0] / 2


def test_binding_noise_rebinds_only_two_group_captions_with_the_same_words():
    captions = [s.text() for s in SceneStream(6).batch(400)[1]]
    noisy = binding_noise(captions, 0.5, np.random.default_rng(0))
    changed = [(parse(c), parse(n)) for c, n in zip(captions, noisy) if c != n]
    two_groups = [c for c in captions if len(parse(c).objects) == 2]
    assert 0.3 * len(two_groups) < len(changed) < 0.6 * len(two_groups)  # share 0.5, less the swaps that are no-ops
    for clean, swapped in changed:
        assert len(clean.objects) == 2 and swapped.relation == clean.relation
        # the same attribute values, one of them moved to the other object
        for f in ("color", "texture", "size", "shape"):
            assert sorted(str(getattr(o, f)) for o in swapped.objects) == sorted(str(getattr(o, f)) for o in clean.objects)
        assert swapped.objects != clean.objects
    assert binding_noise(captions, 0.0, np.random.default_rng(0)) == captions

