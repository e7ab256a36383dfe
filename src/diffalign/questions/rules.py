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
from .lexicon import (COPULAR_VERBS, FRAMING_OPENERS, LIGHT_VERBS, MEDIUM_NOUNS, PLACEMENT_VERBS, QUANTITY_NOUNS,
                      STATIVE_VERBS, STYLE_WORDS, adjective_only, can_be_noun, ing_form, is_abstract, verb_lemma)

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
                      "anything", "nobody", "nothing", "itself", "themselves", "himself", "herself", "it's",
                      "that's", "there's"))
AUXILIARIES = frozenset(("is", "are", "was", "were", "be", "been", "being", "am", "has", "have", "had", "do", "does",
                         "did", "can", "could", "will", "would", "shall", "should", "may", "might", "must"))
BE_FORMS = frozenset(("is", "are", "was", "were", "be", "been", "being", "am"))
CONNECTIVES = frozenset(("and", "or", "but", "nor", "yet", "so", "while", "as", "then", "than", "because", "if",
                         "when", "where", "before", "after", "whilst", "although", "though", "until", "since"))
# Prepositions that are no spatial relation of their own; after a verb they join it ("looking at").
PREPOSITIONS = frozenset(("at", "by", "for", "from", "into", "to", "through", "towards", "toward", "with", "without",
                          "about", "around", "across", "along", "against", "among", "between", "during", "past",
                          "up", "down", "out", "off", "like", "via", "throughout", "amid", "amidst", "outside"))
# Common irregular and -s verb forms the suffix rules miss.
VERB_FORMS = frozenset((
    "sat", "sit", "sits", "hung", "hang", "hangs", "cut", "cuts", "fell", "falls", "shone", "shines", "stood",
    "stands", "lay", "lies", "rests", "ran", "runs", "flew", "flies", "swam", "swims", "ate", "eats", "held", "holds",
    "grew", "grows", "looks", "stares", "plays", "sleeps", "walks", "jumps", "floats", "contrasts",
    "sped", "made", "makes", "led", "fled", "spun", "swung", "shook", "drew", "threw", "rode", "wore", "tore", "bit",
    "hit", "lit", "dove", "drove", "struck", "stuck", "slid", "crept", "wept", "slept", "kept", "strode", "sang",
    "rang", "sank", "began", "came", "went", "saw", "took", "gave", "got", "brought", "caught", "taught", "fought",
))
# Words that end a noun phrase and start none: connectives, other prepositions, pronouns, common verbs.
BREAKS = AUXILIARIES | PRONOUNS | CONNECTIVES | PREPOSITIONS | VERB_FORMS | frozenset((
    "of", "there", "here", "next", "not", "never", "very", "too", "also", "just", "only", "together", "away",
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


@dataclass(frozen=True)
class _Word:
    """A word between noun phrases that the reader needs: a verb, an auxiliary, a preposition,
    "of", a clause break (and, comma, full stop), "each other", or anything else ("other")."""

    kind: str  # verb | aux | prep | of | and | stop | each_other | other
    text: str = ""


class RuleQuestionGenerator:
    """Entity, attribute, count, relation and action questions read off a prompt by the rules above."""

    def generate(self, prompt: str) -> QuestionSet:
        entities, relations = read(prompt)
        if not entities:
            text = " ".join(prompt.lower().split()).rstrip(".!?") or "anything"
            return QuestionSet(prompt, (Question(1, f"does the image show {text}?", "entity"),))
        return build_questions(prompt, entities, relations)


@dataclass
class _Verb:
    text: str  # the -ing form: "crawling"
    lemma: str
    subject: int | None
    prep: str | None = None  # "towards" in "crawling towards the toy"
    objects: int = 0  # noun phrases it took, dropped ones included
    placed: bool = False  # it had a place phrase ("sailing on a lake")


def read(prompt: str) -> tuple[list[Entity], list[Relation]]:
    """The prompt's visible noun phrases as entities, and the relations between them: spatial
    phrases, and actions (a verb with its object: "is the man feeding the dog?"). A verb without an
    object is an "action" attribute of its subject ("is the baby crawling?")."""
    entities: list[Entity] = []
    relations: list[Relation] = []
    items = _chunks(_strip_framing(["no" if t in ("0", "zero") else t for t in _TOKEN.findall(prompt.lower())]))
    pending: tuple[str, int] | None = None  # a spatial relation and its subject, waiting for the object
    verb: _Verb | None = None
    subject: int | None = None  # the clause's subject
    last: int | None = None  # the last kept noun phrase
    head: int | None = None  # the clause's first noun phrase: "a woman in a yellow dress walking a dog"
    last_role = "start"  # how it came: start (opens a clause), object (of a verb), place (after a preposition)
    carry: tuple[tuple[str, str], ...] = ()  # adjectives of "the soft texture of ..." for the phrase after "of"
    previous: object = None
    clause_open = True

    def add_attributes(index: int | None, attributes: tuple[tuple[str, str], ...]) -> None:
        if index is not None and attributes:
            e = entities[index]
            entities[index] = replace(e, attributes=tuple(dict.fromkeys(e.attributes + attributes)))

    def finish_verb() -> None:
        nonlocal verb
        if verb is not None and verb.subject is not None and not verb.objects and verb.lemma not in LIGHT_VERBS \
                and not (verb.placed and verb.lemma in STATIVE_VERBS):
            add_attributes(verb.subject, (("action", verb.text),))
        verb = None

    for k, item in enumerate(items):
        following = items[k + 1] if k + 1 < len(items) else None
        if isinstance(item, str):  # a spatial relation phrase
            if isinstance(previous, _Verb) or (verb is not None and isinstance(previous, _Word)
                                                and previous.kind == "aux"):
                who = verb.subject if verb is not None else last
                if verb is not None:
                    verb.placed = True
            elif last_role == "object" and verb is not None and verb.lemma not in PLACEMENT_VERBS:
                who = verb.subject  # "watching a movie on the couch": the watcher is on the couch
            else:
                who = last
            pending = (item, who) if who is not None else None
        elif isinstance(item, _Verb):
            if last is not None and last_role == "start" and isinstance(previous, (_Chunk, _Word)) \
                    and (isinstance(previous, _Chunk) or previous.kind in ("aux", "other")):
                who = last
            else:
                who = next((w for w in (subject, head, last) if w is not None), None)
            finish_verb()
            verb = replace(item, subject=who)
            subject = who
            pending = None
        elif isinstance(item, _Word):
            if item.kind == "prep":
                if verb is not None and isinstance(previous, _Verb):
                    verb.prep = item.text
                else:
                    pending = None
            elif item.kind == "each_other":
                if verb is not None and verb.subject is not None:
                    add_attributes(verb.subject, (("action", f"{verb.text} {item.text}"),))
                    verb.objects += 1
            elif item.kind == "and":
                also_object = (item.text == "and" and verb is not None and verb.objects > 0
                               and isinstance(following, _Chunk) and not _starts_clause(_after(items, k + 1)))
                if not also_object:  # "holding a book and a pen" keeps the verb for the pen
                    finish_verb()
                clause_open, pending = True, None
            elif item.kind == "stop":
                finish_verb()
                subject, last, head, clause_open, pending = None, None, None, True, None
            elif item.kind == "of":
                pass
            else:  # an adverb, a pronoun, an infinitive
                if verb is not None and isinstance(previous, _Verb) and item.text in PRONOUNS:
                    verb.objects += 1  # "placing it in the oven"
                if not _adverb(item.text):
                    pending = None
                else:
                    continue  # "is lazily lounging": the adverb changes nothing
        else:  # a noun phrase
            words = item.words
            copula = verb is not None and verb.lemma in COPULAR_VERBS and isinstance(previous, _Verb)
            if item.determiner is None and (all(w in ADJECTIVES or adjective_only(w) for w in words)
                                            or copula and len(words) == 1 and not _looks_plural(words[0])):
                # "the cat is black", "feeling awestruck": the adjectives describe the subject
                target = verb.subject if copula else last
                if copula:
                    verb.objects += 1
                add_attributes(target, _attributes(words, loose=True))
                previous = item
                continue
            entity, keep = _entity(item)
            after_of = isinstance(previous, _Word) and previous.kind == "of"
            if after_of and carry:
                entity = replace(entity, attributes=tuple(dict.fromkeys(carry + entity.attributes)))
            carry = ()
            if not keep:  # abstract, framing or no noun at all: asked nothing about
                if _is_of(following):
                    carry = entity.attributes
                if verb is not None and (isinstance(previous, _Verb) or verb.prep):
                    verb.objects += 1
                    verb.prep = None
                pending, previous, last_role = None, item, "dropped"
                last = None if not after_of else last
                continue
            if pending is not None and item.determiner is None and not entity.many and entity.noun not in MASS_NOUNS:
                pending, previous = None, item  # "nodding in agreement": an idiom, no object
                continue
            entities.append(entity)
            index = len(entities) - 1
            if pending is not None:
                if item.determiner not in POSSESSIVES and pending[1] != index:  # "on its hind legs" is no layout
                    relations.append(Relation(pending[1], pending[0], index))
                last_role = "place"
            elif verb is not None and verb.subject is not None and (isinstance(previous, _Verb) or verb.prep
                                                                     or _coordinated(previous, verb)):
                phrase = f"{verb.text} {verb.prep}" if verb.prep else verb.text
                if verb.lemma not in LIGHT_VERBS or verb.prep:
                    relations.append(Relation(verb.subject, phrase, index))
                verb.objects += 1
                last_role = "object"
            elif after_of:
                last_role = "place"
            else:
                last_role = "start" if clause_open or last is None else "place"
                if last_role == "start":
                    head = index
            clause_open = False
            last = index
            pending = None
        previous = item
    finish_verb()
    return entities, relations


def _starts_clause(item: object) -> bool:
    """Whether what follows a noun phrase makes it a subject: a verb or an auxiliary."""
    return isinstance(item, _Verb) or isinstance(item, _Word) and item.kind == "aux"


def _after(items: list, k: int) -> object:
    return items[k + 1] if k + 1 < len(items) else None


def _is_of(item: object) -> bool:
    return isinstance(item, _Word) and item.kind == "of"


def _coordinated(previous: object, verb: _Verb) -> bool:
    """'holding a book and a pen': the second phrase is the verb's object too."""
    return isinstance(previous, _Word) and previous.kind == "and" and previous.text == "and" and verb.objects > 0


def _strip_framing(tokens: list[str]) -> list[str]:
    """Drops what a prompt says about the picture rather than in it: a lead-in ("in this image we can
    see", "there is"), a medium phrase ("a close-up photo of", "an oil painting of") and a trailing
    style clause (", in the style of van gogh", ", 4k, trending on artstation")."""
    changed = True
    while changed and tokens:
        changed = False
        for opener in FRAMING_OPENERS:
            if tuple(tokens[:len(opener)]) == opener:
                tokens = tokens[len(opener):]
                changed = True
        while tokens and tokens[0] in (",", ":"):
            tokens, changed = tokens[1:], True
        if "of" in tokens[:6]:
            cut = tokens.index("of")
            head = tokens[:cut]
            if head and all(t in MEDIUM_NOUNS or t in DETERMINERS or t in ADJECTIVES for t in head) \
                    and any(t in MEDIUM_NOUNS for t in head) and cut + 1 < len(tokens):
                tokens, changed = tokens[cut + 1:], True
    # ", in the style of ...", and comma-separated tails made only of style words
    for i in range(len(tokens) - 3):
        if tokens[i:i + 4] == ["in", "the", "style", "of"] or tokens[i:i + 3] == ["in", "style", "of"]:
            tokens = tokens[:i]
            break
    while "," in tokens:
        cut = len(tokens) - 1 - tokens[::-1].index(",")
        tail = [t for t in tokens[cut + 1:] if t not in (".", "!")]
        if tail and all(t in STYLE_WORDS or t.isdigit() for t in tail):
            tokens = tokens[:cut]
        else:
            break
    return tokens


def _chunks(tokens: list[str]) -> list[_Chunk | str | _Word | _Verb]:
    """Noun phrases in order, with the canonical relation phrases, verbs and clause words between them."""
    items: list[_Chunk | str | _Word | _Verb] = []
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
        elif token in QUANTITY_NOUNS and after == "of" and current is not None and not _has_noun(current.words):
            current = _Chunk("several")  # "a group of people": the people
            i += 2
            if i < len(tokens) and tokens[i] in DETERMINERS:
                i += 1
            continue
        elif token == "of" and inside and _is_content(after) and not is_abstract(current.words[-1]):
            current.words.append(token)  # "a slice of cheese"
        elif token in ("each", "one") and after in ("other", "another"):
            close()
            items.append(_Word("each_other", f"{token} {after}"))
            i += 2
            continue
        elif token in DETERMINERS or token in NUMBERS or _DIGITS.fullmatch(token):
            close()
            current = _Chunk(token)
        elif token in AUXILIARIES:
            close()
            items.append(_Word("aux", token))
        elif token == "of":
            close()
            items.append(_Word("of"))
        elif token in CONNECTIVES or token in (",", ";", ":"):
            close()
            items.append(_Word("and", token))
        elif not token[0].isalnum():
            close()
            items.append(_Word("stop", token))
        elif token in PREPOSITIONS:
            close()
            items.append(_Word("prep", token))
        elif _ends_phrase(token, before, after, current):
            close()
            lemma = _verb_at(token, before)
            if lemma and before in BE_FORMS and not token.endswith("ing"):
                lemma = None  # "were picked from the tree", "was hung above the sink": a state, no action
            items.append(_Verb(ing_form(token), lemma, None) if lemma else _Word("other", token))
        else:
            current = current or _Chunk(None)
            current.words.append(token)
        i += 1
    close()
    return items


def _has_noun(words: list[str]) -> bool:
    return any(w not in ADJECTIVES for w in words)


def _verb_at(token: str, before: str | None) -> str | None:
    """The lemma when a word that ended a noun phrase is a verb ("crawling", "kneaded", "naps")."""
    if before == "to" or token in PRONOUNS or _adverb(token) or token in ADJECTIVES:
        return None  # "to bake": a purpose, not what the picture shows
    lemma = verb_lemma(token)
    if lemma is None:
        return None
    if token in VERB_FORMS or token.endswith(("ing", "ed", "s")) or lemma != token:
        return lemma
    return None


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


def _entity(chunk: _Chunk) -> tuple[Entity, bool]:
    """The phrase as an entity, and whether to ask about it: not when its head is no visible thing
    (an abstract noun, an adjective or verb left without its noun, a framing word)."""
    words = chunk.words
    cut = words.index("of") if "of" in words[1:] else len(words)
    head, tail = words[:cut], words[cut:]
    if tail and is_abstract(tail[-1]):
        tail = []  # "a treat of childhood nostalgia": the treat
    if head[-1] in QUANTITY_NOUNS and len(tail) > 1 or is_abstract(head[-1]) and len(tail) > 1:
        # "a large bunch of grapes", "a piece of cake": the grapes, the cake
        entity, keep = _entity(_Chunk("several" if head[-1] in QUANTITY_NOUNS else None, tail[1:]))
        return entity, keep
    while len(head) > 1 and is_abstract(head[-1]) and head[-2] not in ADJECTIVES and not adjective_only(head[-2]):
        head = head[:-1]  # "the leather ottoman rest on the floor": a verb read as a compound's last word
    last_adjective = max((i for i, w in enumerate(head[:-1]) if w in ADJECTIVES or adjective_only(w)), default=-1)
    noun_words = head[last_adjective + 1:]
    det = chunk.determiner
    count = NUMBERS.get(det) or (int(det) if det and _DIGITS.fullmatch(det) else None)
    # Without a number the noun decides: "a leather shoes" is about shoes.
    many = count > 1 if count else det in PLURAL_DETERMINERS or _looks_plural(noun_words[-1])
    singular = [*noun_words[:-1], singularize(noun_words[-1])] if many else noun_words
    entity = Entity(noun=" ".join(singular + tail), plural=" ".join(noun_words + tail),
                    attributes=_attributes(head[:last_adjective + 1], loose=True), count=count, many=many,
                    present=det != "no")
    noun = singular[-1]
    keep = can_be_noun(noun) and not is_abstract(noun) and noun not in DETERMINERS and noun not in NUMBERS
    return entity, keep


def _attributes(words: list[str], loose: bool = False) -> tuple[tuple[str, str], ...]:
    """Known adjectives with their category; with `loose`, any word the lexicon lists only as an
    adjective too ("a serene lake"), as "other"."""
    return tuple((ADJECTIVES.get(w, "other"), w) for w in dict.fromkeys(words)
                 if w in ADJECTIVES or loose and adjective_only(w))


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
