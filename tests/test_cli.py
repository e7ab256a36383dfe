import json

import numpy as np
import pytest
from PIL import Image

from diffalign.cli.main import main

FAST = ["--steps", "3", "--guidance", "3"]


def test_generate_writes_images_grid_and_index_deterministically(tiny_model, tmp_path):
    args = ["generate", "--model", str(tiny_model), "--prompt", "a red circle", "--prompt", "two blue squares",
            "--n", "2", "--seed", "5", *FAST]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert main([*args, "--out", str(tmp_path / "c"), "--batch-size", "1"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "a" / "index.jsonl").read_text().splitlines()]
    assert [(r["prompt"], r["seed"]) for r in rows] == [("a red circle", 5), ("a red circle", 6),
                                                        ("two blue squares", 5), ("two blue squares", 6)]
    for r in rows:
        a = np.asarray(Image.open(tmp_path / "a" / r["image"]))
        b = np.asarray(Image.open(tmp_path / "b" / r["image"]))
        c = np.asarray(Image.open(tmp_path / "c" / r["image"])).astype(int)
        assert a.shape == (64, 64, 3) and np.array_equal(a, b)  # a rerun gives the same bytes
        assert np.abs(a - c).max() <= 2  # another batch size: the same image up to float rounding
    assert Image.open(tmp_path / "a" / "grid.png").size[0] > 2 * 64


def test_bench_on_a_few_prompts(tmp_path):
    prompts = tmp_path / "mixed.jsonl"
    prompts.write_text('{"prompt": "a red circle and a blue square", "category": "color"}\n'
                       '{"prompt": "three green crosses", "category": "numeracy"}\n')
    assert main(["bench", "--prompts", str(prompts), "--per-prompt", "2",
                 "--out", str(tmp_path / "bench"), *FAST]) == 0
    result = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert set(result["categories"]) == {"color", "numeracy"}
    assert len(result["rows"]) == 4 and all(0 <= r["score"] <= 1 for r in result["rows"])
    assert (tmp_path / "bench" / "grid.png").exists()


def test_bench_txt_category_from_file_name_and_crlf(tmp_path):
    path = tmp_path / "texture_mine.txt"
    path.write_bytes(b"a red striped circle and a red plain square\r\n\r\n")
    assert main(["bench", "--prompts", str(path), "--per-prompt", "1",
                 "--out", str(tmp_path / "b"), *FAST]) == 0
    assert list(json.loads((tmp_path / "b" / "results.json").read_text())["categories"]) == ["texture"]


def test_bench_refuses_a_model_outside_the_shapes_world(tiny_model, tmp_path, capsys):
    """The reference evaluator would score a real model's images 0.000 everywhere: refused in one line instead."""
    assert main(["bench", "--model", str(tiny_model), "--out", str(tmp_path / "b"), *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a shapes-world model" in err and not (tmp_path / "b").exists()


@pytest.mark.parametrize("argv, message", [
    (["generate", "--model", "/no/such/model", "--prompt", "a red circle"], "model not found"),
    (["generate", "--prompt", "a red dog"], "outside the built-in vocabulary: dog"),
    (["generate", "--prompt", "   "], "empty --prompt"),
    (["generate"], "nothing to generate"),
    (["bench", "--prompts", "EMPTY"], "holds no prompts"),
    (["bench", "--prompts", "BROKEN.jsonl"], "expected a JSON object"),
    (["bench", "--prompts", "nocategory.txt"], "no category"),
    (["bench", "--prompts", "missing.txt"], "prompt file not found"),
    (["generate", "--prompt", "a red circle", "--scheduler", "nope"], None),
    (["generate", "--prompt", "a red circle", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["bench", "--per-prompt", "0"], "--per-prompt must be at least 1"),
    (["score", "--scorer", "mi", "--images", "NOTAMODEL", "--prompt", " "], "empty --prompt"),
    (["bench", "--categories", "colour,shape"], "colour not in the prompts; they have color, shape"),
    (["world", "train", "--stage", "assemble", "--init-from", "builtin"], "add --stage unet (its UNet), --stage vae"),
    (["world", "train", "--stage", "vae", "--init-from", "NOTAMODEL"], "lacks vae/, clip/ or unet/"),
    (["world", "train", "--stage", "clip", "--anchor", "10"], "use it with --stage clip --init-from MODEL"),
    (["world", "train", "--stage", "unet", "--caption-swap", "1.5"], "--caption-swap P: a probability in [0, 1)"),
    (["world", "train", "--stage", "clip", "--caption-swap", "0.3"], "for --stage unet"),
])
def test_bad_input_is_one_line_and_nonzero(argv, message, tmp_path, capsys):
    (tmp_path / "EMPTY").write_text("\n\n")
    (tmp_path / "BROKEN.jsonl").write_text('{"prompt": "a red circle"\n')
    (tmp_path / "nocategory.txt").write_text("a red circle\n")
    (tmp_path / "NOTAMODEL" / "unet").mkdir(parents=True)  # a pipeline folder, but not one `world train` assembled
    (tmp_path / "NOTAMODEL" / "model_index.json").write_text("{}")
    argv = [str(tmp_path / a) if a in ("EMPTY", "BROKEN.jsonl", "nocategory.txt", "missing.txt", "NOTAMODEL") else a
            for a in argv]
    if message is None:  # argparse rejects it itself
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        return
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("diffalign: error:") and message in err[0]


def test_score_mi_of_generated_images(tiny_model, tmp_path, capsys):
    assert main(["generate", "--model", str(tiny_model), "--prompt", "a red circle", "--n", "2",
                 "--out", str(tmp_path / "gen"), *FAST]) == 0
    assert main(["score", "--scorer", "mi", "--model", str(tiny_model), "--images", str(tmp_path / "gen")]) == 0
    rows = [json.loads(line) for line in (tmp_path / "gen" / "scores_mi.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["mi"] > 0 and r["mi_stderr"] > 0 and r["prompt"] == "a red circle" for r in rows)
    assert main(["score", "--scorer", "vqa-nope", "--images", str(tmp_path / "gen")]) == 2
    assert "unknown scorer" in capsys.readouterr().err
