"""How clean the rule-based questions are on free English: junk entity questions and action questions per prompt.

Runs `RuleQuestionGenerator` (or the `read()` of another rules module, `--rules FILE`, e.g. an older
`questions/rules.py` copied out of git) on T2I-CompBench's complex and non-spatial val prompts and prints JSON.

Junk: an entity question whose head noun (the last word of the entity's noun before any "of",
singular) is in JUNK_HEADS below, a list labelled by hand from the head nouns both the old and the
new reader produced on these two files: a word that names no concrete visible thing (an adjective,
verb or adverb read as a noun, an abstract, event, time or sound noun, a framing word). It is a
measuring stick only; the generator does not use it. An action question is one built from a verb:
an attribute of category "action" ("is the baby crawling?") or a relation whose phrase is not one of
the spatial phrases ("is the man feeding the dog?").

    python experiments/question_quality.py [--rules /tmp/old/rules.py] [--compbench /work/shared/compbench]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from diffalign.questions import rules as current_rules

JUNK_HEADS = frozenset("""
adventurous again awe-struck awestruck best blew boring bravest cool delicate even fiery forth found gentle grow
healthful high intricate loved low melt of open other peaceful perfect plump read ready ripe rugged twisted woke
wrote melding move run fetch ride walk talk look play wake bite blast burst flicker
adventure affection ambiance ambition archery architecture artistry awe beauty bedtime behavior birthday bustle
care century challenge color comfort contrast conversation course creativity darkness day dedication delight
design distance dream duet ease elegance embrace energy escape essence event experiment expression fairytale
fashion fear feeling finish form fun game golf grandeur happiness health hustle idea imagination ingenuity injury
intensity life lifestyle lullaby lyric marathon marvel massage meaning media meditation medley melody middle moment
movement neuroscience night noise occasion party passage performance personality photoshoot picnic plan pose
precision problem project protest race range relief refuge reserve rhyme ritual routine scene sense shape shot show
skill song sophistication soul space speed spectrum spread step story stroke study survival system testament
texture time tone touch tour tournament tranquility trick trip tug-of-war tune view voice way wind breeze aroma
word work yoga zigzag soccer bungee ballet class group set hemisphere harmony nostalgia possibility childhood
depth growth triumph natural it's crime dance dark final juggling pep pillowy plush relaxing rippled romantic savory
special summer sweet swirling towering welcome wedding
""".split())


def load_read(path: str | None):
    if path is None:
        return current_rules.read, current_rules.RELATIONS.values()
    spec = importlib.util.spec_from_file_location("rules_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.read, module.RELATIONS.values()


def head(noun: str) -> str:
    return noun.split(" of ")[0].split()[-1]


def measure(prompts: list[str], read, spatial) -> dict:
    spatial = set(spatial)
    entities = junk = actions = 0
    junk_examples: dict[str, int] = {}
    for prompt in prompts:
        found, relations = read(prompt)
        for e in found:
            entities += 1
            if head(e.noun) in JUNK_HEADS:
                junk += 1
                junk_examples[head(e.noun)] = junk_examples.get(head(e.noun), 0) + 1
            actions += sum(c == "action" for c, _ in e.attributes) if e.present else 0
        actions += sum(r.phrase not in spatial and r.subject != r.object for r in relations)
    n = len(prompts)
    return {"prompts": n, "entity_questions_per_prompt": round(entities / n, 3),
            "junk_entity_questions_per_prompt": round(junk / n, 3), "junk_share": round(junk / max(entities, 1), 3),
            "action_questions_per_prompt": round(actions / n, 3),
            "most_common_junk": sorted(junk_examples, key=junk_examples.get, reverse=True)[:10]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", help="a rules.py to measure instead of the installed one")
    parser.add_argument("--compbench", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "compbench"))
    args = parser.parse_args()
    read, spatial = load_read(args.rules)
    out = {}
    for name in ("complex_val", "non_spatial_val"):
        prompts = [p.strip() for p in (Path(args.compbench) / f"{name}.txt").read_text().splitlines() if p.strip()]
        out[name] = measure(prompts, read, spatial)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
