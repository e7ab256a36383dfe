"""Rule-based questions for free English prompts (T2I-CompBench style): no model, no network.

Rules keep scoring offline and deterministic. They cover CompBench's attribute, counting and spatial
templates ("a red apple and a blue vase", "three dogs", "a cat on the left of a sofa"); for anything
they cannot read they still ask one whole-prompt question.

How a prompt is read: lower-cased words are cut into noun phrases at determiners, numbers, relation
phrases, connectives and verb-like words; in a phrase the known adjectives (word lists below) before
the last words are attributes and those last words the noun ("a blue water bottle" -> blue, "water
bottle"). A relation links the nearest phrase before it to the next one after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from .base import MASS_NOUNS, Entity, Question, QuestionSet, Relation, build_questions

COLORS = ("red", "blue", "green", "yellow", "black", "white", "brown", "pink", "purple", "orange", "gray", "grey",
          "golden", "gold", "silver", "beige", "violet", "turquoise", "teal", "maroon", "navy", "cyan", "magenta",
          "crimson", "scarlet", "ivory", "bronze")
TEXTURES = ("wooden", "metallic", "metal", "plastic", "glass", "fabric", "leather", "rubber", "fluffy", "furry",
            "fuzzy", "woolen", "wool", "silk", "silky", "velvet", "cotton", "denim", "ceramic", "porcelain", "stone",
            "marble", "concrete", "paper", "cardboard", "steel", "iron", "rough", "smooth", "soft", "hard", "shiny",
            "glossy", "matte", "bumpy", "striped", "checkered", "spotted", "dotted", "plaid", "knitted", "woven",
            "rusty", "plain", "tiled")
SHAPES = ("round", "square", "rectangular", "triangular", "oval", "circular", "spherical", "cubic", "cylindrical",
          "conical", "pyramidal", "pentagonal", "hexagonal", "octagonal", "oblong", "teardrop", "diamond",
          "heart-shaped", "star-shaped", "curved", "flat")
SIZES = ("big", "small", "large", "tiny", "huge", "little", "tall", "short", "long", "giant", "massive", "miniature",
         "enormous", "wide", "narrow", "thick", "thin")
OTHER = ("old", "new", "young", "sleek", "bright", "colorful", "colourful", "cozy", "sharp", "jagged", "rocky",
         "lush", "crisp", "lumpy", "prickly", "clean", "dirty", "empty", "full", "fresh", "bold", "vibrant", "modern",
         "vintage", "antique", "cracked", "peeling", "broken", "wet", "dry", "warm", "rich")
ADJECTIVES = {w: category for category, words in
              (("color", COLORS), ("texture", TEXTURES), ("shape", SHAPES), ("size", SIZES), ("other", OTHER))
              for w in words}

NUMBERS = {w: n for n, w in enumerate(("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                                        "eleven", "twelve"), 1)}
SINGULAR_DETERMINERS = ("a", "an", "another", "each", "every", "this", "that")
PLURAL_DETERMINERS = ("these", "those", "several", "many", "few", "both")
POSSESSIVES = ("its", "their", "his", "her", "my", "your", "our")
DETERMINERS = frozenset((*SINGULAR_DETERMINERS, *PLURAL_DETERMINERS, *POSSESSIVES, "the", "some", "any", "all", "no"))

# Relation phrase (as words) -> how a question says it; CompBench's "on the bottom of" means below and
# "hidden by" means behind.
RELATIONS = {tuple(k.split()): v for k, v in {
    "on the left of": "to the left of", "to the left of": "to the left of", "left of": "to the left of",
    "on the right of": "to the right of", "to the right of": "to the right of", "right of": "to the right of",
    "next to": "next to", "beside": "next to", "besides": "next to", "on side of": "next to",
    "on the side of": "next to", "near": "near", "close to": "near",
    "on top of": "on top of", "on the top of": "on top of", "atop": "on top of",
    "on the bottom of": "below", "at the bottom of": "below", "below": "below", "above": "above", "over": "above",
    "behind": "behind", "hidden by": "behind", "in front of": "in front of",
    "under": "under", "underneath": "under", "beneath": "under", "on": "on", "onto": "on", "upon": "on",
    "inside": "inside", "inside of": "inside", "within": "inside", "in": "in",
}.items()}
_LONGEST_RELATION = max(map(len, RELATIONS))

PRONOUNS = frozenset(("it", "they", "them", "he", "she", "him", "i", "me", "you", "we", "us", "who", "whom", "which",
                      "what", "how", "why", "whose", "someone", "something", "everyone", "everything", "anyone",
                      "anything", "nobody", "nothing", "itself", "themselves", "himself", "herself"))
AUXILIARIES = frozenset(("is", "are", "was", "were", "be", "been", "being", "am", "has", "have", "had", "do", "does",
                         "did", "can", "could", "will", "would", "shall", "should", "may", "might", "must"))
# Words that end a noun phrase and start none: connectives, other prepositions, pronouns, common verbs.
BREAKS = AUXILIARIES | PRONOUNS | frozenset((
    "and", "or", "but", "nor", "yet", "so", "while", "as", "then", "than", "because", "if", "when", "where", "before",
    "after", "at", "by", "for", "from", "into", "to", "through", "towards", "toward", "with", "without", "about",
    "around", "across", "along", "against", "among", "between", "during", "past", "up", "down", "out", "off", "like",
    "of", "via", "there", "here", "next", "not", "never", "very", "too", "also", "just", "only", "together", "away",
    "sat", "sit", "sits", "hung", "hang", "hangs", "cut", "cuts", "fell", "falls", "shone", "shines", "stood",
    "stands", "lay", "lies", "rests", "ran", "runs", "flew", "flies", "swam", "swims", "ate", "eats", "held", "holds",
    "grew", "grows", "looks", "stares", "plays", "sleeps", "walks", "jumps", "floats", "contrasts",
    "sped", "made", "makes", "led", "fled", "spun", "swung", "shook", "drew", "threw", "rode", "wore", "tore", "bit",
    "hit", "lit", "dove", "drove", "struck", "stuck", "slid", "crept", "wept", "slept", "kept", "strode", "sang",
    "rang", "sank", "began", "came", "went", "saw", "took", "gave", "got", "brought", "caught", "taught", "fought",
))
ING_NOUNS = frozenset(("painting", "ring", "earring", "king", "thing", "string", "building", "ceiling", "clothing",
                       "evening", "morning", "swing", "wing", "spring", "icing", "pudding", "stocking", "railing",
                       "sibling", "duckling", "dumpling", "wedding", "bedding", "frosting", "topping", "sapling",
                       "lightning", "sling"))
ED_NOUNS = frozenset(("flowerbed", "seabed", "hundred", "speed", "breed", "steed", "tweed"))
LY_NOUNS = frozenset(("family", "butterfly", "dragonfly", "firefly", "lily", "jelly", "belly", "holly", "bully",
                      "rally", "supply", "assembly", "italy"))

IRREGULAR_SINGULARS = {"people": "person", "men": "man", "women": "woman", "children": "child", "mice": "mouse",
                       "geese": "goose", "feet": "foot", "teeth": "tooth", "knives": "knife", "wives": "wife",
                       "leaves": "leaf", "loaves": "loaf", "shelves": "shelf", "wolves": "wolf", "halves": "half",
                       "scarves": "scarf", "calves": "calf", "thieves": "thief", "lives": "life", "shoes": "shoe",
                       "toes": "toe", "canoes": "canoe", "cookies": "cookie", "movies": "movie", "pies": "pie",
                       "ties": "tie", "brownies": "brownie", "hoodies": "hoodie", "zombies": "zombie",
                       "smoothies": "smoothie", "beanies": "beanie", "police": "police", "cattle": "cattle"}
# Nouns that end like plurals but are singular (or the same either way).
SINGULAR_S = frozenset(("glass", "bus", "lens", "dress", "canvas", "chess", "news", "series", "species", "gas",
                        "atlas", "bonus", "cactus", "octopus", "grass", "walrus", "hippopotamus", "circus", "iris",
                        "tennis", "physics", "mattress", "compass", "harness", "fireworks"))

_TOKEN = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*|[,.;:!?()\"]")
_DIGITS = re.compile(r"[1-9][0-9]{0,3}")  # "3 dogs"; "0 dogs" and odd numbers are no count


@dataclass
class _Chunk:
    """Words of one noun phrase, after its determiner or number."""

    determiner: str | None
    words: list[str] = field(default_factory=list)


class RuleQuestionGenerator:
    """Entity, attribute, count and relation questions read off a prompt by the rules above."""

    def generate(self, prompt: str) -> QuestionSet:
        entities, relations = read(prompt)
        if not entities:
            text = " ".join(prompt.lower().split()).rstrip(".!?") or "anything"
            return QuestionSet(prompt, (Question(1, f"does the image show {text}?", "entity"),))
        return build_questions(prompt, entities, relations)


def read(prompt: str) -> tuple[list[Entity], list[Relation]]:
    """The prompt's noun phrases as entities and the relations between them."""
    entities: list[Entity] = []
    relations: list[Relation] = []
    pending: str | None = None  # a relation waiting for its object
    tokens = ["no" if t in ("0", "zero") else t for t in _TOKEN.findall(prompt.lower())]
    for item in _chunks(tokens):
        if isinstance(item, str):
            pending = item if entities else None
            continue
        if item.determiner is None and all(w in ADJECTIVES for w in item.words):
            if entities:  # "the cat is black": the adjectives describe the phrase before
                entities[-1] = replace(entities[-1], attributes=entities[-1].attributes + _attributes(item.words))
            continue
        entity = _entity(item)
        if pending is not None and item.determiner is None and not entity.many and entity.noun not in MASS_NOUNS:
            pending = None  # "nodding in agreement": an idiom, no object
            continue
        entities.append(entity)
        if pending is not None and item.determiner not in POSSESSIVES:  # "on its hind legs" is no scene layout
            relations.append(Relation(len(entities) - 2, pending, len(entities) - 1))
        pending = None
    return entities, relations


def _chunks(tokens: list[str]) -> list[_Chunk | str]:
    """Noun phrases in order, with the canonical relation phrases between them."""
    items: list[_Chunk | str] = []
    current: _Chunk | None = None

    def close() -> None:
        nonlocal current
        if current is not None and current.words:
            items.append(current)
        current = None

    i = 0
    while i < len(tokens):
        token, before = tokens[i], tokens[i - 1] if i else None
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        relation, length = relation_at(tokens, i)
        if relation is not None:
            close()
            items.append(relation)
            i += length
            continue
        inside = current is not None and bool(current.words)
        if inside and _is_content(after) and (token == "and" and current.words[-1] in ADJECTIVES
                                              or token == "," and _adjective_like(current.words[-1])):
            pass  # "black and white cat", "jagged, towering cliffs": the phrase goes on
        elif token == "of" and inside and _is_content(after):
            current.words.append(token)  # "a slice of cheese"
        elif token in DETERMINERS or token in NUMBERS or _DIGITS.fullmatch(token):
            close()
            current = _Chunk(token)
        elif _ends_phrase(token, before, after, current):
            close()
        else:
            current = current or _Chunk(None)
            current.words.append(token)
        i += 1
    close()
    return items


def relation_at(tokens: list[str], i: int) -> tuple[str | None, int]:
    """The canonical relation phrase starting at tokens[i] (longest match) and its length in tokens."""
    for length in range(min(_LONGEST_RELATION, len(tokens) - i), 0, -1):
        relation = RELATIONS.get(tuple(tokens[i:i + length]))
        if relation is not None:
            return relation, length
    return None, 0


def _is_content(token: str | None) -> bool:
    """Whether a word can go on a noun phrase (looked at one word ahead)."""
    return (token is not None and token[0].isalnum() and token not in DETERMINERS and token not in NUMBERS
            and token not in BREAKS and (token,) not in RELATIONS and not _adverb(token))


def _adjective_like(word: str) -> bool:
    return word in ADJECTIVES or word.endswith(("y", "ed", "ing", "ful", "ous", "ic", "al", "ive", "ish", "less"))


def _adverb(token: str) -> bool:
    return len(token) > 4 and token.endswith("ly") and token not in LY_NOUNS


def _ends_phrase(token: str, before: str | None, after: str | None, current: _Chunk | None) -> bool:
    """Whether `token` ends the phrase (and starts none): punctuation, numbers that are no count,
    connectives, adverbs and verbs. A word in -ing or -ed is a verb unless it opens a phrase after a
    determiner ("the crashing waves") or sits between an adjective and a noun ("the hard rocking
    chair"); so is a word between a noun and a determiner ("the fisherman cast their line") and a
    plural-looking word ending a singular phrase ("a cat naps on the sofa")."""
    if not token[0].isalnum() or token[0].isdecimal() or token in BREAKS or _adverb(token):
        return True
    if before == "to" or before in PRONOUNS or (token.endswith("ing") and before in AUXILIARIES):
        return True  # "to bake", "someone they love", "is painting a wall"
    after_noun = current is not None and bool(current.words) and current.words[-1] not in ADJECTIVES
    if token in ADJECTIVES:
        return False
    if len(token) > 4 and ((token.endswith("ing") and token not in ING_NOUNS)
                           or (token.endswith("ed") and token not in ED_NOUNS)):
        return current is None or (bool(current.words) and (after_noun or not _is_content(after)))
    if not after_noun:
        return False
    verb_after_singular = (current.determiner in SINGULAR_DETERMINERS and current.words[-1] != "of"
                           and _looks_plural(token) and not _is_content(after))  # "a cat naps on the sofa"
    return verb_after_singular or after in DETERMINERS or after in NUMBERS


def _entity(chunk: _Chunk) -> Entity:
    words = chunk.words
    cut = words.index("of") if "of" in words[1:] else len(words)
    head, tail = words[:cut], words[cut:]
    last_adjective = max((i for i, w in enumerate(head[:-1]) if w in ADJECTIVES), default=-1)
    noun_words = head[last_adjective + 1:]
    det = chunk.determiner
    count = NUMBERS.get(det) or (int(det) if det and _DIGITS.fullmatch(det) else None)
    # Without a number the noun decides: "a leather shoes" is about shoes.
    many = count > 1 if count else det in PLURAL_DETERMINERS or _looks_plural(noun_words[-1])
    singular = [*noun_words[:-1], singularize(noun_words[-1])] if many else noun_words
    return Entity(noun=" ".join(singular + tail), plural=" ".join(noun_words + tail),
                  attributes=_attributes(head[:last_adjective + 1]), count=count, many=many, present=det != "no")


def _attributes(words: list[str]) -> tuple[tuple[str, str], ...]:
    return tuple((ADJECTIVES[w], w) for w in dict.fromkeys(words) if w in ADJECTIVES)


def _looks_plural(word: str) -> bool:
    if word in IRREGULAR_SINGULARS:
        return True
    return (len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "'s", "’s"))
            and word not in SINGULAR_S)


def singularize(word: str) -> str:
    """Singular of an English noun ('knives' -> 'knife', 'boxes' -> 'box'); unknown words are kept."""
    if word in IRREGULAR_SINGULARS:
        return IRREGULAR_SINGULARS[word]
    if not _looks_plural(word):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "zzes", "ches", "shes", "oes")):
        return word[:-2]
    return word[:-1]
