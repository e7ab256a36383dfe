"""A recipe is configuration, not code: typed dataclasses filled from a TOML file plus CLI overrides."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path

from ..errors import UserInputError
from ..sampling import SamplerConfig
from ..scorers.mi import MIConfig
from ..selection import SelectorConfig
from ..training import AdapterConfig, TrainConfig

RECIPE_DIR = resources.files("diffalign") / "recipes"


@dataclass(frozen=True)
class EvalConfig:
    per_category: int = 60  # val prompts per category for the before/after table
    per_prompt: int = 4  # images per val prompt (seeds 0..n-1, the same before and after)


@dataclass(frozen=True)
class Recipe:
    name: str
    scorers: list[str] = field(default_factory=lambda: ["mi"])
    candidates: int = 50  # M: samples per prompt and round
    rounds: int = 1  # R
    prompts_per_category: int | None = None  # None: every train prompt
    selector: SelectorConfig = SelectorConfig()
    adapter: AdapterConfig = AdapterConfig()
    train: TrainConfig = TrainConfig()
    sampler: SamplerConfig = SamplerConfig()
    mi: MIConfig = MIConfig()
    eval: EvalConfig = EvalConfig()
    scorer_options: dict[str, dict] = field(default_factory=dict)  # [scorer_options.<name>] tables


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
    """Apply CLI overrides given as dotted names: override(r, rounds=2, **{"adapter.rank": 16})."""
    table: dict = {}
    for key, value in changes.items():
        if value is None:
            continue
        section, _, name = key.partition(".")
        if name:
            table.setdefault(section, {})[name] = value
        else:
            table[key] = value
    return _apply(recipe, table, "command-line options")
