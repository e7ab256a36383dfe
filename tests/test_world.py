"""The shapes world: grammar round-trips, rendering, prompt errors and prompt files (numpy only, fast)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import ndimage

from diffalign.world.grammar import PromptError, parse
from diffalign.world.prompts import (PROMPT_DIR, Prompt, PromptFileError, random_spec, read_prompt_file,
                                     shipped_prompts)
from diffalign.world.render import MARGIN, render_prompt
from diffalign.world.spec import ObjectSpec, PromptSpec
from diffalign.world.vocab import (AUX_CATEGORIES, BACKGROUND, CATEGORIES, COLORS, IMAGE_SIZE, SHAPES, SIZES,
                                   TEXTURES)

ALL = CATEGORIES + AUX_CATEGORIES


# --- grammar ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("category", ALL)
def test_random_specs_round_trip(category):
    rng = np.random.default_rng(ALL.index(category))
    for _ in range(300):
        spec = random_spec(category, rng)
        text = spec.text()
        parsed = parse(text)
        assert parsed.text() == text
        assert parsed == spec, f"parse({text!r}) = {parsed} != {spec}"


@pytest.mark.parametrize("category", ALL)
@pytest.mark.parametrize("split", ["train", "val"])
def test_shipped_prompts_round_trip(category, split):
    prompts = shipped_prompts(split, (category,))
    assert prompts
    for p in prompts:
        spec = parse(p.text)
        assert spec.text() == p.text
        assert parse(spec.text()) == spec


def test_hand_written_specs_round_trip():
    specs = [
        PromptSpec((ObjectSpec("circle"),)),
        PromptSpec((ObjectSpec("cross", "orange", "striped", "large"),)),
        PromptSpec((ObjectSpec("square", count=3), ObjectSpec("triangle", "blue"))),
        PromptSpec((ObjectSpec("circle"), ObjectSpec("square", count=2)), counted=True),
        PromptSpec((ObjectSpec("circle", "red"), ObjectSpec("square")), relation="below", counted=True),
        PromptSpec((ObjectSpec("cross", size="small", count=4),)),
    ]
    for spec in specs:
        assert parse(spec.text()) == spec
        assert parse(spec.text()).text() == spec.text()


def test_parse_is_lenient_about_case_order_and_trailing_full_stop():
    assert parse("A Large Red Striped Circle.") == parse("a large red striped circle")
    assert parse("a striped red large circle") == parse("a large red striped circle")
    assert parse("  an orange   cross \n") == PromptSpec((ObjectSpec("cross", "orange"),))


@pytest.mark.parametrize("prompt, unknown", [
    ("a red dog and a blue cat", ["dog", "cat"]),
    ("a red circle and a green hexagon", ["hexagon"]),
    ("five circles", ["five"]),
    ("a crimson circle next to a square", ["crimson", "next"]),
])
def test_out_of_vocabulary_prompt_names_the_unknown_words(prompt, unknown):
    with pytest.raises(PromptError) as err:
        parse(prompt)
    message = str(err.value)
    for word in unknown:
        assert word in message
    assert "vocabulary" in message


@pytest.mark.parametrize("prompt", ["", "   ", "\n", "\t \r\n"])
def test_empty_prompt_is_rejected(prompt):
    with pytest.raises(PromptError, match="empty"):
        parse(prompt)


@pytest.mark.parametrize("prompt", [
    "red circle",  # no article
    "circle",
    "two red circle",  # number and noun disagree
    "a red circles",
    "one blue squares",
    "a red blue circle",  # two colours
    "a small large circle",
    "a striped plain square",
    "a red",  # no shape
    "a",
    "and",
    "a red circle and",
    "a red circle to the left of",
    "above a blue square",
    "a circle above a square above a triangle",
    "a red circle and a blue square and a green cross",
    "two circles above a square",  # relation needs single objects
    "a circle to the left of three squares",
    "a the circle",
    "a red circle left of a blue square",
    ".",
])
def test_malformed_prompts_are_rejected(prompt):
    with pytest.raises(PromptError):
        parse(prompt)


def test_prompt_error_is_a_value_error():
    assert issubclass(PromptError, ValueError)


# --- rendering --------------------------------------------------------------------------------------

def _boxes_apart(a, b) -> bool:
    return (a.x + a.side + MARGIN <= b.x or b.x + b.side + MARGIN <= a.x
            or a.y + a.side + MARGIN <= b.y or b.y + b.side + MARGIN <= a.y)


@pytest.mark.parametrize("category", ALL)
def test_every_category_renders(category):
    rng = np.random.default_rng(100 + ALL.index(category))
    for seed in range(40):
        spec = random_spec(category, rng)
        image, objects = render_prompt(spec, seed)
        assert image.shape == (IMAGE_SIZE, IMAGE_SIZE, 3) and image.dtype == np.uint8
        assert len(objects) == spec.n_objects
        # every object lies inside the image, clear of the border
        for o in objects:
            assert MARGIN <= o.x and o.x + o.side <= IMAGE_SIZE - MARGIN
            assert MARGIN <= o.y and o.y + o.side <= IMAGE_SIZE - MARGIN
            assert SIZES[o.size][0] <= o.side <= SIZES[o.size][1]
        # objects never overlap or touch
        for a, b in itertools.combinations(objects, 2):
            assert _boxes_apart(a, b), (spec.text(), a, b)
        # ... so the image holds exactly one connected blob of ink per object
        ink = np.any(image != np.array(BACKGROUND, np.uint8), axis=-1)
        _, n_blobs = ndimage.label(ink)
        assert n_blobs == spec.n_objects, spec.text()
        # objects carry what the prompt asked for, group by group
        start = 0
        for group in spec.objects:
            members = objects[start:start + group.count]
            start += group.count
            for o in members:
                assert group.matches(o.shape, o.color, o.texture, o.size)
                assert o.texture == (group.texture or "plain")
            assert len({(o.color, o.size, o.side) for o in members}) == 1  # one colour and size per group
        if spec.relation is not None:
            (ax, ay), (bx, by) = objects[0].center, objects[1].center
            dx, dy = bx - ax, by - ay
            along, across = {"left": (dx, dy), "right": (-dx, dy), "above": (dy, dx), "below": (-dy, dx)}[
                spec.relation]
            assert along >= 6 and abs(across) <= along / 2


def test_render_is_deterministic_per_seed():
    spec = parse("a large red striped circle to the left of a small blue checkered cross")
    a, objs_a = render_prompt(spec, 7)
    b, objs_b = render_prompt(spec, 7)
    assert np.array_equal(a, b) and objs_a == objs_b


def test_render_uses_only_palette_shades():
    from diffalign.world.vocab import DARK_FACTOR, PALETTE
    allowed = {tuple(BACKGROUND)}
    for rgb in PALETTE.values():
        allowed.add(tuple(rgb))
        allowed.add(tuple((np.array(rgb, np.float32) * DARK_FACTOR).astype(np.uint8).tolist()))
    rng = np.random.default_rng(5)
    for seed in range(20):
        image, _ = render_prompt(random_spec("complex", rng), seed)
        colours = {tuple(c) for c in image.reshape(-1, 3).tolist()}
        assert colours <= allowed


def test_vocabulary_is_consistent():
    assert len(set(COLORS)) == 6 and len(set(SHAPES)) == 4 and len(set(TEXTURES)) == 3
    lo_small, hi_small = SIZES["small"]
    lo_large, hi_large = SIZES["large"]
    from diffalign.world.vocab import SIZE_THRESHOLD
    assert hi_small < SIZE_THRESHOLD <= lo_large - 1  # a triangle's box may lose one row at the top


# --- shipped prompt files ---------------------------------------------------------------------------

@pytest.mark.parametrize("category", ALL)
def test_train_and_val_are_disjoint(category):
    train = (PROMPT_DIR / f"{category}_train.txt").read_text().splitlines()
    val = (PROMPT_DIR / f"{category}_val.txt").read_text().splitlines()
    assert len(val) >= 50
    assert train
    assert len(set(val)) == len(val) and len(set(train)) == len(train)
    assert not set(train) & set(val)


# --- read_prompt_file -------------------------------------------------------------------------------

def test_txt_with_crlf_and_category_from_file_name(tmp_path):
    path = tmp_path / "color_val.txt"
    path.write_bytes(b"a red circle and a blue square\r\n\r\n  a green cross and a yellow circle  \r\n")
    prompts = read_prompt_file(path)
    assert prompts == [Prompt("a red circle and a blue square", "color"),
                       Prompt("a green cross and a yellow circle", "color")]
    for p in prompts:
        assert "\r" not in p.text
        parse(p.text)


def test_txt_category_argument_wins_and_unknown_file_name_gives_none(tmp_path):
    path = tmp_path / "color_mine.txt"
    path.write_text("a red circle above a blue square\n")
    assert read_prompt_file(path, category="spatial") == [Prompt("a red circle above a blue square", "spatial")]
    other = tmp_path / "my_prompts.txt"
    other.write_text("a red circle\n")
    assert read_prompt_file(other) == [Prompt("a red circle", None)]
    single = tmp_path / "single.txt"
    single.write_text("a red circle\n")
    assert read_prompt_file(single) == [Prompt("a red circle", "single")]


def test_txt_with_byte_order_mark(tmp_path):
    path = tmp_path / "shape_val.txt"
    path.write_bytes("a small red circle and a large red square\n".encode("utf-8-sig"))
    assert read_prompt_file(path)[0].text == "a small red circle and a large red square"


def test_jsonl(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_bytes(b'{"prompt": "a red circle above a blue square", "category": "spatial"}\r\n'
                     b"\r\n"
                     b'{"prompt": " three green crosses "}\n')
    assert read_prompt_file(path) == [Prompt("a red circle above a blue square", "spatial"),
                                      Prompt("three green crosses", None)]
    assert read_prompt_file(path, category="numeracy")[1] == Prompt("three green crosses", "numeracy")


def test_shipped_file_reads_back(tmp_path):
    prompts = read_prompt_file(PROMPT_DIR / "numeracy_val.txt")
    assert len(prompts) == 60 and {p.category for p in prompts} == {"numeracy"}


@pytest.mark.parametrize("name, content", [("empty.txt", b""), ("blank_val.txt", b"\n  \r\n\n"),
                                           ("empty.jsonl", b""), ("blank.jsonl", b"\n\n")])
def test_empty_prompt_file_is_rejected(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(PromptFileError, match="no prompts"):
        read_prompt_file(path)


def test_missing_prompt_file_is_rejected(tmp_path):
    with pytest.raises(PromptFileError, match="not found"):
        read_prompt_file(tmp_path / "nope.txt")
    with pytest.raises(PromptFileError):
        read_prompt_file(tmp_path)  # a directory is not a prompt file


@pytest.mark.parametrize("line", [
    b"a red circle",  # not JSON
    b'{"prompt": "a red circle"',  # truncated
    b'{"text": "a red circle"}',  # no prompt field
    b'["a red circle"]',  # not an object
    b'"a red circle"',
    b"42",
])
def test_malformed_jsonl_is_rejected(tmp_path, line):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"prompt": "a blue square"}\n' + line + b"\n")
    with pytest.raises(PromptFileError, match=r"bad\.jsonl:2"):
        read_prompt_file(path)


def test_prompt_file_error_is_a_value_error():
    assert issubclass(PromptFileError, ValueError)
