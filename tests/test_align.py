import json
import shutil
from dataclasses import asdict

import pytest
import torch
from safetensors.torch import load_file

import diffalign.methods.loop as loop
from diffalign.cli.main import main
from diffalign.errors import UserInputError
from diffalign.pool import Pool

PROMPTS = ('{"prompt": "a red circle and a blue square", "category": "color"}\n'
           '{"prompt": "two green crosses", "category": "numeracy"}\n')
VAL = ('{"prompt": "a yellow circle and a purple square", "category": "color"}\n'
       '{"prompt": "three red triangles", "category": "numeracy"}\n')


def align_args(model, tmp_path, out="run", *extra):
    (tmp_path / "train.jsonl").write_text(PROMPTS)
    (tmp_path / "val.jsonl").write_text(VAL)
    return ["align", "--model", str(model), "--prompts", str(tmp_path / "train.jsonl"), "--val-prompts",
            str(tmp_path / "val.jsonl"), "--candidates", "3", "--train-steps", "2", "--steps", "3",
            "--eval-per-category", "1", "--batch-size", "2", "--out", str(tmp_path / out), *extra]


def pool_rows(run, r=1):
    with Pool(run / f"round_{r}" / "pool") as pool:
        return [asdict(row) for row in pool.rows()]


def test_align_end_to_end_with_two_rounds(tiny_model, tmp_path, capsys):
    assert main(align_args(tiny_model, tmp_path, "run", "--rounds", "2", "--lora", "--rank", "4",
                           "--text-encoder")) == 0
    run = tmp_path / "run"
    for r in (1, 2):
        rows = pool_rows(run, r)
        assert len(rows) == 6 and all("mi" in row["scores"] for row in rows)
        assert len((run / f"round_{r}" / "selected.jsonl").read_text().splitlines()) == 2  # top-1 of each prompt
        assert (run / f"round_{r}" / "adapter" / "pytorch_lora_weights.safetensors").exists()
    assert {row["seed"] for row in pool_rows(run, 1)}.isdisjoint(row["seed"] for row in pool_rows(run, 2))
    for r in (0, 1, 2):
        assert json.loads((run / "eval" / f"round_{r}" / "results.json").read_text())["categories"].keys() == \
            {"color", "numeracy"}
    html = (run / "report.html").read_text()
    assert "curves.png" in html and "round_1_scores_hist.png" in html and (run / "report" / "curves.png").exists()
    assert sorted(p.name for p in (run / "report").glob("round_*")) == [  # one file per figure, named by round
        f"round_{r}_{figure}.png" for r in (1, 2) for figure in ("scores_hist", "selected_vs_rejected")]
    assert "Selection per round" in html
    summary = json.loads((run / "round_2" / "selection.json").read_text())
    assert summary["selected"] == 2 and summary["passing"] == summary["candidates"] == 6  # top-k: no minimums
    assert "R=2" in capsys.readouterr().out
    assert main(["compare", str(run), "--out", str(tmp_path / "cmp")]) == 0
    compared = json.loads((tmp_path / "cmp" / "compare.json").read_text())[0]
    assert compared["unet_evals"] == 2 * 6 * 3 * 2  # rounds x candidates x steps x (cond + uncond)
    assert compared["rounds"] == 2 and (tmp_path / "cmp" / "compare.png").exists()
    for c, (lo, hi) in compared["interval_95"].items():
        assert lo <= compared["delta"][c] <= hi
    assert main(["compare", str(tmp_path), "--out", str(tmp_path / "cmp2")]) == 2  # not a finished run
    other = tmp_path / "other-split"  # the same run, as if evaluated on the other split: no comparable gain
    shutil.copytree(run, other)
    recipe = json.loads((other / "recipe.json").read_text())
    recipe["eval"]["split"] = {"val": "test", "test": "val"}[compared["split"]]
    (other / "recipe.json").write_text(json.dumps(recipe))
    assert main(["compare", str(run), str(other), "--out", str(tmp_path / "cmp3")]) == 2
    assert "different splits" in capsys.readouterr().err
    results = other / "eval" / "round_0" / "results.json"  # a base benchmark kept without its images
    base = json.loads(results.read_text())
    results.write_text(json.dumps({**base, "rows": [{**r, "image": None} for r in base["rows"]]}))
    from diffalign.reporting.report import write_report

    assert "curves.png" in write_report(other).read_text()  # the report, less the before/after grids


def test_dpo_objective_trains_on_selected_vs_least_preferred_pairs(tiny_model, tmp_path):
    assert main(align_args(tiny_model, tmp_path, "run", "--objective", "dpo", "--pairs", "2", "--lora", "--rank",
                           "4")) == 0
    run = tmp_path / "run"
    mi = {row["id"]: (row["prompt"], row["scores"]["mi"]) for row in pool_rows(run)}
    selected = [json.loads(line) for line in (run / "round_1" / "selected.jsonl").read_text().splitlines()]
    assert len(selected) == 2
    for row in selected:  # top-1 MI against each of the two others, lowest MI first
        others = sorted(v for i, (p, v) in mi.items() if p == row["prompt"] and i != row["id"])
        assert [mi[i] for i in row["rejected"]] == [(row["prompt"], v) for v in others]
    assert (run / "round_1" / "adapter" / "pytorch_lora_weights.safetensors").exists()


def test_standard_mi_estimator_scores_the_pool_after_sampling(tiny_model, tmp_path):
    recipe = tmp_path / "mi_standard.toml"
    recipe.write_text('name = "mi_standard"\nscorers = ["mi"]\n[selector]\nscores = ["mi"]\n[mi]\nestimator = "standard"\n')
    assert main(align_args(tiny_model, tmp_path, "run", "--recipe", str(recipe), "--lora", "--rank", "4")) == 0
    rows = pool_rows(tmp_path / "run")
    # the mi scorer's columns (the sampling hook writes no standard error), from the recipe's [mi] table
    assert len(rows) == 6 and all({"mi", "mi_stderr"} <= row["scores"].keys() for row in rows)
    assert any(row["scores"]["mi"] < 0 for row in rows) or len({row["scores"]["mi"] for row in rows}) == 6


def test_contrastive_mi_from_the_command_line(tiny_model, tmp_path):
    assert main(align_args(tiny_model, tmp_path, "run", "--mi-estimator", "contrastive", "--mi-min-timestep", "500",
                           "--lora", "--rank", "4")) == 0
    run = tmp_path / "run"
    mi = json.loads((run / "recipe.json").read_text())["mi"]
    assert {k: mi[k] for k in ("kappa", "min_timestep", "estimator")} == {"kappa": "official", "min_timestep": 500,
                                                                          "estimator": "contrastive"}
    rows = pool_rows(run)
    assert len(rows) == 6 and all({"mi", "mi_stderr"} <= row["scores"].keys() for row in rows)
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses an unknown estimator before anything runs
        main(align_args(tiny_model, tmp_path, "bad", "--mi-estimator", "exact"))
    assert exit_info.value.code == 2 and not (tmp_path / "bad").exists()


def test_interrupted_generation_resumes_without_duplicates(tiny_model, tmp_path, monkeypatch):
    """No val benchmark (it samples too): every sample call is a batch of round 1's candidates."""
    real, calls = loop.sample, {"n": 0}

    def dying_sample(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed during generation, after one complete batch
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "sample", dying_sample)
    with pytest.raises(KeyboardInterrupt):
        main(align_args(tiny_model, tmp_path, "run", "--eval-per-category", "0"))
    run = tmp_path / "run"
    assert len(pool_rows(run)) == 2
    first_batch = {r["id"]: r["scores"]["mi"] for r in pool_rows(run)}
    monkeypatch.setattr(loop, "sample", lambda *a, **k: (calls.__setitem__("n", calls["n"] + 1), real(*a, **k))[1])
    calls["n"] = 0
    assert main(align_args(tiny_model, tmp_path, "run", "--eval-per-category", "0")) == 0
    rows = pool_rows(run)
    assert sorted(r["id"] for r in rows) == sorted({r["id"] for r in rows}) and len(rows) == 6
    assert calls["n"] == 2, "only the two missing batches are generated again"
    assert {r["id"]: r["scores"]["mi"] for r in rows[:2]} == first_batch
    calls["n"] = 0
    assert main(align_args(tiny_model, tmp_path, "run", "--eval-per-category", "0")) == 0  # everything done: nothing is recomputed
    assert calls["n"] == 0


def test_rerun_with_other_prompts_is_refused_and_keeps_the_run(tiny_model, tmp_path, capsys):
    assert main(align_args(tiny_model, tmp_path, "run", "--candidates", "2")) == 0
    run = tmp_path / "run"
    rows = pool_rows(run)
    args = align_args(tiny_model, tmp_path, "run", "--candidates", "2")
    (tmp_path / "train.jsonl").write_text(PROMPTS.replace("two green", "three green"))
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "other prompts" in err and "new --out" in err
    assert main(args[:-2] + ["--guidance", "2", "--out", str(run)]) == 2
    assert "other prompts, sampler" in capsys.readouterr().err
    assert pool_rows(run) == rows

    # a run written before [mi] had its estimator field resumes (it was made at the default); another one does not
    (tmp_path / "train.jsonl").write_text(PROMPTS)
    inputs = json.loads((run / "inputs.json").read_text())
    for stored, code in (("orthogonal", 0), ("standard", 2)):
        inputs["mi"] = {k: v for k, v in inputs["mi"].items() if k != "estimator"}
        if stored != "orthogonal":
            inputs["mi"]["estimator"] = stored
        (run / "inputs.json").write_text(json.dumps(inputs))
        assert main(args) == code
    assert "other mi" in capsys.readouterr().err and pool_rows(run) == rows


def test_a_run_on_the_builtin_model_records_its_weights():
    """Retraining the built-in model keeps its path; a run made on the old weights must not resume on the new."""
    import hashlib
    from types import SimpleNamespace

    from diffalign.builtin import BUILTIN_MODEL_DIR
    from diffalign.methods.loop import model_identity

    weights = (BUILTIN_MODEL_DIR / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    builtin = model_identity(SimpleNamespace(name_or_path=str(BUILTIN_MODEL_DIR)))
    assert builtin == f"builtin:{hashlib.sha256(weights).hexdigest()[:12]}"
    assert model_identity(SimpleNamespace(name_or_path="org/sd")) == "org/sd"


def test_zero_selected_is_a_clear_error_and_keeps_the_pool(tiny_model, tmp_path, capsys):
    recipe = tmp_path / "strict.toml"
    recipe.write_text('name = "strict"\nscorers = ["mi"]\n[selector]\nkind = "threshold"\nscores = ["mi"]\nminimums = { mi = 1e9 }\n')
    assert main(align_args(tiny_model, tmp_path, "run", "--recipe", str(recipe))) == 2
    assert "no candidate passed the selector" in capsys.readouterr().err
    assert len(pool_rows(tmp_path / "run")) == 6


@pytest.mark.parametrize("content, message", [("\n", "holds no prompts"),
                                              ('{"prompt": "a red dog", "category": "color"}\n', "dog")])
def test_bad_prompts_are_rejected_before_any_work(content, message, tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text(content)
    assert main(["align", "--prompts", str(tmp_path / "bad.jsonl"), "--out", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("options, message", [
    (["--top-k", "0"], "selector.k (--top-k) must be at least 1"),
    (["--rounds", "0"], "rounds (--rounds) must be at least 1"),
    (["--lr", "0"], "train.lr (--lr) must be positive"),
    (["--prompts-per-category", "0"], "prompts_per_category (--prompts-per-category) must be at least 1"),
    (["--mi-timesteps", "0"], "mi.n_timesteps (--mi-timesteps) must be at least 1"),
    (["--recipe", "TOML"], "unknown scorer 'mii'"),
])
def test_bad_recipe_settings_are_refused_before_any_work(options, message, tmp_path, capsys):
    """A setting that could only fail after a round's sampling (or would do nothing) stops the command at once."""
    recipe = tmp_path / "typo.toml"
    recipe.write_text('name = "typo"\nscorers = ["mii"]\n')
    options = [str(recipe) if o == "TOML" else o for o in options]
    assert main(["align", *options, "--out", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_recipe_check_names_kinds_and_stray_scorer_options():
    from dataclasses import replace

    from diffalign.methods.recipe import check_recipe, load_recipe, override

    recipe = load_recipe("dreamsync", builtin_model=True)
    check_recipe(recipe)  # the shipped recipes pass
    with pytest.raises(UserInputError, match="unknown train.objective .*'ppo'.*sft, dpo"):
        check_recipe(replace(recipe, train=replace(recipe.train, objective="ppo")))
    with pytest.raises(UserInputError, match="does not use: vqa"):
        check_recipe(replace(recipe, scorers=["aesthetics"]))
    with pytest.raises(UserInputError, match="vqa scorer: unknown option.*colour"):
        check_recipe(replace(recipe, scorer_options={**recipe.scorer_options, "vqa": {"colour": "red"}}))
    kept = override(recipe, **{"scorer_options.vqa.questions": "rules"}).scorer_options  # one option, the rest kept
    assert kept["vqa"] == {**recipe.scorer_options["vqa"], "questions": "rules"} and kept["aesthetics"] == \
        recipe.scorer_options["aesthetics"] and recipe.scorer_options["vqa"]["questions"] == "grammar"
    mitune = load_recipe("mitune", builtin_model=True)
    assert mitune.mi.n_timesteps == 6  # every MI option lives in [mi], the image scorer's Monte-Carlo size too
    with pytest.raises(UserInputError, match=r"set MI's options \(estimator, n_timesteps\) in the \[mi\] table"):
        check_recipe(replace(mitune, scorer_options={"mi": {"estimator": "standard", "n_timesteps": 8}}))


def test_unknown_recipe(tmp_path, capsys):
    assert main(["align", "--recipe", "nope", "--out", str(tmp_path / "run")]) == 2
    assert "unknown recipe 'nope'" in capsys.readouterr().err


def test_align_runs_on_a_real_style_model_with_free_text_prompts(tiny_model, tmp_path, capsys):
    """The real-model face: T2I-CompBench prompts (outside the shapes world) on an SD pipeline folder."""
    from pathlib import Path

    sample_file = Path(__file__).parent / "data" / "compbench_sample.jsonl"
    args = ["align", "--model", str(tiny_model), "--prompts", str(sample_file), "--val-prompts", str(sample_file),
            "--candidates", "2", "--train-steps", "2", "--steps", "3", "--batch-size", "16", "--dora", "--rank", "4",
            "--out", str(tmp_path / "run")]
    assert main(args) == 0
    rows = pool_rows(tmp_path / "run")
    assert len(rows) == 2 * len(sample_file.read_text().splitlines())
    assert (tmp_path / "run" / "round_1" / "adapter" / "pytorch_lora_weights.safetensors").exists()
    results = json.loads((tmp_path / "run" / "eval" / "round_1" / "results.json").read_text())
    assert results["evaluator"].startswith("recipe scorer column 'mi'")  # never the shapes world's evaluator
    per_prompt = json.loads((tmp_path / "run" / "recipe.json").read_text())["eval"]["per_prompt"]
    assert results["well_formed"] == {} and len(results["rows"]) == per_prompt * len(sample_file.read_text().splitlines())
    out = capsys.readouterr().out
    assert "evaluator: recipe scorer column 'mi'" in out and "formed" not in out


def test_the_train_seed_alone_decides_the_adapter(tiny_model, tmp_path):
    """Same command, same adapter (the init no longer comes from the process's RNG); --train-seed changes it."""
    from pathlib import Path

    sample_file = Path(__file__).parent / "data" / "compbench_sample.jsonl"

    def adapter(name, *extra):
        torch.rand(len(name))  # the process's RNG in another state each time
        args = ["align", "--model", str(tiny_model), "--prompts", str(sample_file), "--val-prompts", str(sample_file),
                "--candidates", "2", "--train-steps", "2", "--steps", "3", "--lora", "--rank", "4",
                "--out", str(tmp_path / name), *extra]
        assert main(args) == 0
        return load_file(tmp_path / name / "round_1" / "adapter" / "pytorch_lora_weights.safetensors")

    first, again, other = adapter("a"), adapter("bb"), adapter("ccc", "--train-seed", "1")
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_dreamsync_recipe_stops_cleanly_when_nothing_passes_and_resumes_with_fallback(tmp_path, capsys):
    args = align_args("builtin", tmp_path, "ds", "--recipe", "dreamsync", "--rounds", "1")
    assert main(args) == 2  # 3-step images pass neither threshold
    assert "no candidate passed" in capsys.readouterr().err
    run = tmp_path / "ds"
    rows = pool_rows(run)
    assert len(rows) == 6 and all({"vqa", "aesthetics"} <= set(r["scores"]) for r in rows)
    summary = json.loads((run / "round_1" / "selection.json").read_text())
    assert summary["passing"] == summary["selected"] == 0
    assert (run / "questions-grammar.json").exists()  # questions cached beside the run
    assert main(args + ["--fallback-top-k"]) == 0  # resumes: same pool, top-1 by vqa per prompt
    assert pool_rows(run) == rows
    assert len((run / "round_1" / "selected.jsonl").read_text().splitlines()) == 2


def test_a_second_align_on_the_same_out_is_refused_in_one_line(tiny_model, tmp_path, capsys):
    from test_pool import hold_lock

    holder = hold_lock(tmp_path / "run")  # another process is running align on this --out
    try:
        assert main(align_args(tiny_model, tmp_path)) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(tmp_path / "run") in err and "another --out" in err
    assert not (tmp_path / "run" / "inputs.json").exists() and not (tmp_path / "run" / "round_1").exists()


def test_a_jsonl_pool_of_earlier_versions_resumes_without_resampling(tiny_model, tmp_path, monkeypatch):
    """(No val benchmark: it samples and scores too.) A round-1 pool in the format before pool.sqlite (rows.jsonl + one prompt_embeds.safetensors, as
    tests/legacy_pool.py writes it) is migrated on open, and align goes on from it: no candidate is sampled again."""
    from legacy_pool import LegacyPool

    from diffalign.pool import PoolRow

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "score_pool", stop)  # generate the pool, then stop
    with pytest.raises(KeyboardInterrupt):
        main(align_args(tiny_model, tmp_path, "run", "--eval-per-category", "0"))
    monkeypatch.undo()
    folder = tmp_path / "run" / "round_1" / "pool"
    with Pool(folder) as new:
        rows, embeds = new.rows(), new.prompt_embeds()
        latents, images = new.latents(rows), [new.image(r) for r in rows]
    for p in folder.iterdir():  # today's store away; images/ and latents/ have the same layout in both formats
        if p.name not in ("images", "latents"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    old = LegacyPool(folder)
    old.save_prompt_embeds(torch.cat([embeds[i].prompt_embeds for i in sorted(embeds)]))
    for start in range(0, len(rows), 2):  # the batches as they were sampled (--batch-size 2)
        part = rows[start : start + 2]
        old.append([PoolRow(**asdict(r)) for r in part], images[start : start + 2], latents[start : start + 2])
    assert (folder / "rows.jsonl").exists() and not (folder / "pool.sqlite").exists()

    calls = {"n": 0}
    real = loop.sample
    monkeypatch.setattr(loop, "sample", lambda *a, **k: (calls.__setitem__("n", calls["n"] + 1), real(*a, **k))[1])
    assert main(align_args(tiny_model, tmp_path, "run", "--eval-per-category", "0")) == 0
    assert calls["n"] == 0, "the migrated pool's candidates are not sampled again"
    assert [r["id"] for r in pool_rows(tmp_path / "run")] == [r.id for r in rows]
    assert (folder / "rows.jsonl.migrated").exists() and (folder / "pool.sqlite").exists()
    assert (tmp_path / "run" / "round_1" / "adapter_state.pt").exists()
