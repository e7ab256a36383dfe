"""Question generation for VQA faithfulness (DreamSync / TIFA / DSG): grammar, rules, LLM output parser, cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diffalign.errors import UserInputError
from diffalign.questions import (
    CachedQuestions,
    GrammarQuestionGenerator,
    LLMQuestionGenerator,
    Question,
    QuestionSet,
    RuleQuestionGenerator,
    faithfulness,
    make_generator,
    passed,
)
from diffalign.questions.cache import GrammarOrRules
from diffalign.questions.llm import parse_output
from diffalign.questions.rules import singularize
from diffalign.world.grammar import PromptError, parse
from diffalign.world.prompts import PROMPT_DIR

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
COMPBENCH = ROOT.parent / "shared" / "compbench"  # beside the repo in CI; absent elsewhere
COMPBENCH_CATEGORIES = ("color", "shape", "texture", "spatial", "3d_spatial", "non_spatial", "complex", "numeracy")
HAND_CHECKED = [json.loads(line) for line in (DATA / "compbench_questions.jsonl").read_text().splitlines() if line]

E, A, C, R = "entity", "attribute", "count", "relation"


def _triples(qs: QuestionSet) -> list[tuple]:
    return [(q.kind, q.text, q.parents) for q in qs.questions]


# --- grammar: exact questions --------------------------------------------------------------------

GRAMMAR_CASES = [
    ("color", "a yellow cross and a green triangle", [
        (E, "is there a cross?", ()), (A, "is the cross yellow?", (1,)),
        (E, "is there a triangle?", ()), (A, "is the triangle green?", (3,))]),
    ("color", "an orange triangle and a yellow triangle", [  # same shape: the colour names the object
        (E, "is there an orange triangle?", ()), (E, "is there a yellow triangle?", ())]),
    ("shape", "a small yellow circle and a large yellow square", [
        (E, "is there a circle?", ()), (A, "is the circle small?", (1,)), (A, "is the circle yellow?", (1,)),
        (E, "is there a square?", ()), (A, "is the square large?", (4,)), (A, "is the square yellow?", (4,))]),
    ("shape", "a large yellow cross and a small yellow triangle", [
        (E, "is there a cross?", ()), (A, "is the cross large?", (1,)), (A, "is the cross yellow?", (1,)),
        (E, "is there a triangle?", ()), (A, "is the triangle small?", (4,)), (A, "is the triangle yellow?", (4,))]),
    ("texture", "a purple plain cross and a purple striped circle", [
        (E, "is there a cross?", ()), (A, "is the cross purple?", (1,)), (A, "is the cross plain?", (1,)),
        (E, "is there a circle?", ()), (A, "is the circle purple?", (4,)), (A, "is the circle striped?", (4,))]),
    ("texture", "a red plain square and a red striped square", [
        (E, "is there a plain square?", ()), (A, "is the plain square red?", (1,)),
        (E, "is there a striped square?", ()), (A, "is the striped square red?", (3,))]),
    ("spatial", "a green square to the left of an orange triangle", [
        (E, "is there a square?", ()), (A, "is the square green?", (1,)),
        (E, "is there a triangle?", ()), (A, "is the triangle orange?", (3,)),
        (R, "is the green square to the left of the orange triangle?", (1, 3))]),
    ("spatial", "an orange square below a red circle", [
        (E, "is there a square?", ()), (A, "is the square orange?", (1,)),
        (E, "is there a circle?", ()), (A, "is the circle red?", (3,)),
        (R, "is the orange square below the red circle?", (1, 3))]),
    ("spatial", "a blue circle to the left of a purple circle", [
        (E, "is there a blue circle?", ()), (E, "is there a purple circle?", ()),
        (R, "is the blue circle to the left of the purple circle?", (1, 2))]),
    ("numeracy", "one small blue circle", [
        (E, "is there a circle?", ()), (C, "is there exactly one circle?", (1,)),
        (A, "is the circle small?", (1,)), (A, "is the circle blue?", (1,))]),
    ("numeracy", "four small purple circles", [
        (E, "is there a circle?", ()), (C, "are there exactly four circles?", (1,)),
        (A, "are the circles small?", (1,)), (A, "are the circles purple?", (1,))]),
    ("numeracy", "two purple triangles", [
        (E, "is there a triangle?", ()), (C, "are there exactly two triangles?", (1,)),
        (A, "are the triangles purple?", (1,))]),
    ("complex", "a small green plain square to the right of a large yellow plain square", [
        (E, "is there a green square?", ()), (A, "is the green square small?", (1,)),
        (A, "is the green square plain?", (1,)),
        (E, "is there a yellow square?", ()), (A, "is the yellow square large?", (4,)),
        (A, "is the yellow square plain?", (4,)),
        (R, "is the small green plain square to the right of the large yellow plain square?", (1, 4))]),
    ("complex", "a small red striped cross to the right of a large orange striped triangle", [
        (E, "is there a cross?", ()), (A, "is the cross small?", (1,)), (A, "is the cross red?", (1,)),
        (A, "is the cross striped?", (1,)),
        (E, "is there a triangle?", ()), (A, "is the triangle large?", (5,)), (A, "is the triangle orange?", (5,)),
        (A, "is the triangle striped?", (5,)),
        (R, "is the small red striped cross to the right of the large orange striped triangle?", (1, 5))]),
    ("single", "a small blue striped cross", [
        (E, "is there a cross?", ()), (A, "is the cross small?", (1,)), (A, "is the cross blue?", (1,)),
        (A, "is the cross striped?", (1,))]),
    ("single", "a large orange plain square", [
        (E, "is there a square?", ()), (A, "is the square large?", (1,)), (A, "is the square orange?", (1,)),
        (A, "is the square plain?", (1,))]),
]

EXPLICIT_GRAMMAR_CASES = [
    ("a circle", [(E, "is there a circle?", ())]),
    ("a large red circle and a small red circle", [  # same colour: the size names the object
        (E, "is there a large circle?", ()), (A, "is the large circle red?", (1,)),
        (E, "is there a small circle?", ()), (A, "is the small circle red?", (3,))]),
    ("two red circles and one blue circle", [
        (E, "is there a red circle?", ()), (C, "are there exactly two red circles?", (1,)),
        (E, "is there a blue circle?", ()), (C, "is there exactly one blue circle?", (3,))]),
    ("a red striped circle above a blue striped circle", [
        (E, "is there a red circle?", ()), (A, "is the red circle striped?", (1,)),
        (E, "is there a blue circle?", ()), (A, "is the blue circle striped?", (3,)),
        (R, "is the red striped circle above the blue striped circle?", (1, 3))]),
    ("three crosses", [(E, "is there a cross?", ()), (C, "are there exactly three crosses?", (1,))]),
]


@pytest.mark.parametrize("category,prompt,expected", GRAMMAR_CASES, ids=[c[1] for c in GRAMMAR_CASES])
def test_grammar_questions_of_shipped_prompts(category, prompt, expected):
    assert prompt in (PROMPT_DIR / f"{category}_val.txt").read_text().splitlines()
    qs = GrammarQuestionGenerator().generate(prompt)
    assert qs.prompt == prompt
    assert _triples(qs) == [(k, t, p) for k, t, p in expected]
    assert [q.id for q in qs.questions] == list(range(1, len(expected) + 1))


@pytest.mark.parametrize("prompt,expected", EXPLICIT_GRAMMAR_CASES, ids=[c[0] for c in EXPLICIT_GRAMMAR_CASES])
def test_grammar_questions_of_explicit_prompts(prompt, expected):
    assert _triples(GrammarQuestionGenerator().generate(prompt)) == expected


def test_grammar_questions_cover_every_shipped_prompt():
    """Per group one entity question, a count question when counted, an attribute question per attribute
    not already in the entity question; one relation question on both entity questions."""
    generator = GrammarQuestionGenerator()
    files = sorted(Path(str(PROMPT_DIR)).glob("*.txt"))
    assert len(files) >= 14
    for path in files:
        for prompt in path.read_text().splitlines():
            spec, qs = parse(prompt), generator.generate(prompt)
            by_kind = {k: [q for q in qs.questions if q.kind == k] for k in (E, A, C, R)}
            texts = [q.text for q in qs.questions]
            assert len(texts) == len(set(texts)) and all(t.endswith("?") for t in texts)
            roots = [q.id for q in by_kind[E]]
            assert len(roots) == len(spec.objects) and all(not q.parents for q in by_kind[E])
            assert len(by_kind[C]) == sum(spec.counted or o.count > 1 for o in spec.objects)
            named = sum(len(q.text.split()) - 4 for q in by_kind[E])  # adjectives in "is there a(n) ... <shape>?"
            n_attributes = sum(bool(a) for o in spec.objects for a in (o.size, o.color, o.texture))
            assert len(by_kind[A]) == n_attributes - named
            assert all(len(q.parents) == 1 and q.parents[0] in roots for q in by_kind[A] + by_kind[C])
            assert [q.parents for q in by_kind[R]] == ([tuple(roots)] if spec.relation else [])


def test_grammar_rejects_prompts_outside_the_grammar():
    with pytest.raises(PromptError):
        GrammarQuestionGenerator().generate("a red apple next to a blue vase")


# --- faithfulness and the dependency rule -------------------------------------------------------


def test_faithfulness_counts_questions_answered_as_the_prompt_implies():
    qs = GrammarQuestionGenerator().generate("a red circle to the left of a blue square")
    # 1 circle? 2 red? 3 square? 4 blue? 5 relation?
    assert faithfulness(qs, {1: 0.9, 2: 0.8, 3: 0.7, 4: 0.6, 5: 0.9}) == 1.0
    assert faithfulness(qs, {1: 0.9, 2: 0.2, 3: 0.7, 4: 0.6, 5: 0.9}) == pytest.approx(0.8)
    assert faithfulness(qs, {1: 0.9, 2: 0.8, 3: 0.7, 4: 0.6, 5: 0.6}, threshold=0.65) == pytest.approx(0.6)


def test_failed_entity_fails_its_attribute_and_relation_questions_even_if_answered_yes():
    qs = GrammarQuestionGenerator().generate("a red circle to the left of a blue square")
    answers = {1: 0.1, 2: 0.99, 3: 0.9, 4: 0.9, 5: 0.99}  # no circle, yet "is the circle red?" said yes
    assert passed(qs, answers) == {1: False, 2: False, 3: True, 4: True, 5: False}
    assert faithfulness(qs, answers) == pytest.approx(2 / 5)
    # the children of a failed question need not be asked at all
    assert faithfulness(qs, {1: 0.1, 3: 0.9, 4: 0.9}) == pytest.approx(2 / 5)


def test_dependency_rule_is_transitive_and_a_missing_answer_is_an_error():
    qs = QuestionSet("p", (Question(1, "is there a dog?", E), Question(2, "are there exactly two dogs?", C, (1,)),
                           Question(3, "is the dog brown?", A, (2,))))
    assert passed(qs, {1: 1.0, 2: 0.0, 3: 1.0}) == {1: True, 2: False, 3: False}
    with pytest.raises(KeyError, match="question 3"):
        faithfulness(qs, {1: 1.0, 2: 1.0})


def test_negated_entity_expects_no():
    qs = RuleQuestionGenerator().generate("a table with no chairs")
    assert _triples(qs) == [(E, "is there a table?", ()), (E, "are there chairs?", ())]
    assert [q.expected for q in qs.questions] == [True, False]
    assert faithfulness(qs, {1: 0.9, 2: 0.1}) == 1.0
    assert faithfulness(qs, {1: 0.9, 2: 0.9}) == 0.5


@pytest.mark.parametrize("questions", [
    (),
    (Question(1, "a?", E), Question(1, "b?", E)),
    (Question(1, "is the dog brown?", A, (2,)), Question(2, "is there a dog?", E)),
])
def test_question_set_rejects_bad_structure(questions):
    with pytest.raises(ValueError):
        QuestionSet("p", questions)


def test_question_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        Question(1, "is it nice?", "style")


def test_question_set_json_round_trip():
    for prompt in ("a red circle to the left of a blue square", "four small purple circles"):
        qs = GrammarQuestionGenerator().generate(prompt)
        assert QuestionSet.from_json(json.loads(json.dumps(qs.to_json()))) == qs
    qs = RuleQuestionGenerator().generate("a table with no chairs")
    assert QuestionSet.from_json(json.loads(json.dumps(qs.to_json()))) == qs


# --- rules: hand-checked CompBench prompts ------------------------------------------------------


def test_hand_checked_sample_covers_every_compbench_category():
    per_category = {c: sum(r["category"] == c for r in HAND_CHECKED) for c in COMPBENCH_CATEGORIES}
    assert len(HAND_CHECKED) >= 24 and min(per_category.values()) >= 3, per_category
    if COMPBENCH.is_dir():  # the sample holds real CompBench prompts, copied verbatim
        for row in HAND_CHECKED:
            lines = (COMPBENCH / f"{row['category']}_val.txt").read_text().splitlines()
            assert row["prompt"] in [line.strip() for line in lines], row["prompt"]


@pytest.mark.parametrize("row", HAND_CHECKED, ids=[r["prompt"] for r in HAND_CHECKED])
def test_rule_questions_of_compbench_prompts(row):
    qs = RuleQuestionGenerator().generate(row["prompt"])
    text = {q.id: q.text for q in qs.questions}
    got = sorted((q.kind, q.text, sorted(text[p] for p in q.parents)) for q in qs.questions)
    expected = sorted((q["kind"], q["text"], sorted(q["parents"])) for q in row["questions"])
    assert got == expected


@pytest.mark.parametrize("prompt,texts", [
    ("The cat is black and white.", ["is there a cat?", "is the cat black?", "is the cat white?"]),
    ("a cat naps on the sofa", ["is there a cat?", "is the cat napping?", "is there a sofa?",
                                "is the cat on the sofa?"]),
    ("The fisherman cast their line into the water.", ["is there a fisherman?", "is there a line?",
                                                        "is there water?"]),
    ("a glass of orange juice", ["is there a glass of orange juice?"]),
    ("A person is nodding in agreement.", ["is there a person?", "is the person nodding?"]),  # an idiom, no relation
    ("a dog on its hind legs", ["is there a dog?", "are there hind legs?"]),  # a body part, no layout
    ("The jagged, rocky cliffs", ["are there cliffs?", "are the cliffs jagged?", "are the cliffs rocky?"]),
])
def test_rule_reading_details(prompt, texts):
    assert [q.text for q in RuleQuestionGenerator().generate(prompt).questions] == texts


def test_rule_questions_ignore_line_endings_and_case():
    rules = RuleQuestionGenerator()
    a, b = rules.generate("a giraffe next to a lamp"), rules.generate("A Giraffe next to a lamp.\r\n")
    assert _triples(a) == _triples(b)


def test_rules_agree_with_the_grammar_on_every_shipped_prompt():
    grammar, rules = GrammarQuestionGenerator(), RuleQuestionGenerator()
    for path in sorted(Path(str(PROMPT_DIR)).glob("*.txt")):
        for prompt in path.read_text().splitlines():
            assert rules.generate(prompt) == grammar.generate(prompt), prompt


@pytest.mark.parametrize("plural,singular", [
    ("boys", "boy"), ("knives", "knife"), ("women", "woman"), ("people", "person"), ("boxes", "box"),
    ("horses", "horse"), ("cherries", "cherry"), ("cookies", "cookie"), ("potatoes", "potato"), ("shoes", "shoe"),
    ("sheep", "sheep"), ("glass", "glass"), ("bus", "bus"), ("crosses", "cross"), ("watches", "watch"),
])
def test_singularize(plural, singular):
    assert singularize(plural) == singular


def _robustness_prompts() -> list[str]:
    if COMPBENCH.is_dir():
        files = sorted(COMPBENCH.glob("*_val.txt"))
        assert {f.name.removesuffix("_val.txt") for f in files} >= set(COMPBENCH_CATEGORIES)
        prompts = [line for f in files for line in f.read_text().splitlines()]
    else:
        rows = (DATA / "compbench_sample.jsonl").read_text().splitlines()
        prompts = [json.loads(line)["prompt"] for line in rows if line] + [r["prompt"] for r in HAND_CHECKED]
    odd = ["", "   ", "\r\n", "?!", ".", "a", "the the the", "and and", "on the left of", "3 dogs and 0 cats",
           "a red and a blue", "二 dogs", "café on the left of a naïve cat", "a_b c-d 'e' \"f\"", "of of of",
           "a " * 500, "one two three", "99999 cats", "no", "a cat, , and ; a dog...", "\x00\x01", "🐶 next to 🐱"]
    return prompts + odd


def test_rule_generator_never_crashes_and_always_asks_something():
    rules = RuleQuestionGenerator()
    prompts = _robustness_prompts()
    assert len(prompts) > 40
    for prompt in prompts:
        qs = rules.generate(prompt)
        assert qs.prompt == prompt and len(qs.questions) >= 1, prompt
        assert all(q.text.endswith("?") and q.text.strip() == q.text for q in qs.questions), prompt
        assert QuestionSet.from_json(json.loads(json.dumps(qs.to_json()))) == qs


def test_unreadable_prompt_gets_a_whole_prompt_question():
    rules = RuleQuestionGenerator()
    assert _triples(rules.generate("")) == [(E, "does the image show anything?", ())]
    assert _triples(rules.generate("On the left of.")) == [(E, "does the image show on the left of?", ())]


# --- LLM output parser ----------------------------------------------------------------------------


def test_llm_output_parser_keeps_readable_lines_and_remaps_parents():
    output = """ 1. entity | is there an apple? | -
2) attribute | is the apple red | 1
3. object | Is there a plate? | none
a line of chatter without fields
4. colour-ish | a line of an unknown kind | 3
5. count | are there exactly two plates? | 3, 4
- 6: **relation** | is the apple on top of the plates? | 1,3
7. relation | a forward parent | 8
Prompt: a model that goes on
8. entity | never read | -"""
    assert [(q.id, q.kind, q.text, q.parents) for q in parse_output(output)] == [
        (1, E, "is there an apple?", ()),
        (2, A, "is the apple red?", (1,)),
        (3, E, "Is there a plate?", ()),
        (4, C, "are there exactly two plates?", (3,)),
        (5, R, "is the apple on top of the plates?", (1, 3)),
        (6, R, "a forward parent?", ()),
    ]


def test_llm_output_parser_numbers_unnumbered_lines_by_position():
    output = "entity | is there a dog? | -\nattribute | is the dog brown? | 1\nnonsense | x | 1\nrelation | y | 1, 3"
    assert [(q.id, q.kind, q.text, q.parents) for q in parse_output(output)] == [
        (1, E, "is there a dog?", ()), (2, A, "is the dog brown?", (1,)), (3, R, "y?", (1,))]
    assert parse_output("") == [] and parse_output("I cannot help with that.") == []


# --- cache and generator names ----------------------------------------------------------------------


class CountingGenerator:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def generate(self, prompt: str) -> QuestionSet:
        self.calls.append(prompt)
        return RuleQuestionGenerator().generate(prompt)


class FailingGenerator:
    def generate(self, prompt: str) -> QuestionSet:
        raise AssertionError(f"regenerated {prompt!r}")


def test_cache_generates_each_prompt_once_and_round_trips(tmp_path):
    path = tmp_path / "cache" / "questions.json"
    generator = CountingGenerator()
    cache = CachedQuestions(path, generator)
    prompts = ["a dog in front of a desk", "two boys", "a dog in front of a desk"]
    first = cache.generate_many(prompts)
    assert generator.calls == ["a dog in front of a desk", "two boys"]
    assert first[0] is first[2] and len(cache) == 2 and "two boys" in cache
    assert cache.generate("two boys") is first[1] and len(generator.calls) == 2
    assert sorted(p.name for p in path.parent.iterdir()) == ["questions.json", "questions.json.lock"]  # no tmp file

    reloaded = CachedQuestions(path, FailingGenerator())
    assert reloaded.generate_many(prompts) == first
    with pytest.raises(AssertionError, match="regenerated"):
        reloaded.generate("a new prompt")

    third = CachedQuestions(path, generator)
    third.generate("one turtle")
    assert generator.calls[-1] == "one turtle" and len(generator.calls) == 3
    assert sorted(json.loads(path.read_text())) == sorted(["a dog in front of a desk", "two boys", "one turtle"])


def test_cache_keeps_what_another_process_wrote_meanwhile(tmp_path):
    """Two ranks open the same cache, each generates its own rows' prompts: the file ends with both sets, not the
    last writer's alone."""
    path = tmp_path / "questions.json"
    rank0, rank1 = CachedQuestions(path, CountingGenerator()), CachedQuestions(path, CountingGenerator())
    rank0.generate("two boys")
    rank1.generate("one turtle")
    assert sorted(json.loads(path.read_text())) == ["one turtle", "two boys"]
    assert CachedQuestions(path, FailingGenerator()).generate_many(["two boys", "one turtle"])


@pytest.mark.parametrize("content", ["{not json", "[]", '{"p": {"prompt": "other", "questions": []}}',
                                     '{"p": {"prompt": "p", "questions": [{"id": 1, "text": "x?", "kind": "y"}]}}'])
def test_cache_rejects_a_broken_file(tmp_path, content):
    path = tmp_path / "questions.json"
    path.write_text(content)
    with pytest.raises(UserInputError, match="delete it"):
        CachedQuestions(path, FailingGenerator())


def test_make_generator():
    assert isinstance(make_generator("grammar"), GrammarQuestionGenerator)
    assert isinstance(make_generator("rules"), RuleQuestionGenerator)
    llm = make_generator("llm:some-org/some-model")
    assert isinstance(llm, LLMQuestionGenerator) and llm.model == "some-org/some-model" and llm._lm is None
    for bad in ("llm:", "bert", ""):
        with pytest.raises(UserInputError):
            make_generator(bad)


def test_auto_uses_the_grammar_when_the_prompt_parses_and_the_rules_otherwise():
    auto = make_generator("auto")
    assert isinstance(auto, GrammarOrRules)
    grammar_prompt, free_prompt = "a green square to the left of an orange triangle", "a giraffe next to a lamp"
    assert auto.generate(grammar_prompt) == GrammarQuestionGenerator().generate(grammar_prompt)
    assert auto.generate(free_prompt) == RuleQuestionGenerator().generate(free_prompt)


# --- rules on free English: framing, abstract nouns, actions, attributes across clauses ----------

FREE_ENGLISH_CASES = [
    ("The baby is crawling towards the toy.", [
        (E, "is there a baby?", ()), (E, "is there a toy?", ()),
        (R, "is the baby crawling towards the toy?", (1, 2))]),
    ("a man feeding a dog", [
        (E, "is there a man?", ()), (E, "is there a dog?", ()), (R, "is the man feeding the dog?", (1, 2))]),
    ("two children hugging each other", [
        (E, "is there a child?", ()), (C, "are there exactly two children?", (1,)),
        (A, "are the children hugging each other?", (1,))]),
    ("a red car parked next to a house with a blue door", [  # each colour on its own noun
        (E, "is there a car?", ()), (A, "is the car red?", (1,)), (E, "is there a house?", ()),
        (E, "is there a door?", ()), (A, "is the door blue?", (4,)), (R, "is the red car next to the house?", (1, 3))]),
    ("a photo of a brown horse standing in a field", [  # framing; "standing in" says where, asks no action
        (E, "is there a horse?", ()), (A, "is the horse brown?", (1,)), (E, "is there a field?", ()),
        (R, "is the brown horse in the field?", (1, 3))]),
    ("In this image we can see a woman holding an umbrella.", [
        (E, "is there a woman?", ()), (E, "is there an umbrella?", ()),
        (R, "is the woman holding the umbrella?", (1, 2))]),
    ("a painting of a lighthouse on a cliff, digital art, 4k", [
        (E, "is there a lighthouse?", ()), (E, "is there a cliff?", ()), (R, "is the lighthouse on the cliff?", (1, 2))]),
    ("The old lighthouse is tall and white.", [  # adjectives said after the verb
        (E, "is there a lighthouse?", ()), (A, "is the lighthouse old?", (1,)), (A, "is the lighthouse tall?", (1,)),
        (A, "is the lighthouse white?", (1,))]),
    ("A girl is having fun with her friends at the beach.", [  # "fun" is no object, "having" no action
        (E, "is there a girl?", ()), (E, "are there friends?", ()), (E, "is there a beach?", ())]),
    ("A group of children are building a sandcastle.", [  # the children, not the group
        (E, "are there children?", ()), (E, "is there a sandcastle?", ()),
        (R, "are the children building the sandcastle?", (1, 2))]),
    ("the intricate, delicate design of a silver ring", [  # the design's adjectives go to the ring
        (E, "is there a ring?", ()), (A, "is the ring delicate?", (1,)), (A, "is the ring silver?", (1,))]),
    ("A dog is chasing a ball and a cat is sleeping on the sofa.", [
        (E, "is there a dog?", ()), (E, "is there a ball?", ()), (E, "is there a cat?", ()),
        (A, "is the cat sleeping?", (3,)), (E, "is there a sofa?", ()), (R, "is the dog chasing the ball?", (1, 2)),
        (R, "is the cat on the sofa?", (3, 5))]),
    ("a woman in a yellow dress walking a small dog", [  # the woman walks the dog, not the dress
        (E, "is there a woman?", ()), (E, "is there a dress?", ()), (A, "is the dress yellow?", (2,)),
        (E, "is there a dog?", ()), (A, "is the dog small?", (4,)), (R, "is the woman in the yellow dress?", (1, 2)),
        (R, "is the woman walking the small dog?", (1, 4))]),
    ("A couple is watching a movie on the couch.", [  # the couple is on the couch, not the movie
        (E, "is there a couple?", ()), (E, "is there a movie?", ()), (E, "is there a couch?", ()),
        (R, "is the couple watching the movie?", (1, 2)), (R, "is the couple on the couch?", (1, 3))]),
    ("a majestic eagle soaring above the mountains", [
        (E, "is there an eagle?", ()), (A, "is the eagle majestic?", (1,)), (A, "is the eagle soaring?", (1,)),
        (E, "are there mountains?", ()), (R, "is the majestic eagle above the mountains?", (1, 4))]),
    ("The chef kneaded the dough.", [  # a past-tense verb asked in the -ing form
        (E, "is there a chef?", ()), (E, "is there dough?", ()), (R, "is the chef kneading the dough?", (1, 2))]),
    ("a man holding a book and a pen", [
        (E, "is there a man?", ()), (E, "is there a book?", ()), (E, "is there a pen?", ()),
        (R, "is the man holding the book?", (1, 2)), (R, "is the man holding the pen?", (1, 3))]),
]


@pytest.mark.parametrize("prompt,expected", FREE_ENGLISH_CASES, ids=[c[0] for c in FREE_ENGLISH_CASES])
def test_rule_questions_of_free_english(prompt, expected):
    assert _triples(RuleQuestionGenerator().generate(prompt)) == expected


@pytest.mark.parametrize("prompt", [
    "The soft, warm glow of the candle created a cozy ambiance, a gentle flicker of light in the darkness.",
    "The kids are having fun at the park.", "Two friends hugging each other.",
    "A person is looking at a rainbow and marveling at its beauty.",
])
def test_rules_ask_about_no_abstract_adjective_or_framing_word(prompt):
    entities = [q.text for q in RuleQuestionGenerator().generate(prompt).questions if q.kind == E]
    for junk in ("gentle", "fun", "other", "beauty", "ambiance", "flicker", "darkness"):
        assert not any(f" {junk}?" in t for t in entities), (junk, entities)


def test_llm_generator_that_cannot_load_says_so_in_one_line(tmp_path):
    generator = LLMQuestionGenerator(str(tmp_path / "no-such-model"))
    with pytest.raises(UserInputError) as err:
        generator.generate("a dog")
    assert "llm:" in str(err.value) and "\n" not in str(err.value)
