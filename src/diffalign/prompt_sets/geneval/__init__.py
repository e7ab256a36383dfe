"""GenEval's task metadata (MIT, shipped beside this file) and its prompt-file format: one JSON object a line with
`tag`, `prompt`, `include` (and, for counting, `exclude`), as in GenEval's prompts/evaluation_metadata.jsonl."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from ...errors import UserInputError

GENEVAL_DIR = resources.files("diffalign.prompt_sets.geneval")
GENEVAL_TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
GENEVAL_COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")
GENEVAL_RELATIONS = ("left of", "right of", "above", "below")


def geneval_object_names() -> list[str]:
    """The 80 COCO class names GenEval's detector knows (its evaluation/object_names.txt)."""
    return [n.strip() for n in (GENEVAL_DIR / "object_names.txt").read_text().splitlines() if n.strip()]


def geneval_metadata(path: str | Path | None = None) -> list[dict]:
    """The rows of a GenEval metadata file (default: the shipped 553 prompts), each checked; a malformed row is one
    line naming the file and line."""
    source = GENEVAL_DIR / "evaluation_metadata.jsonl" if path is None else Path(path)
    if path is not None and not Path(path).is_file():
        raise UserInputError(f"GenEval metadata file not found: {path}")
    rows = []
    for n, line in enumerate(source.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserInputError(f"{source}:{n}: not JSON ({err.msg})") from None
        problem = check_row(row)
        if problem:
            raise UserInputError(f"{source}:{n}: {problem}")
        rows.append(row)
    if not rows:
        raise UserInputError(f"{source}: no GenEval prompts")
    return rows


def check_row(row) -> str | None:
    """Why a row is not GenEval metadata, or None."""
    if not isinstance(row, dict):
        return "expected an object with tag, prompt and include"
    if not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
        return "no prompt"
    if not isinstance(row.get("tag"), str) or not row["tag"]:
        return "no tag"
    include = row.get("include")
    if not isinstance(include, list) or not include:
        return "no include list"
    for k, req in enumerate(include + list(row.get("exclude", []))):
        if not isinstance(req, dict) or not isinstance(req.get("class"), str) \
                or not isinstance(req.get("count"), int) or req["count"] < 1:
            return "each include/exclude entry needs a class and a positive count"
        if "color" in req and req["color"] not in GENEVAL_COLORS:
            return f"colour {req['color']!r} is not one of GenEval's {', '.join(GENEVAL_COLORS)}"
        if "position" in req:
            pos = req["position"]
            if not (isinstance(pos, list) and len(pos) == 2 and pos[0] in GENEVAL_RELATIONS
                    and isinstance(pos[1], int) and 0 <= pos[1] < min(k, len(include))):
                return ("a position is [relation, index of an earlier include entry], relation one of "
                        f"{', '.join(GENEVAL_RELATIONS)}")
    return None
