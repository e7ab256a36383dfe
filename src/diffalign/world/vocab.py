"""The closed vocabulary of the built-in shapes world: what can be drawn and said."""

IMAGE_SIZE = 64
BACKGROUND = (245, 245, 245)

# Light shade of each colour; textures alternate it with DARK_FACTOR times it.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
    "purple": (140, 60, 190),
    "orange": (245, 130, 20),
}
DARK_FACTOR = 0.5
COLORS = tuple(PALETTE)
SHAPES = ("circle", "square", "triangle", "cross")
TEXTURES = ("plain", "striped", "checkered")
# Side length in pixels of an object's bounding box; the evaluator splits at SIZE_THRESHOLD.
SIZES: dict[str, tuple[int, int]] = {"small": (12, 16), "large": (22, 26)}
SIZE_THRESHOLD = 19
# Width (pixels) of a stripe or a check, anchored to the image grid: one 8-pixel cell of the
# autoencoder's latent grid is all light or all dark. A pattern inside a cell that repeats in every
# cell cannot be decoded: a convolutional decoder maps a constant latent to a constant image.
TEXTURE_CELL = 8
RELATIONS: dict[str, str] = {
    "to the left of": "left",
    "to the right of": "right",
    "above": "above",
    "below": "below",
}
OPPOSITE_RELATION = {"left": "right", "right": "left", "above": "below", "below": "above"}
# The relation in the scene mirrored on its diagonal: the other axis, with the first object still first in
# reading order (left of <-> above). The pair a model that only learnt "first" vs "second" confuses.
TRANSPOSED_RELATION = {"left": "above", "above": "left", "right": "below", "below": "right"}
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4}
MAX_OBJECTS = 4
CATEGORIES = ("color", "shape", "texture", "spatial", "numeracy", "complex")
# Auxiliary prompt set of single fully described objects (not one of the six benchmark categories).
AUX_CATEGORIES = ("single",)
PLURALS = {shape: shape + ("es" if shape.endswith(("s", "x")) else "s") for shape in SHAPES}
ARTICLES = ("a", "an")
CONJUNCTION = "and"


def article(phrase: str) -> str:
    """"a" or "an" for a phrase by how its first word sounds, as far as the spelling tells: an orange, a red, a
    unicorn, a one-eyed cat, a European."""
    vowel = phrase[:1] in ("a", "e", "i", "o", "u") and not phrase.startswith(("uni", "use", "one", "eu"))
    return ARTICLES[vowel]


def with_article(phrase: str) -> str:
    return f"{article(phrase)} {phrase}"


def words() -> list[str]:
    """Every word a prompt of the grammar may contain, in a stable order (the tokenizer's vocabulary)."""
    out: list[str] = [*ARTICLES, CONJUNCTION, *NUMBERS, *SIZES, *COLORS, *TEXTURES, *SHAPES, *PLURALS.values()]
    for phrase in RELATIONS:
        out.extend(phrase.split())
    return list(dict.fromkeys(out))
