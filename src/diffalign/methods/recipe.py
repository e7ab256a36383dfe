"""A recipe is configuration, not code: typed dataclasses filled from a TOML file plus CLI overrides."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path

from ..errors import UserInputError
from ..sampling import SamplerConfig
from ..scorers import check_scorer, written_columns
from ..scorers.mi import MIConfig
from ..selection import SELECTOR_KINDS, SelectorConfig
from ..training import AdapterConfig, TrainConfig, check_train_config
from ..training.adapters import ADAPTER_KINDS

RECIPE_DIR = resources.files("diffalign") / "recipes"


EVAL_SPLITS = ("val", "test")


@dataclass(frozen=True)
class EvalConfig:
    per_category: int = 60  # val prompts per category for the before/after table
    per_prompt: int = 4  # images per val prompt (seeds 0..n-1, the same before and after)
    # the shipped held-out split the per-round benchmark reads (without --val-prompts): "val" to tune a recipe on,
    # "test" (the shapes world only; never tuned on) to report its gain
    split: str = "val"


@dataclass(frozen=True)
class Recipe:
    """Defaults are neutral (no paper's): the shipped TOMLs hold each method's values, [builtin] the built-in
    model's."""

    name: str
    scorers: list[str] = field(default_factory=list)
    candidates: int = 4  # M: samples per prompt and round
    rounds: int = 1  # R
    prompts_per_category: int | None = None  # None: every train prompt
    selector: SelectorConfig = SelectorConfig()
    adapter: AdapterConfig = AdapterConfig()
    train: TrainConfig = TrainConfig()
    sampler: SamplerConfig = SamplerConfig()
    mi: MIConfig = MIConfig()  # the MI scorer's options and its sampling hook's: their one home
    eval: EvalConfig = EvalConfig()
    scorer_options: dict[str, dict] = field(default_factory=dict)  # [scorer_options.<name>]: the other scorers'
    score_batch: int = 64  # images handed to a scorer per call, their scores saved after each (MI's UNet batch: mi.batch_size)


def scorer_options(recipe: Recipe, name: str):
    """A recipe scorer's typed options: [mi] for MI, [scorer_options.<name>] for the others."""
    return recipe.mi if name == "mi" else recipe.scorer_options.get(name, {})


def mi_during_sampling(recipe: Recipe) -> bool:
    """MI's orthogonal estimate comes free with CFG sampling; the standard one is scored on the images after."""
    return "mi" in recipe.scorers and recipe.mi.estimator == "orthogonal"


_SECTIONS = {"selector": SelectorConfig, "adapter": AdapterConfig, "train": TrainConfig, "sampler": SamplerConfig,
             "mi": MIConfig, "eval": EvalConfig}


def _apply(recipe: Recipe, table: dict, source: str) -> Recipe:
    known = {f.name for f in fields(Recipe)}
    changes = {}
    for key, value in table.items():
        if key not in known:
            raise UserInputError(f"unknown recipe field {key!r} in {source}")
        if key in _SECTIONS:
            section = getattr(recipe, key)
            allowed = {f.name for f in fields(section)}
            bad = set(value) - allowed
            if bad:
                raise UserInputError(f"unknown field(s) {sorted(bad)} in [{key}] of {source}")
            if "target_modules" in value:
                value = {**value, "target_modules": tuple(value["target_modules"])}
            changes[key] = replace(section, **value)
        else:
            changes[key] = value
    return replace(recipe, **changes)


def load_recipe(name_or_path: str, builtin_model: bool) -> Recipe:
    """A shipped recipe by name (mitune) or a TOML path; [builtin] overrides apply to the built-in model."""
    path = Path(name_or_path)
    if not path.suffix:
        path = Path(str(RECIPE_DIR / f"{name_or_path}.toml"))
    if not path.is_file():
        shipped = sorted(p.name.removesuffix(".toml") for p in RECIPE_DIR.iterdir() if p.name.endswith(".toml"))
        raise UserInputError(f"unknown recipe {name_or_path!r}: use one of {', '.join(shipped)} or a .toml path")
    try:
        table = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise UserInputError(f"recipe {path} is not valid TOML: {err}") from None
    builtin = table.pop("builtin", {})
    recipe = _apply(Recipe(name=table.get("name", path.stem)), table, str(path))
    return _apply(recipe, builtin, f"[builtin] of {path}") if builtin_model else recipe


def override(recipe: Recipe, **changes) -> Recipe:
    """Apply CLI overrides given as dotted names: override(r, rounds=2, **{"adapter.rank": 16}); a scorer option
    as "scorer_options.<scorer>.<option>", kept beside that scorer's other options."""
    table: dict = {}
    for key, value in changes.items():
        if value is None:
            continue
        section, _, name = key.partition(".")
        if section == "scorer_options" and name:
            scorer, _, option = name.partition(".")
            options = table.setdefault(section, {k: dict(v) for k, v in recipe.scorer_options.items()})
            options.setdefault(scorer, {})[option] = value
        elif name:
            table.setdefault(section, {})[name] = value
        else:
            table[key] = value
    return _apply(recipe, table, "command-line options")


def check_recipe(recipe: Recipe, guidance_distilled: bool = False) -> None:
    """Refuse, before any image is generated, settings that would otherwise fail or select nothing only after a
    round's candidates were sampled and scored. Fields are named as in the TOML file, with their align option.
    `guidance_distilled`: the model takes guidance as an input (Flux), and the MI hook makes its own unconditional
    pass whatever the guidance."""
    counts = {"candidates (--candidates)": recipe.candidates, "rounds (--rounds)": recipe.rounds,
              "selector.k (--top-k)": recipe.selector.k, "selector.pairs (--pairs)": recipe.selector.pairs,
              "adapter.rank (--rank)": recipe.adapter.rank,
              "sampler.steps (--steps)": recipe.sampler.steps,
              "sampler.batch_size (--batch-size)": recipe.sampler.batch_size, "eval.per_prompt": recipe.eval.per_prompt,
              "mi.n_timesteps (--mi-timesteps)": recipe.mi.n_timesteps, "score_batch (--score-batch)": recipe.score_batch,
              "prompts_per_category (--prompts-per-category)":
                  1 if recipe.prompts_per_category is None else recipe.prompts_per_category}
    for name, value in counts.items():
        if value < 1:
            raise UserInputError(f"{name} must be at least 1, got {value}")
    if recipe.eval.per_category < 0:
        raise UserInputError(f"eval.per_category (--eval-per-category) must not be negative (0: no val benchmark), "
                             f"got {recipe.eval.per_category}")
    if not recipe.adapter.alpha > 0:
        raise UserInputError(f"adapter.alpha (--alpha) must be positive, got {recipe.adapter.alpha}")
    for name, value, allowed in (("selector.kind (--selector)", recipe.selector.kind, SELECTOR_KINDS),
                                 ("adapter.kind (--lora/--dora)", recipe.adapter.kind, ADAPTER_KINDS),
                                 ("eval.split (--eval-split)", recipe.eval.split, EVAL_SPLITS)):
        if value not in allowed:
            raise UserInputError(f"unknown {name} {value!r}; choose from {', '.join(allowed)}")
    check_train_config(recipe.train)
    if not recipe.scorers:
        raise UserInputError("the recipe lists no scorers: give at least one in scorers = [...]")
    if "mi" in recipe.scorer_options:  # one source: the sampling hook and the scorer both read [mi]
        raise UserInputError(f"set MI's options ({', '.join(sorted(recipe.scorer_options['mi']))}) in the [mi] "
                             f"table, which the sampling hook and the scorer both read, not in [scorer_options.mi]")
    stray = sorted(set(recipe.scorer_options) - set(recipe.scorers))
    if stray:
        raise UserInputError(f"[scorer_options] for scorer(s) the recipe does not use: {', '.join(stray)}")
    written = set()
    for name in recipe.scorers:
        options = check_scorer(name, scorer_options(recipe, name))
        written.update(written_columns(name, options))
    check_selector_columns(recipe.selector, written)
    if (mi_during_sampling(recipe) and not guidance_distilled and recipe.sampler.guidance is not None
            and recipe.sampler.guidance <= 1):
        raise UserInputError(f"sampler.guidance (--guidance) {recipe.sampler.guidance:g} turns classifier-free "
                             f"guidance off, but MI's orthogonal estimator reads the conditional and unconditional "
                             f"predictions of guided sampling: use guidance > 1 or mi.estimator = standard")


def check_selector_columns(selector: SelectorConfig, written: set[str]) -> None:
    """The selector ranks and thresholds only columns that some recipe scorer writes."""
    if not selector.scores:
        raise UserInputError("selector.scores is empty: name the score column(s) that rank a prompt's candidates")
    for setting, names in (("selector.scores", selector.scores), ("selector.minimums", selector.minimums)):
        unknown = sorted(set(names) - written)
        if unknown:
            raise UserInputError(f"{setting} names {', '.join(unknown)}, which no recipe scorer writes; the scorers "
                                 f"write {', '.join(sorted(written))}")
