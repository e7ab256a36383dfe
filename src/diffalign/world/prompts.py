"""The six benchmark categories as prompt generators, and the shipped train/val prompt files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import UserInputError
from .spec import ObjectSpec, PromptSpec
from .vocab import AUX_CATEGORIES, CATEGORIES, COLORS, RELATIONS, SHAPES, SIZES, TEXTURES


def _pick(rng: np.random.Generator, options, exclude=()) -> str:
    return str(rng.choice([o for o in options if o not in exclude]))


def random_spec(category: str, rng: np.random.Generator) -> PromptSpec:
    """A random prompt of a category; its templates are listed in docs/world.md."""
    shape, shape2 = _pick(rng, SHAPES), _pick(rng, SHAPES)
    relations = list(RELATIONS.values())
    if category == "color":  # two objects that differ in colour
        c1 = _pick(rng, COLORS)
        return PromptSpec((ObjectSpec(shape, color=c1), ObjectSpec(shape2, color=_pick(rng, COLORS, {c1}))))
    if category == "shape":  # two different shapes, one colour, sizes bound to shapes
        color, shape2 = _pick(rng, COLORS), _pick(rng, SHAPES, {shape})
        return PromptSpec((ObjectSpec(shape, color=color, size=_pick(rng, SIZES)),
                           ObjectSpec(shape2, color=color, size=_pick(rng, SIZES))))
    if category == "texture":  # two different textures, one colour
        color, t1 = _pick(rng, COLORS), _pick(rng, TEXTURES)
        return PromptSpec((ObjectSpec(shape, color=color, texture=t1),
                           ObjectSpec(shape2, color=color, texture=_pick(rng, TEXTURES, {t1}))))
    if category == "spatial":
        c1 = _pick(rng, COLORS)
        return PromptSpec((ObjectSpec(shape, color=c1), ObjectSpec(shape2, color=_pick(rng, COLORS, {c1}))),
                          relation=str(rng.choice(relations)))
    if category == "numeracy":
        size = None if rng.random() < 0.5 else _pick(rng, SIZES)
        count = int(rng.integers(1, 5))
        return PromptSpec((ObjectSpec(shape, color=_pick(rng, COLORS), size=size, count=count),),
                          counted=count == 1)
    if category == "complex":  # fully described objects in a relation
        c1 = _pick(rng, COLORS)
        first = ObjectSpec(shape, c1, _pick(rng, TEXTURES), _pick(rng, SIZES))
        second = ObjectSpec(shape2, _pick(rng, COLORS, {c1}), _pick(rng, TEXTURES), _pick(rng, SIZES))
        return PromptSpec((first, second), relation=str(rng.choice(relations)))
    if category == "single":
        return PromptSpec((ObjectSpec(shape, _pick(rng, COLORS), _pick(rng, TEXTURES), _pick(rng, SIZES)),))
    raise ValueError(f"unknown category {category!r}; choose from {', '.join(CATEGORIES + AUX_CATEGORIES)}")


@dataclass(frozen=True)
class Prompt:
    text: str
    category: str | None = None


PROMPT_DIR = resources.files("diffalign.world") / "prompts"
SPLIT_SIZES = {"val": 60, "train": 150}


def make_prompt_sets(seed: int = 0) -> dict[tuple[str, str], list[str]]:
    """Disjoint val and train prompt lists for every category (val drawn first)."""
    rng = np.random.default_rng(seed)
    out: dict[tuple[str, str], list[str]] = {}
    for category in CATEGORIES + AUX_CATEGORIES:
        taken: set[str] = set()
        for split, n in SPLIT_SIZES.items():
            chosen: list[str] = []
            for _ in range(100 * n):
                text = random_spec(category, rng).text()
                if text not in taken:
                    taken.add(text)
                    chosen.append(text)
                if len(chosen) == n:
                    break
            out[(category, split)] = chosen
    return out


def write_prompt_sets(directory: Path, seed: int = 0) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for (category, split), texts in make_prompt_sets(seed).items():
        (directory / f"{category}_{split}.txt").write_text("\n".join(texts) + "\n")


def shipped_prompts(split: str, categories=CATEGORIES) -> list[Prompt]:
    out = []
    for category in categories:
        path = PROMPT_DIR / f"{category}_{split}.txt"
        out.extend(Prompt(t, category) for t in path.read_text().splitlines() if t.strip())
    return out


def first_per_category(prompts: list[Prompt], n: int) -> list[Prompt]:
    """The first n prompts of each category, in file order."""
    seen: dict[str | None, int] = {}
    out = []
    for p in prompts:
        seen[p.category] = seen.get(p.category, 0) + 1
        if seen[p.category] <= n:
            out.append(p)
    return out


def val_prompt_texts() -> set[str]:
    """Every shipped val prompt: never used to train the built-in model."""
    return {p.text for p in shipped_prompts("val", CATEGORIES + AUX_CATEGORIES)}


class PromptFileError(UserInputError):
    """A prompt file that cannot be read."""


# T2I-CompBench's categories beyond the shapes world's, so its files (non_spatial_val.txt) name their category too
FILE_CATEGORIES = CATEGORIES + AUX_CATEGORIES + ("3d_spatial", "non_spatial")


def category_of_file(path: Path) -> str | None:
    """The category a prompt file's name gives, when it is a known one: its stem less a _train / _val / _test split
    (non_spatial_train.txt, 3d_spatial_val.txt), else the stem's first word (color_val_small.txt)."""
    stem, _, split = path.stem.rpartition("_")
    names = (stem if split in ("train", "val", "test") else path.stem, path.stem.split("_")[0])
    return next((n for n in names if n in FILE_CATEGORIES), None)


def read_prompt_file(path: str | Path, category: str | None = None) -> list[Prompt]:
    """Read .txt (one prompt per line; category from argument or a name like color_val.txt) or .jsonl."""
    path = Path(path)
    if not path.is_file():
        raise PromptFileError(f"prompt file not found: {path}")
    lines = path.read_text(encoding="utf-8-sig").splitlines()  # splitlines drops \r of CRLF files
    if path.suffix == ".jsonl":
        prompts = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row["prompt"], str) or not row["prompt"].strip():
                    raise TypeError
                prompts.append(Prompt(row["prompt"].strip(), row.get("category") or category))
            except (json.JSONDecodeError, KeyError, TypeError):
                raise PromptFileError(f"{path}:{n}: expected a JSON object with a non-empty 'prompt' string") from None
    else:
        if category is None:
            category = category_of_file(path)
        prompts = [Prompt(line.strip(), category) for line in lines if line.strip()]
    if not prompts:
        raise PromptFileError(f"prompt file {path} holds no prompts: write one prompt per line")
    return prompts
