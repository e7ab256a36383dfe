"""The six benchmark categories as prompt generators, the shipped train/val/test prompt files, and the rule that
keeps held-out prompts out of training."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
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
TEST_SIZE = 60  # per benchmark category: test is drawn after val and train, from the same grammar


def text_hash(text: str) -> str:
    """The SHA-256 hex digest of a prompt's UTF-8 text: how the independent check's prompts are known."""
    return hashlib.sha256(text.encode()).hexdigest()


@lru_cache(maxsize=1)
def heldout_hashes() -> frozenset[str]:
    """Hashes of the independent check's prompts (heldout.sha256, copied from the project's shared/heldout:
    60 per category, 24 for numeracy; the texts are not given)."""
    return frozenset((PROMPT_DIR / "heldout.sha256").read_text().split())


def _draw(category: str, n: int, rng: np.random.Generator, exclude: set[str]) -> list[str]:
    """Up to n distinct prompts of a category, in drawn order, none in `exclude` or the independent check."""
    chosen: list[str] = []
    for _ in range(100 * n):
        text = random_spec(category, rng).text()
        if text not in exclude and text_hash(text) not in heldout_hashes():
            exclude.add(text)
            chosen.append(text)
            if len(chosen) == n:
                break
    return chosen


def make_prompt_sets(seed: int = 0) -> dict[tuple[str, str], list[str]]:
    """Disjoint val, train and test prompt lists for every category (single objects have no test).

    Val and train are drawn first, as they always were. Test is drawn afterwards with its own generator, from
    prompts in neither, where the grammar leaves room; shape and numeracy have 288 prompts each, too few for
    val + train + the independent check + test, so their test also takes prompts of the train draw, which
    then leave train (train stays disjoint from test)."""
    rng = np.random.default_rng(seed)
    out: dict[tuple[str, str], list[str]] = {}
    for category in CATEGORIES + AUX_CATEGORIES:
        taken: set[str] = set()
        for split, n in SPLIT_SIZES.items():
            out[(category, split)] = _draw(category, n, rng, taken)
    for category in CATEGORIES:
        val, train = out[(category, "val")], out[(category, "train")]
        test_rng = np.random.default_rng([seed, 1])
        test = _draw(category, TEST_SIZE, test_rng, set(val) | set(train))
        test += _draw(category, TEST_SIZE - len(test), test_rng, set(val) | set(test))
        out[(category, "test")] = test
        in_test = set(test)
        out[(category, "train")] = [t for t in train if t not in in_test]
    return out


def write_prompt_sets(directory: Path, seed: int = 0) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for (category, split), texts in make_prompt_sets(seed).items():
        (directory / f"{category}_{split}.txt").write_text("\n".join(texts) + "\n")


def shipped_prompts(split: str, categories=CATEGORIES) -> list[Prompt]:
    out = []
    for category in categories:
        path = PROMPT_DIR / f"{category}_{split}.txt"
        if not path.is_file() and split == "test" and category in AUX_CATEGORIES:
            continue
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


@lru_cache(maxsize=1)
def _held_out_texts() -> frozenset[str]:
    return frozenset(p.text for split in ("val", "test") for p in shipped_prompts(split, CATEGORIES + AUX_CATEGORIES))


def is_held_out(text: str) -> bool:
    """A shipped val or test prompt or one of the independent check's: it never enters any training stage of the
    built-in model or its scorers, as a caption, a caption swap's output, a hard negative, a twin or a contrast."""
    return text in _held_out_texts() or text_hash(text) in heldout_hashes()


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
