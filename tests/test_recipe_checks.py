"""Every recipe error surfaces before the first image: one stderr line naming the setting, exit code 2, nothing
written. Each case used to fail only after a whole round had been sampled (or loaded a broken model silently)."""

import pytest

from diffalign.cli.main import main

MI = 'scorers = ["mi"]\n[selector]\nscores = ["mi"]\n'
DREAMSYNC = 'scorers = ["vqa", "aesthetics"]\n[selector]\nkind = "threshold"\nscores = ["vqa"]\n'
REALIGN = 'scorers = ["caption", "segments"]\n[selector]\nkind = "rank_sum"\nscores = ["caption", "segments"]\n'

CASES = {
    "selector column no scorer writes": (MI.replace('scores = ["mi"]', 'scores = ["vqa"]'), [],
                                         "selector.scores names vqa, which no recipe scorer writes"),
    "threshold on a column no scorer writes": (
        DREAMSYNC + 'minimums = { vqa = 0.9, aesthetic = 0.6 }\n', [],
        "selector.minimums names aesthetic, which no recipe scorer writes; the scorers write aesthetics, "),
    "stderr of MI when the hook alone fills MI": (MI.replace('scores = ["mi"]', 'scores = ["mi_stderr"]'), [],
                                                  "selector.scores names mi_stderr"),
    "caption scorer option typo": (REALIGN + '[scorer_options.caption]\ncaptioner = "builtin"\nmax_tokens = 4\n',
                                   [], "caption scorer: unknown option(s) max_tokens"),
    "segmenter option typo": (REALIGN + '[scorer_options.segments]\nbox_treshold = 0.2\n', [],
                              "segments scorer: unknown option(s) box_treshold"),
    "missing aesthetics weights": (DREAMSYNC + '[scorer_options.aesthetics]\nmodel = "/no/such/head.pth"\n', [],
                                   "aesthetics weights not found: /no/such/head.pth"),
    "unreachable scorer model id": (DREAMSYNC + '[scorer_options.vqa]\nmodel = "nobody-here/no-such-vqa"\n', [],
                                    "VQA model 'nobody-here/no-such-vqa' "),
    "guidance 1 with MI's sampling hook": (MI, ["--guidance", "1"], "sampler.guidance (--guidance) 1 turns "
                                           "classifier-free guidance off"),
    "LLM question generator that does not exist": (
        DREAMSYNC + '[scorer_options.vqa]\nquestions = "llm:nobody-here/no-such-llm"\n', [],
        "question generator LLM 'nobody-here/no-such-llm' "),
    "LLM judge that does not exist": (REALIGN + '[scorer_options.segments]\njudge = "llm:./no/such/judge"\n', [],
                                      "judge LLM not found: './no/such/judge'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_recipe_error_is_one_line_before_any_image(case, tmp_path, capsys):
    body, flags, message = CASES[case]
    recipe = tmp_path / "bad.toml"
    recipe.write_text('name = "bad"\n' + body)
    out = tmp_path / "run"
    assert main(["align", "--recipe", str(recipe), "--candidates", "2", "--prompts-per-category", "1",
                 *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert not out.exists() or not any(out.rglob("*.png"))


def test_score_checks_options_before_loading_anything(tmp_path, capsys):
    (tmp_path / "index.jsonl").write_text("")
    assert main(["score", "--scorer", "mi", "--images", str(tmp_path), "--prompt", "a red circle",
                 "--option", "n_timestep=4"]) == 2
    err = capsys.readouterr().err
    assert "mi scorer: unknown option(s) n_timestep (it takes kappa, min_timestep, estimator, n_timesteps" in err


def test_mi_hook_at_guidance_1_is_refused_only_where_guidance_is_classifier_free():
    """Flux takes guidance as an input and the MI hook makes its own unconditional pass: guidance 1 is fine there."""
    from dataclasses import replace

    from diffalign.errors import UserInputError
    from diffalign.methods.recipe import check_recipe, load_recipe

    recipe = load_recipe("mitune", False)
    recipe = replace(recipe, sampler=replace(recipe.sampler, guidance=1.0), mi=replace(recipe.mi, estimator="orthogonal"))
    with pytest.raises(UserInputError, match="turns classifier-free guidance off"):
        check_recipe(recipe)
    check_recipe(recipe, guidance_distilled=True)
