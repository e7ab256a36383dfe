"""What kind of English word a word can be, for the rule reader (questions.rules).

Open-class words come from lemminflect's lexicon (the SPECIALIST lexicon, shipped inside the wheel):
which parts of speech a word can be, a verb's lemma and its -ing form. It lists readings, not how
common they are ("gentle" is also a verb there), so the reader asks it only what a position in the
phrase leaves open. The closed lists below are general English, not any benchmark's vocabulary:
framing and medium phrases, quantity and collective nouns, abstract nouns (with their suffixes),
light and placement verbs.
"""

from __future__ import annotations

from functools import lru_cache

from lemminflect import getAllLemmas, getInflection, getLemma

# "a photo of ...", "an oil painting of ...": said about the picture, not in it. Only at the start
# of a prompt (a man holding a photo of his family does hold a photo).
MEDIUM_NOUNS = frozenset((
    "photo", "photograph", "photography", "picture", "image", "painting", "drawing", "sketch", "illustration",
    "render", "rendering", "artwork", "art", "portrait", "close-up", "closeup", "shot", "snapshot", "view",
    "depiction", "scene", "poster", "print", "cartoon", "watercolor", "watercolour", "still", "frame", "selfie",
    "photorealistic", "digital", "oil", "pencil", "charcoal", "3d", "macro", "wide", "aerial", "realistic", "detailed",
    "cinematic", "beautiful", "high", "quality", "resolution", "hd", "4k", "8k", "style", "vector", "anime",
    "painted", "stock", "studio", "professional", "vintage", "black-and-white", "color", "colour", "film", "graphic",
))
# Lead-ins that introduce what the picture shows: "in this image we can see", "there is", "this is".
FRAMING_OPENERS = (
    ("in", "this", "image"), ("in", "this", "picture"), ("in", "this", "photo"), ("in", "the", "image"),
    ("in", "the", "picture"), ("in", "this", "photograph"), ("this", "image", "shows"), ("the", "image", "shows"),
    ("this", "picture", "shows"), ("the", "picture", "shows"), ("this", "is"), ("these", "are"), ("here", "is"),
    ("here", "are"), ("we", "can", "see"), ("i", "can", "see"), ("you", "can", "see"), ("we", "see"),
    ("there", "is"), ("there", "are"), ("it", "is"), ("it's",), ("image", "of"), ("picture", "of"), ("photo", "of"),
)
# Words that close a prompt's style tail: ", trending on artstation", ", 4k, highly detailed".
STYLE_WORDS = MEDIUM_NOUNS | frozenset((
    "trending", "artstation", "unreal", "engine", "octane", "lighting", "highly", "ultra", "sharp", "focus",
    "masterpiece", "award", "winning", "award-winning", "bokeh", "dslr", "lens", "mm", "35mm", "50mm", "concept",
    "fantasy", "surreal", "hyperrealistic", "hyper", "photoreal", "artgerm", "greg", "rutkowski", "by", "on", "in",
    "the", "of", "a", "an", "and", "very", "intricate", "elegant", "epic", "dramatic", "soft", "volumetric",
))

# "a group of people" asks about the people; "a couple of birds" about the birds.
QUANTITY_NOUNS = frozenset((
    "group", "groups", "bunch", "couple", "pair", "lot", "lots", "number", "variety", "kind", "sort", "type",
    "collection", "crowd", "herd", "flock", "pack", "swarm", "school", "team", "set", "series", "plenty",
    "handful", "dozen", "dozens", "hundreds", "thousands", "array", "assortment", "selection", "range", "mix",
    "cluster", "clump", "row", "line", "stack", "pile", "heap", "amount", "host", "multitude", "majority",
    "family", "colony", "bouquet", "band", "troop", "gang", "fleet", "bevy", "litter", "pod",
))
# Nouns for what cannot be pictured as an object: feelings, qualities, events, time, sound, ideas.
ABSTRACT_NOUNS = frozenset((
    "fun", "beauty", "love", "joy", "happiness", "sadness", "peace", "fear", "hope", "anger", "awe", "delight",
    "pleasure", "comfort", "relief", "tension", "stress", "calm", "serenity", "tranquility", "harmony", "balance",
    "contrast", "elegance", "grace", "grandeur", "charm", "mood", "atmosphere", "ambiance", "ambience", "vibe",
    "feeling", "emotion", "sense", "spirit", "soul", "mind", "thought", "idea", "dream", "memory", "imagination",
    "creativity", "ingenuity", "ambition", "dedication", "passion", "care", "attention", "skill", "skills",
    "talent", "ability", "experience", "adventure", "journey", "trip", "escape", "challenge", "problem", "success",
    "victory", "life", "lives", "lifestyle", "way", "ways", "time", "times", "moment", "day", "night", "year",
    "century", "age", "era", "past", "future", "history", "today", "bedtime", "birthday", "occasion", "event",
    "plan", "plans", "project", "work", "task", "job", "routine", "ritual", "habit", "practice", "behavior",
    "behaviour", "manner", "style", "fashion", "design", "shape", "form", "color", "colour", "colors", "colours",
    "texture", "tone", "tones", "hue", "hues", "pattern", "patterns", "scent", "aroma", "smell", "taste", "flavor",
    "flavour", "sound", "sounds", "noise", "music", "melody", "melodies", "song", "songs", "tune", "rhythm",
    "voice", "silence", "word", "words", "story", "stories", "meaning", "essence", "nature", "world", "energy",
    "strength", "power", "speed", "motion", "movement", "distance", "space", "middle", "midst", "rest", "end",
    "beginning", "start", "part", "side", "touch", "touches", "hint", "testament", "reminder",
    "marvel", "wonder", "mystery", "magic", "fantasy", "reality", "truth", "health", "wealth", "warmth",
    "darkness", "brightness", "heat", "cold", "weather", "climate", "air", "breeze", "wind", "chance", "luck",
    "care", "help", "support", "conversation", "discussion", "talk", "chat", "game", "games", "sport", "sports",
    "play", "walk", "run", "ride", "race", "look", "glance", "step", "steps", "move", "moves", "trick", "tricks",
    "course", "show", "performance", "concert", "party", "celebration", "ceremony", "protest", "competition",
    "tournament", "match", "class", "lesson", "meeting", "session", "practice", "exercise", "workout", "yoga",
    "meditation", "massage", "photoshoot", "picnic", "fetch", "golf",
    "soccer", "tennis", "chess", "archery", "ballet", "physics", "science",
    "math", "mathematics", "engineering", "architecture", "geometry", "nostalgia", "childhood", "possibility",
    "freedom", "nothing", "everything", "something", "anything", "other", "others", "one", "ones", "each",
    "both", "all", "most", "lot", "kind", "sort", "type", "number", "amount", "level", "degree",
    "quality", "view", "views", "scene", "scenery", "setting", "background", "foreground", "area",
    "location", "place", "spot", "position", "direction", "top", "bottom", "front", "back", "left", "right",
    "center", "centre", "edge", "corner", "surface", "interior", "exterior",
))
# "the top of the table", "the edge of the pool": a part named only through the object it is of.
RELATIONAL_PARTS = frozenset(("top", "bottom", "front", "back", "side", "edge", "corner", "middle", "center",
                              "centre", "surface", "interior", "exterior", "inside", "outside", "end", "rest",
                              "midst", "part", "piece", "half"))
# Suffixes that make abstract nouns ("happiness", "creativity", "heroism", "childhood", "friendship",
# "celebration", "exploration"), with the concrete words that happen to share them.
ABSTRACT_SUFFIXES = ("ness", "ity", "ism", "hood", "ship", "tion", "sion", "ance", "ence", "ment")
CONCRETE_EXCEPTIONS = frozenset((
    "ship", "spaceship", "warship", "battleship", "airship", "starship", "city", "witness", "harness", "wilderness",
    "fortress", "mattress", "station", "lotion", "potion", "portion", "mansion", "television", "intersection",
    "junction", "decoration", "decorations", "carnation", "installation", "fountain", "lion", "onion",
    "ambulance", "fence", "residence", "entrance", "audience", "apartment", "instrument", "monument", "pavement",
    "ornament", "garment", "basement", "compartment", "equipment", "document", "tournament", "cement",
    "fragment", "pigment", "segment", "sediment", "shipment", "implement", "attachment", "cushion", "pension",
    "university", "facility", "community", "nationality", "electricity", "deity", "sconce", "prince", "dance",
    "lance", "stance", "science", "creation", "construction", "collection", "invitation", "illustration",
    "reflection", "reflections", "explosion", "arrangement", "expression", "sculpture",
)) - frozenset(("tournament", "science", "dance", "creation", "collection", "construction", "expression",
                "stance"))

# Verbs that say little by themselves: "having fun", "making plans", "feeling awestruck" ask nothing
# about an action; with an adjective after them they describe their subject.
LIGHT_VERBS = frozenset(("have", "get", "make", "take", "give", "do", "feel", "seem", "appear", "become", "look",
                         "remain", "stay", "keep", "let", "go", "come", "try", "begin", "start", "continue",
                         "provide", "create", "add", "fill", "show", "showcase", "offer", "bring", "reveal",
                         "invite", "need", "want", "set", "lend"))
COPULAR_VERBS = frozenset(("feel", "seem", "appear", "become", "look", "remain", "stay", "get", "grow", "turn"))
# Verbs that only say where something is ("the mirror was hung above the sink"): a spatial relation,
# no action question.
STATIVE_VERBS = frozenset(("hang", "rest", "place", "locate", "position", "situate", "set", "put", "park",
                           "mount", "arrange", "store", "keep", "display", "lay", "lean", "attach", "stack",
                           "pile", "scatter", "spread", "perch", "nestle", "tuck", "nest", "leave", "stand",
                           "lie", "sit", "sat"))
# Verbs whose second place phrase tells where the object goes: "putting a book on the shelf".
PLACEMENT_VERBS = frozenset(("put", "place", "set", "hang", "lay", "pour", "drop", "throw", "toss", "stack",
                             "arrange", "load", "push", "pull", "carry", "move", "lift", "lower", "spread",
                             "sprinkle", "plant", "slide", "roll", "hold", "balance", "dip", "tuck"))


@lru_cache(maxsize=8192)
def classes(word: str) -> frozenset[str]:
    """The parts of speech the lexicon lists for a word ('NOUN', 'VERB', 'ADJ', 'ADV'); empty when unknown."""
    return frozenset(getAllLemmas(word))


def can_be_noun(word: str) -> bool:
    """False only for a word listed as an adjective and not as a noun ("gentle", "intricate"). The
    lexicon misses many noun readings ("log", "tin" are verbs only there) and names of things
    ("frisbee"), so a verb-only or unknown word still counts as a noun."""
    return not adjective_only(word)


def adjective_only(word: str) -> bool:
    """Listed as an adjective and never as a noun ("serene", "majestic", "gentle")."""
    found = classes(word)
    return "ADJ" in found and "NOUN" not in found


def verb_lemma(word: str) -> str | None:
    if "VERB" not in classes(word):
        return None
    lemmas = getLemma(word, "VERB")
    return lemmas[0] if lemmas else None


def ing_form(word: str) -> str:
    """'kneaded' -> 'kneading', 'naps' -> 'napping'; a word ending in -ing is kept."""
    if word.endswith("ing"):
        return word
    lemma = verb_lemma(word)
    forms = getInflection(lemma, "VBG") if lemma else ()
    return forms[0] if forms else word


def is_abstract(noun: str) -> bool:
    """Whether a head noun names no visible object: a listed abstract noun or an abstract suffix."""
    if noun in CONCRETE_EXCEPTIONS:
        return False
    if noun in ABSTRACT_NOUNS:
        return True
    stem = noun[:-1] if noun.endswith("s") else noun
    return len(stem) > 5 and stem.endswith(ABSTRACT_SUFFIXES) and stem not in CONCRETE_EXCEPTIONS
