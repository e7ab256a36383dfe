"""`diffalign bench --suite compbench|geneval`: the scoring rules on hand-made detections and answers, and both suites
end to end on a tiny random Stable Diffusion with tiny random evaluators (BLIP VQA, OWLv2, CLIP, DPT) built from
configs: results.json's schema and evaluator sources, determinism, --adapter, and compare of two results folders."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from diffalign.cli.main import main
from diffalign.evaluation import compbench as cb
from diffalign.evaluation import geneval as ge
from diffalign.evaluation.suites import SuiteResult, source_record
from diffalign.prompt_sets import COMPBENCH_CATEGORIES
from diffalign.prompt_sets.geneval import GENEVAL_TAGS, geneval_metadata, geneval_object_names

FAST = ["--steps", "2", "--guidance", "3", "--per-prompt", "1", "--limit", "1"]


# ---- GenEval's rules -----------------------------------------------------------------------------------------

def test_geneval_metadata_ships_whole():
    rows = geneval_metadata()
    assert len(rows) == 553 and {r["tag"] for r in rows} == set(GENEVAL_TAGS)
    assert len(geneval_object_names()) == 80
    assert sum(r["tag"] == "counting" for r in rows) == 80 and all("exclude" in r for r in rows
                                                                   if r["tag"] == "counting")


def test_geneval_metadata_errors_are_one_line(tmp_path):
    from diffalign.errors import UserInputError

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"tag": "colors", "prompt": "a photo of a red cat", "include": [{"class": "cat", "count": 1, '
                   '"color": "teal"}]}\n')
    with pytest.raises(UserInputError, match=r"bad.jsonl:1: colour 'teal'"):
        geneval_metadata(bad)
    bad.write_text('{"tag": "position", "prompt": "x", "include": [{"class": "cat", "count": 1, '
                   '"position": ["left of", 0]}]}\n')
    with pytest.raises(UserInputError, match="earlier include entry"):
        geneval_metadata(bad)


def box(cx, cy, w=10, h=10):
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def test_geneval_counting_include_and_exclude():
    two_clocks = {"tag": "counting", "include": [{"class": "clock", "count": 2}],
                  "exclude": [{"class": "clock", "count": 3}]}
    colours = lambda cls, boxes: ["red"] * len(boxes)  # noqa: E731
    clocks = lambda n: {"clock": [(box(20 * k, 10), 0.95) for k in range(n)]}  # noqa: E731
    assert ge.evaluate(two_clocks, clocks(2), colours) == (True, [])
    ok, reasons = ge.evaluate(two_clocks, clocks(1), colours)
    assert not ok and reasons == ["expected clock>=2, found 1"]
    ok, reasons = ge.evaluate(two_clocks, clocks(3), colours)
    assert not ok and reasons == ["expected clock<3, found 3"]
    # the threshold and per-class cap decide what counts: 0.85 boxes fall under the counting threshold
    kept = ge.keep_detections({"clock": [(box(0, 0), 0.95), (box(30, 0), 0.85), (box(60, 0), 0.99)]}, 0.9)
    assert [s for _, s in kept["clock"]] == [0.99, 0.95]
    assert len(ge.keep_detections({"cat": [(box(k, 0), 0.5) for k in range(20)]}, 0.3)["cat"]) == 16
    assert ge.keep_detections({"cat": [(box(0, 0), 0.2)]}, 0.3) == {}
    # max_overlap < 1 suppresses a less confident duplicate of a class
    dup = {"cat": [(box(0, 0), 0.9), (box(1, 0), 0.8), (box(50, 0), 0.7)]}
    assert len(ge.keep_detections(dup, 0.3, max_overlap=0.5)["cat"]) == 2
    assert len(ge.keep_detections(dup, 0.3)["cat"]) == 3


def test_geneval_relative_position_margin():
    # B at the origin, 10 x 10 boxes: the margin 0.1 x (10 + 10) = 2 px is taken off each axis of the offset
    assert ge.relative_position(box(-30, 0), box(0, 0)) == {"left of"}
    assert ge.relative_position(box(30, 0), box(0, 0)) == {"right of"}
    assert ge.relative_position(box(0, -30), box(0, 0)) == {"above"}
    assert ge.relative_position(box(0, 30), box(0, 0)) == {"below"}
    assert ge.relative_position(box(1.5, 1.5), box(0, 0)) == set()  # within the margin on both axes: nothing
    assert ge.relative_position(box(-30, -30), box(0, 0)) == {"left of", "above"}  # diagonal: both (0.67 > 0.5)
    # a small vertical offset is shrunk away: purely 'left of'
    assert ge.relative_position(box(-30, 2), box(0, 0)) == {"left of"}
    # the margin scales with the boxes: 2.5 px apart is 'right of' for tiny boxes, nothing for big ones
    assert ge.relative_position(box(2.5, 0, 1, 1), box(0, 0, 1, 1)) == {"right of"}
    assert ge.relative_position(box(2.5, 0, 20, 20), box(0, 0, 20, 20)) == set()
    assert ge.relative_position(box(2.5, 0, 20, 20), box(0, 0, 20, 20), margin=0.0) == {"right of"}


def test_geneval_position_and_colour_rules():
    meta = {"tag": "position", "include": [{"class": "dog", "count": 1},
                                           {"class": "cat", "count": 1, "position": ["left of", 0]}]}
    colours = lambda cls, boxes: []  # noqa: E731
    found = {"dog": [(box(50, 20), 0.9)], "cat": [(box(10, 20), 0.8)]}
    assert ge.evaluate(meta, found, colours) == (True, [])
    found["cat"] = [(box(90, 20), 0.8)]
    ok, reasons = ge.evaluate(meta, found, colours)
    assert not ok and reasons == ["expected cat left of target, found right of target"]
    ok, reasons = ge.evaluate(meta, {"cat": [(box(10, 20), 0.8)]}, colours)  # no dog: nothing to be left of
    assert not ok and reasons == ["expected dog>=1, found 0", "no target for cat to be left of"]
    # colour: the count most confident boxes are classified, and enough of them must be the colour
    red_car = {"tag": "color_attr", "include": [{"class": "car", "count": 1, "color": "red"}]}
    cars = {"car": [(box(10, 10), 0.9), (box(40, 10), 0.5)]}
    asked = []

    def paint(cls, boxes):
        asked.append((cls, len(boxes)))
        return ["blue"]

    ok, reasons = ge.evaluate(red_car, cars, paint)
    assert not ok and asked == [("car", 1)] and reasons[0].startswith("expected red car>=1, found 0 red")
    assert ge.evaluate(red_car, cars, lambda cls, boxes: ["red"])[0]


def test_geneval_crop_is_never_empty():
    image = np.zeros((64, 64, 3), np.uint8)
    assert ge.crop(image, (10.2, 5.7, 20.1, 30.0)).shape == (25, 11, 3)
    assert ge.crop(image, (70, 70, 80, 80)).shape[:2] == (1, 1)
    assert ge.crop(image, (5, 5, 5, 5)).shape[:2] == (1, 1)


# ---- CompBench's rules ---------------------------------------------------------------------------------------

def test_compbench_noun_phrases_and_questions():
    assert cb.noun_phrases("a green bench and a blue bowl") == ["a green bench", "a blue bowl"]
    assert cb.noun_phrases("rubber sole shoes and fluffy clouds") == ["rubber sole shoes", "fluffy clouds"]
    assert cb.noun_phrases("a red and white bus") == ["a red and white bus"]
    assert cb.vqa_questions("a cubic ice cube and a spherical ice bucket") == ["a cubic ice cube?",
                                                                               "a spherical ice bucket?"]
    assert cb.blip_vqa_score([0.5, 0.8]) == pytest.approx(0.4) and cb.blip_vqa_score([]) == 1.0


def test_compbench_spatial_rule_on_boxes():
    side = 479  # the benchmark's image side: the 150 px distance
    left, right = box(100, 200, 50, 50), box(300, 210, 50, 50)
    assert cb.locality("a giraffe on the left of a lamp") == "on the left of"
    assert cb.locality("a girl on the top of a frog") == "on the top of"
    assert cb.locality("a dog near a cat") == "near"
    assert cb.position_2d("on the left of", left, right, side) == 1.0
    assert cb.position_2d("on the right of", left, right, side) == 0.0  # wrong side
    assert cb.position_2d("on the top of", left, right, side) == 0.0  # the other axis dominates
    assert cb.position_2d("on the right of", right, left, side) == 1.0
    above, below = box(200, 100, 80, 80), box(200, 150, 80, 80)  # overlapping: IoU 30 / 130
    iou = cb.box_iou(above, below)
    assert iou == pytest.approx(30 * 80 / (2 * 6400 - 30 * 80))
    assert cb.position_2d("on the top of", above, below, side) == pytest.approx(0.1 / iou)
    assert cb.position_2d("on the bottom of", below, above, side) == pytest.approx(0.1 / iou)
    # near: within 150 px on either axis is 1, else 150 / the larger offset
    assert cb.position_2d("next to", box(0, 0), box(100, 400), side) == 1.0
    assert cb.position_2d("near", box(0, 0), box(300, 200), side) == pytest.approx(150 / 300)
    assert cb.position_2d("on top of", above, below, side) == 0.0  # no rule for it in the benchmark
    # the total: 0.25 x each confidence + half the position, and under 0.5 it is 0
    assert cb.spatial_score(1.0, (left, 0.8), (right, 0.6)) == pytest.approx(0.2 + 0.15 + 0.5)
    assert cb.spatial_score(0.0, (left, 0.9), (right, 0.9)) == 0.0  # 0.45 < 0.5
    assert cb.spatial_score(1.0, (left, 0.9), None) == 0.0
    assert cb.spatial_score(1.0, (left, 0.9), None, None) == pytest.approx(0.225)  # 3D: no floor


def test_compbench_3d_rule_on_a_depth_map():
    depth = np.zeros((100, 100))
    depth[:, :50] = 1.0  # the left half is near
    near, far = (10, 10, 60, 60), (30, 10, 90, 60)  # overlapping; near's box holds more of the near half
    iou = cb.box_iou(near, far)
    assert 0 < iou < 0.5
    assert cb.box_depth(depth, (0, 0, 50, 10)) == 1.0 and cb.box_depth(depth, (50, 0, 100, 10)) == 0.0
    assert cb.box_depth(depth, (10, 80, 10, 80)) == 1.0  # a degenerate box reads its centre pixel
    assert cb.position_3d("in front of", near, far, depth) == pytest.approx(iou / 0.5)
    assert cb.position_3d("behind", near, far, depth) == 0.0
    assert cb.position_3d("hidden", far, near, depth) == pytest.approx(iou / 0.5)
    assert cb.position_3d("in front of", (0, 0, 40, 40), (60, 60, 99, 99), depth) == 0.0  # no overlap, no credit
    strip = np.ones((100, 100))
    strip[45:50] = 0.0  # only the taller box reaches the far strip: it is behind, by IoU 0.9 > 0.5
    assert cb.position_3d("behind", (0, 0, 50, 50), (0, 0, 50, 45), strip) == 1.0
    assert cb.position_3d("in front of", (0, 0, 50, 50), (0, 0, 50, 45), strip) == 0.0
    assert cb.position_3d("next to", near, far, depth) == 0.0


def test_compbench_numeracy_count_and_duplicates():
    assert cb.numeracy_targets("three dogs and a cat") == [("dog", 3), ("cat", 1)]
    labels = ["dog", "dog", "dog", "cat", "cat"]
    boxes = [box(10, 10), box(40, 10), box(70, 10), box(10, 50), box(10.5, 50)]  # the two cats are one
    kept = cb.merge_duplicates(labels, boxes)
    assert kept == ["dog", "dog", "dog", "cat"]
    targets = cb.numeracy_targets("three dogs and a cat")
    assert cb.numeracy_score(targets, kept) == 1.0
    assert cb.numeracy_score(targets, ["dog", "dog", "cat"]) == pytest.approx(0.25 + 0.5)  # dogs seen, miscounted
    assert cb.numeracy_score(targets, []) == 0.0
    assert cb.merge_duplicates(["dog", "cat"], [box(10, 10), box(10, 10)]) == ["dog", "cat"]  # other labels stay
    assert cb.merge_duplicates(["dog", "dog"], [box(10, 10, 40, 40), box(10, 10, 20, 20)]) == ["dog"]  # inside


def test_compbench_three_in_one_arithmetic():
    assert cb.three_in_one("spatial", 0.6, 0.8, 0.3) == pytest.approx(0.7)
    assert cb.three_in_one("action", 0.6, 0.8, 0.3) == pytest.approx(0.45)
    assert cb.three_in_one("spatialaction", 0.6, 0.8, 0.4) == pytest.approx(0.6)
    # which parts a complex prompt has: the benchmark's own lists
    assert cb.complex_kind("The red hat was on top of the brown coat rack.") == "spatial"
    assert cb.complex_kind("a prompt of my own") == "spatialaction"
    assert cb.without_adjectives("The red hat was on top of the brown coat rack.") == \
        "The hat was on top of the coat rack."


def test_source_records(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    a = source_record(str(folder), "org/default")
    (folder / "config.json").write_text('{"x": 1}')
    b = source_record(str(folder), "org/default")
    assert a["differs"] and a["revision"].startswith("sha256:") and a["revision"] != b["revision"]
    snap = tmp_path / "hub" / "models--org--name" / "snapshots" / ("ab" * 20)
    snap.mkdir(parents=True)
    assert source_record(str(snap), "org/name") | {} == {"source": str(snap), "default": "org/name", "differs": True,
                                                        "repo": "org/name", "revision": "ab" * 20}


# ---- end to end ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_dpt(tmp_path_factory):
    from tiny_models import build_dpt_depth

    return build_dpt_depth(tmp_path_factory.mktemp("depth") / "dpt")


@pytest.fixture(scope="module")
def tiny_adapter(tiny_model, tmp_path_factory):
    """A LoRA adapter of tiny_model with random (non-zero) weights, so images change."""
    from diffalign.models import load_pipeline
    from diffalign.training import AdapterConfig, attach_adapter, save_adapter

    pipe = load_pipeline(str(tiny_model), device="cpu")
    config = AdapterConfig(rank=2, alpha=2)
    params = attach_adapter(pipe, config, seed=0)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in params:
            p.add_(0.5 * torch.randn(p.shape, generator=generator))
    return save_adapter(pipe, config, tmp_path_factory.mktemp("adapters") / "lora")


# A random tiny OWLv2's confidences underflow to 0: a threshold below 0 keeps every box, so every rule has boxes to read
def compbench_args(model, out, vqa, detector, clip, depth, *extra):
    return ["bench", "--suite", "compbench", "--model", str(model), "--out", str(out), "--device", "cpu",
            "--option", f"vqa={vqa}", "--option", f"detector={detector}", "--option", f"clip={clip}",
            "--option", f"depth={depth}", "--option", "detector_threshold=-1", *FAST, *extra]


def without_time(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "seconds"}


def test_compbench_end_to_end(tiny_model, tiny_blip_vqa, tiny_owlv2, tiny_clip, tiny_dpt, tmp_path, capsys):
    args = compbench_args(tiny_model, tmp_path / "a", tiny_blip_vqa, tiny_owlv2, tiny_clip, tiny_dpt)
    assert main(args) == 0
    printed = capsys.readouterr().out
    result = json.loads((tmp_path / "a" / "results.json").read_text())
    assert list(result["categories"]) == list(COMPBENCH_CATEGORIES)  # every category, each by its own rule
    assert set(result) == {"categories", "well_formed", "mean", "rows", "seconds", "suite", "evaluators", "options",
                           "evaluator"}
    assert result["suite"] == "compbench" and result["well_formed"] == {}
    assert result["mean"] == pytest.approx(np.mean(list(result["categories"].values())))
    assert set(result["evaluators"]) == {"vqa", "detector", "clip", "depth"}
    for role, path in {"vqa": tiny_blip_vqa, "detector": tiny_owlv2, "clip": tiny_clip, "depth": tiny_dpt}.items():
        record = result["evaluators"][role]
        assert record["source"] == str(path) and record["default"] == cb.DEFAULTS[role] and record["differs"]
        assert record["revision"].startswith("sha256:")
    assert result["options"]["detector_threshold"] == -1.0
    assert "not the benchmark's default" in result["evaluator"] and "not the benchmark's default" in printed
    rows = {r["category"]: r for r in result["rows"]}
    assert len(result["rows"]) == 8 and all(r["well_formed"] is None for r in result["rows"])
    assert set(rows["color"]["answers"]) == {"a green bench?", "a blue bowl?"}  # color_val.txt's first prompt
    assert rows["color"]["score"] == pytest.approx(np.prod(list(rows["color"]["answers"].values())), abs=1e-5)
    assert rows["spatial"]["answers"]["locality"] == "next to" and rows["spatial"]["objects"] > 0
    assert rows["3d_spatial"]["answers"]["locality"] == "in front of"
    assert rows["numeracy"]["answers"] and 0 <= rows["numeracy"]["score"] <= 1
    assert set(rows["complex"]["answers"]) >= {"blip-vqa", "spatial", "kind", "clip cosine (no adjectives)"}
    assert -1 <= rows["non_spatial"]["score"] <= 1  # an unscaled cosine
    assert (tmp_path / "a" / "grid.png").exists()
    # the same run again: the same results.json but for the time it took
    assert main(compbench_args(tiny_model, tmp_path / "b", tiny_blip_vqa, tiny_owlv2, tiny_clip, tiny_dpt)) == 0
    again = json.loads((tmp_path / "b" / "results.json").read_text())
    assert without_time(again) == without_time(result)


def test_compbench_adapter_and_compare(tiny_model, tiny_adapter, tiny_blip_vqa, tiny_owlv2, tiny_clip, tiny_dpt,
                                       tmp_path, capsys):
    subset = ["--categories", "color,numeracy"]
    base, tuned = tmp_path / "base", tmp_path / "tuned"
    assert main(compbench_args(tiny_model, base, tiny_blip_vqa, tiny_owlv2, tiny_clip, tiny_dpt, *subset)) == 0
    assert main(compbench_args(tiny_model, tuned, tiny_blip_vqa, tiny_owlv2, tiny_clip, tiny_dpt, *subset,
                               "--adapter", str(tiny_adapter))) == 0
    a, b = (json.loads((f / "results.json").read_text()) for f in (base, tuned))
    assert set(a["evaluators"]) == {"vqa", "detector"}  # only the models the categories need
    assert [r["prompt"] for r in a["rows"]] == [r["prompt"] for r in b["rows"]]
    grids = [np.asarray(Image.open(f / "grid.png")).astype(int) for f in (base, tuned)]
    assert np.abs(grids[0] - grids[1]).max() > 10  # the adapter changed the images (a random VQA barely notices)
    capsys.readouterr()
    assert main(["compare", str(base), str(tuned), "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    assert f"base: {base}" in printed and "R=1 mean gain" in printed and "evaluator: compbench" in printed
    payload = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert payload["suite"] == "compbench" and set(payload["delta"]) == {"color", "numeracy", "mean"}
    assert payload["delta"]["mean"] == pytest.approx(b["mean"] - a["mean"])
    assert payload["evaluators_differ"] == [] and (tmp_path / "cmp" / "compare.html").exists()


def geneval_args(model, out, detector, clip, *extra):
    return ["bench", "--suite", "geneval", "--model", str(model), "--out", str(out), "--device", "cpu",
            "--option", f"detector={detector}", "--option", f"clip={clip}", "--option", "threshold=-1",
            "--option", "counting_threshold=-1", *FAST, *extra]


def test_geneval_end_to_end_adapter_and_compare(tiny_model, tiny_adapter, tiny_owlv2, tiny_clip, tmp_path, capsys):
    assert main(geneval_args(tiny_model, tmp_path / "a", tiny_owlv2, tiny_clip)) == 0
    result = json.loads((tmp_path / "a" / "results.json").read_text())
    assert list(result["categories"]) == list(GENEVAL_TAGS) and len(result["rows"]) == 6
    assert result["suite"] == "geneval" and set(result["evaluators"]) == {"detector", "clip"}
    assert result["evaluators"]["clip"]["default"] == "openai/clip-vit-large-patch14"
    assert result["options"] | {} == {"threshold": -1.0, "counting_threshold": -1.0, "max_objects": 16,
                                      "max_overlap": 1.0, "position_threshold": 0.1, "queries": "all"}
    for row in result["rows"]:
        assert row["score"] in (0.0, 1.0) and row["score"] == float(row["answers"]["correct"])
        assert row["objects"] == sum(len(v) for v in row["answers"]["detected"].values())
        assert set(row["answers"]["detected"]) <= set(geneval_object_names())
    assert result["mean"] == pytest.approx(np.mean(list(result["categories"].values())))  # the mean over tags
    # --option queries=prompt asks for the prompt's classes only; the same seeds, so the same images
    assert main(geneval_args(tiny_model, tmp_path / "p", tiny_owlv2, tiny_clip, "--option", "queries=prompt",
                             "--categories", "single_object,colors")) == 0
    only = json.loads((tmp_path / "p" / "results.json").read_text())
    for row in only["rows"]:
        meta = next(m for m in geneval_metadata() if m["prompt"] == row["prompt"])
        assert set(row["answers"]["detected"]) <= {r["class"] for r in meta["include"]}
    # with the adapter, then compared with the first
    assert main(geneval_args(tiny_model, tmp_path / "b", tiny_owlv2, tiny_clip, "--adapter", str(tiny_adapter))) == 0
    again = json.loads((tmp_path / "b" / "results.json").read_text())
    assert [r["prompt"] for r in again["rows"]] == [r["prompt"] for r in result["rows"]]
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp")]) == 0
    assert "R=1 mean gain" in capsys.readouterr().out
    # two suites, or other prompts, are not compared
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "p"), "--out", str(tmp_path / "x")]) == 2
    assert "categories" in capsys.readouterr().err


def test_suite_result_table_names_the_evaluators():
    evaluators = {"vqa": source_record("Salesforce/blip-vqa-base", "Salesforce/blip-vqa-base"),
                  "detector": source_record("IDEA-Research/grounding-dino-tiny", cb.DEFAULTS["detector"])}
    result = SuiteResult({"color": 0.5}, {}, 0.5, [], 0.0, "compbench", evaluators, {})
    header = result.table().splitlines()[0]
    assert header.startswith("compbench evaluators: vqa=Salesforce/blip-vqa-base")
    assert "not the benchmark's default: detector=IDEA-Research/grounding-dino-tiny" in header
    assert "vqa=Salesforce/blip-vqa-base (default" not in header


@pytest.mark.parametrize("argv, message", [
    (["bench", "--suite", "compbench", "--option", "colour_model=x"], "not an option of --suite compbench"),
    (["bench", "--suite", "geneval", "--option", "threshold=high"], "expected a number"),
    (["bench", "--option", "vqa=x"], "the shapes world's reference evaluator takes none"),
    (["bench", "--suite", "geneval", "--category", "color"], "GenEval prompts carry their tag"),
    (["bench", "--suite", "geneval", "--prompts", "p.txt"], "reads GenEval metadata (.jsonl)"),
    (["bench", "--suite", "compbench", "--categories", "colour"], "colour not in the prompts"),
    (["bench", "--suite", "compbench", "--prompts", "mine_val.txt", "--category", "counting"],
     "category 'counting' for 'a cat'"),
    (["bench", "--suite", "compbench", "--option", "vqa=/no/such/vqa", "--categories", "color", "--limit", "1",
      "--model", "/no/such/model"], "model not found"),
])
def test_suite_bad_input_is_one_line(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine_val.txt").write_text("a cat\n")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
