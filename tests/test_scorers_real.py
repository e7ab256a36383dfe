"""Real scorers loaded as what they are: each captioner and detector class end to end on a tiny random model,
the CLIPScore scorer, refusals of checkpoints that do not fit their class, and device / dtype placement."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from diffalign.cli.main import main
from diffalign.errors import UserInputError
from diffalign.scorers import check_scorer, make_scorer
from diffalign.scorers.loading import module_placement
from diffalign.scorers.segmenters import Detector
from diffalign.world.prompts import random_spec
from diffalign.world.render import render_prompt


def scenes(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    specs = [random_spec(str(rng.choice(["color", "spatial"])), rng) for _ in range(n)]
    rendered = [render_prompt(spec, 2000 + i) for i, spec in enumerate(specs)]
    return np.stack([image for image, _ in rendered]), [spec.text() for spec in specs]


def edited_copy(src, dst, **changes):
    """A copy of a checkpoint folder whose config.json has `changes` applied (top-level keys)."""
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    config.update(changes)
    (dst / "config.json").write_text(json.dumps(config))
    return dst


@pytest.mark.parametrize("fixture, kind, cls", [("tiny_blip", "blip", "BlipForConditionalGeneration"),
                                                ("tiny_blip2", "blip-2", "Blip2ForConditionalGeneration")])
def test_each_captioner_class_captions_end_to_end(fixture, kind, cls, request):
    folder = request.getfixturevalue(fixture)
    scorer = make_scorer("caption", captioner=str(folder), max_new_tokens=4, device="cpu")
    assert scorer.captioner.kind == kind and type(scorer.captioner.model).__name__ == cls
    images, prompts = scenes(3)
    reward, captions = scorer.score_with_captions(images, prompts)
    again, _ = scorer.score_with_captions(images, prompts)
    assert reward.shape == (3,) and np.all(np.abs(reward) <= 1 + 1e-5) and np.array_equal(reward, again)
    assert len(captions) == 3 and all(isinstance(c, str) for c in captions)
    assert set(scorer.score(images, prompts)) == {"caption"}


@pytest.mark.parametrize("fixture, kind, cls", [("tiny_grounding", "owlvit", "OwlViTForObjectDetection"),
                                                ("tiny_owlv2", "owlv2", "Owlv2ForObjectDetection"),
                                                ("tiny_grounding_dino", "grounding-dino",
                                                 "GroundingDinoForObjectDetection")])
def test_each_detector_class_feeds_sam_end_to_end(fixture, kind, cls, request, tiny_grounding):
    folder = request.getfixturevalue(fixture)
    detector = folder / "owl" if fixture == "tiny_grounding" else folder
    # random weights score every box low, so keep all of them: the point is that boxes become masks and labels
    scorer = make_scorer("segments", segmenter="grounded", detector=str(detector), sam=str(tiny_grounding / "sam"),
                         box_threshold=-1.0, device="cpu")
    assert scorer.segmenter.detector.kind == kind and type(scorer.segmenter.detector.model).__name__ == cls
    images, prompts = scenes(2, seed=1)
    reading = scorer.read(images[0], prompts[0])
    queries = [o.phrase for o in reading.objects]
    assert reading.regions and all(r.mask.shape == (64, 64) and r.mask.dtype == bool for r in reading.regions)
    assert {r.label for r in reading.regions} <= set(queries)
    found = scorer.segmenter.detector(Image.fromarray(images[0]), queries, -1.0)
    assert len(found.boxes) == len(found.labels) == len(found.scores) > 0
    assert all(0 <= k < len(queries) for k in found.labels)
    column = scorer.score(images, prompts)["segments"]
    assert column.shape == (2,) and np.all((column >= 0) & (column <= 1))
    assert np.array_equal(column, scorer.score(images, prompts)["segments"])


def test_grounding_dino_scores_each_query_over_its_own_tokens(tiny_grounding_dino):
    detector = Detector(str(tiny_grounding_dino), "cpu")
    image = Image.fromarray(scenes(1)[0][0])
    one = detector(image, ["a red circle"], -1.0)
    two = detector(image, ["a red circle", "a blue square"], -1.0)
    assert set(one.labels) == {0} and set(two.labels) <= {0, 1}
    assert all(0 <= v <= 1 for v in two.scores)
    centres = [((x0 + x1) / 2, (y0 + y1) / 2) for x0, y0, x1, y1 in two.boxes]
    assert all(0 <= cx <= 64 and 0 <= cy <= 64 for cx, cy in centres)  # boxes in the image's pixels
    assert len(detector(image, ["a red circle"], 1.0).boxes) == 0  # sigmoid scores never exceed 1


def test_clip_scorer_is_clipscore_via_the_cli(tiny_clip, tmp_path, capsys):
    images, prompts = scenes(3, seed=2)
    folder = tmp_path / "imgs"
    folder.mkdir()
    rows = []
    for i, (image, prompt) in enumerate(zip(images, prompts)):
        Image.fromarray(image).save(folder / f"{i}.png")
        rows.append(json.dumps({"image": f"{i}.png", "prompt": prompt}))
    (folder / "index.jsonl").write_text("\n".join(rows) + "\n")
    assert main(["score", "--scorer", "clip", "--images", str(folder), "--option", f"model={tiny_clip}",
                 "--device", "cpu"]) == 0  # --device places the scorer
    table = [json.loads(line) for line in (folder / "scores_clip.jsonl").read_text().splitlines()]
    assert [r["prompt"] for r in table] == prompts and all(0 <= r["clip"] <= 2.5 for r in table)
    assert "clip: mean" in capsys.readouterr().out
    scorer = make_scorer("clip", model=str(tiny_clip), device="cpu")
    cos = (scorer.image_embeddings(images) * scorer.text(prompts)).sum(-1).numpy()
    assert np.allclose([r["clip"] for r in table], 2.5 * np.maximum(cos, 0), atol=1e-5)
    builtin = make_scorer("clip", model="builtin", device="cpu").score(images, prompts)["clip"]
    assert builtin.shape == (3,) and np.all((builtin >= 0) & (builtin <= 2.5))
    assert main(["score", "--scorer", "clip", "--images", str(folder), "--option", "model=/no/such/clip"]) == 2


def test_a_checkpoint_whose_weights_do_not_fit_its_class_is_refused(tiny_grounding, tiny_blip_vqa, tmp_path):
    fake = edited_copy(tiny_grounding / "owl", tmp_path / "fake-owlv2", model_type="owlv2", architectures=None)
    with pytest.raises(UserInputError, match=r"weights of Owlv2ForObjectDetection are missing from the checkpoint "
                                             r"\(e\.g\. .*\): it is not an object detection checkpoint"):
        Detector(str(fake), "cpu")
    with pytest.raises(UserInputError, match="is a BlipForQuestionAnswering checkpoint, not a "
                                             "BlipForConditionalGeneration: it is not a captioning checkpoint"):
        make_scorer("caption", captioner=str(tiny_blip_vqa), device="cpu")
    fake2 = edited_copy(tiny_blip_vqa, tmp_path / "fake-blip2", model_type="blip-2")  # BLIP VQA said to be BLIP-2
    with pytest.raises(UserInputError, match="is a BlipForQuestionAnswering checkpoint, not a "
                                             "Blip2ForConditionalGeneration"):
        make_scorer("caption", captioner=str(fake2), device="cpu")


def test_an_unsupported_model_type_is_one_line_naming_the_supported(tiny_clip, tiny_blip):
    for make in (lambda: check_scorer("caption", {"captioner": str(tiny_clip)}),
                 lambda: make_scorer("segments", segmenter="grounded", detector=str(tiny_blip), sam=str(tiny_blip)),
                 lambda: make_scorer("vqa", model=str(tiny_clip), device="cpu"),
                 lambda: make_scorer("clip", model=str(tiny_blip), device="cpu")):
        with pytest.raises(UserInputError) as err:
            make()
        message = str(err.value)
        assert "\n" not in message and "supported:" in message
    with pytest.raises(UserInputError, match=r"'clip' checkpoint; supported: blip \(BlipForConditionalGeneration\), "
                                             r"blip-2 \(Blip2ForConditionalGeneration\)"):
        check_scorer("caption", {"captioner": str(tiny_clip)})


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_scorers_put_their_modules_on_the_given_device_and_dtype(dtype, tiny_blip, tiny_blip2, tiny_grounding,
                                                                 tiny_blip_vqa, tiny_clip):
    want = ({torch.device("cpu")}, {getattr(torch, dtype)})
    options = dict(device="cpu", dtype=dtype)
    caption = make_scorer("caption", captioner=str(tiny_blip2), embedder=str(tiny_clip), max_new_tokens=3, **options)
    segments = make_scorer("segments", segmenter="grounded", detector=str(tiny_grounding / "owl"),
                           sam=str(tiny_grounding / "sam"), embedder=str(tiny_clip), box_threshold=-1.0, **options)
    vqa = make_scorer("vqa", model=str(tiny_blip_vqa), questions="rules", **options)
    clip = make_scorer("clip", model=str(tiny_clip), **options)
    modules = [caption.captioner.model, caption.embed.model, segments.segmenter.detector.model,
               segments.segmenter.sam, segments.judge.embed.model, vqa.answerer.model, clip.model]
    for module in modules:
        assert module_placement(module) == want, type(module).__name__
    images, prompts = scenes(2, seed=3)
    for scorer in (caption, segments, vqa, clip):  # inputs follow the modules
        column = scorer.score(images, prompts)[scorer.name]
        assert column.shape == (2,) and np.all(np.isfinite(column))


def test_device_and_dtype_options_are_checked_before_loading():
    with pytest.raises(UserInputError, match="unknown dtype 'half'"):
        check_scorer("caption", {"dtype": "half"})
    with pytest.raises(UserInputError, match="unknown device"):
        check_scorer("clip", {"model": "builtin", "device": "gpu0"})
    with pytest.raises(UserInputError, match="unknown dtype"):
        check_scorer("segments", {"dtype": "int8"})


def test_a_pipeline_gives_the_default_device_and_dtype(tiny_clip):
    from diffalign.scorers.loading import scorer_device, scorer_dtype

    class Pipe:
        device, dtype = torch.device("cpu"), torch.float16

    assert scorer_device(None, Pipe()) == torch.device("cpu")
    assert scorer_dtype(None, torch.device("cpu"), Pipe()) == torch.float32  # no half precision on a CPU
    assert scorer_dtype("bfloat16", torch.device("cpu"), Pipe()) == torch.bfloat16
    scorer = make_scorer("clip", pipe=Pipe(), model=str(tiny_clip))
    assert module_placement(scorer.model) == ({torch.device("cpu")}, {torch.float32})
