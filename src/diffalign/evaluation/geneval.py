"""GenEval (Ghosh et al., 2023; github.com/djghosh13/geneval), re-implemented: an image is correct when every rule of
its prompt's metadata holds (evaluation/evaluate_images.py `evaluate`), a tag's score is its share of correct
images and the overall score the mean over tags (evaluation/summary_scores.py).

- Detections: per class, boxes above a confidence threshold (0.3; 0.9 for the counting tag), most confident first,
  at most 16, optionally thinned by an IoU limit (`max_overlap`, 1.0 = none, GenEval's default).
- include {class, count}: at least `count` boxes of the class (the `count` most confident are the ones checked);
  `color`: CLIP zero-shot on each of those boxes cropped, against "a photo of a {c} {class}", "a photo of a
  {c}-colored {class}", "a photo of a {c} object" for its ten colours (templates averaged), `count` of them must be
  that colour; `position` [relation, j]: every checked box must stand in that relation to every box that include
  entry j matched (an entry that failed leaves nothing to be relative to, and the rule fails).
- exclude {class, count}: fewer than `count` boxes of the class ("two clocks" excludes 3).
- Relative position (`relative_position`): the centres' offset, each axis shrunk by 0.1 x the two boxes' summed
  size on that axis (clipped at 0); no relation when nothing is left, else 'left of' / 'right of' / 'above' /
  'below' where the shrunk offset over the offset's length passes +-0.5.

GenEval detects with Mask2Former on COCO's 80 classes (mmdetection), which is not a transformers model: here an
open-vocabulary detector (OWLv2 by default) is asked for all 80 class names (`queries="all"`, so classes compete as
in a closed-set detector) or only the prompt's (`queries="prompt"`), so the figures are GenEval-style. Its
thresholds were set for Mask2Former's confidences; the colour CLIP is GenEval's ViT-L/14 (openai weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import UserInputError
from ..prompt_sets.geneval import GENEVAL_COLORS, geneval_metadata, geneval_object_names
from ..scorers.loading import scorer_device, scorer_dtype
from ..sources import resolve_source
from ..world.prompts import Prompt
from .bench import BenchRow

DEFAULTS = {"detector": "google/owlv2-base-patch16-ensemble", "clip": "openai/clip-vit-large-patch14"}
COLOR_TEMPLATES = ("a photo of a {c} {cls}", "a photo of a {c}-colored {cls}", "a photo of a {c} object")

Box = tuple[float, float, float, float]
Detected = dict[str, list[tuple[Box, float]]]  # class -> boxes with confidences, most confident first


@dataclass(frozen=True)
class GenEvalOptions:
    detector: str = DEFAULTS["detector"]  # OWLv2 / OWL-ViT / Grounding DINO, by hub id or folder
    clip: str = DEFAULTS["clip"]  # the colour classifier (a CLIPModel)
    threshold: float = 0.3
    counting_threshold: float = 0.9  # for the counting tag
    max_objects: int = 16  # per class
    max_overlap: float = 1.0  # IoU above which a less confident box of a class is dropped; 1.0: keep all
    position_threshold: float = 0.1  # the margin: x the summed box size
    queries: str = "all"  # 'all': the 80 COCO names; 'prompt': the prompt's classes only
    batch_size: int = 32
    device: str | None = None
    dtype: str | None = None

    def scoring(self) -> dict:
        return {k: getattr(self, k) for k in ("threshold", "counting_threshold", "max_objects", "max_overlap",
                                              "position_threshold", "queries")}


@dataclass(frozen=True)
class GenEvalPrompt(Prompt):
    metadata: dict | None = None


def geneval_prompts(path=None) -> list[GenEvalPrompt]:
    """GenEval metadata rows as prompts whose category is their tag (default: the shipped 553)."""
    return [GenEvalPrompt(r["prompt"], r["tag"], r) for r in geneval_metadata(path)]


# ---- scoring rules -------------------------------------------------------------------------------------------

def geneval_iou(a: Box, b: Box) -> float:
    """GenEval's IoU (+1 pixel areas)."""
    def area(box):
        return max(box[2] - box[0] + 1, 0) * max(box[3] - box[1] + 1, 0)

    inter = area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    union = area(a) + area(b) - inter
    return inter / union if union else 0.0


def keep_detections(candidates: dict[str, list[tuple[Box, float]]], threshold: float, max_objects: int = 16,
                    max_overlap: float = 1.0) -> Detected:
    """Per class: above the threshold, most confident first, at most max_objects, then greedy suppression of boxes
    overlapping a kept one by IoU >= max_overlap (none at 1.0); classes left empty are dropped."""
    out: Detected = {}
    for cls, found in candidates.items():
        ranked = sorted([d for d in found if d[1] > threshold], key=lambda d: -d[1])[:max_objects]
        kept: list[tuple[Box, float]] = []
        while ranked:
            best = ranked.pop(0)
            kept.append(best)
            if max_overlap < 1:
                ranked = [d for d in ranked if geneval_iou(best[0], d[0]) < max_overlap]
        if kept:
            out[cls] = kept
    return out


def relative_position(box_a: Box, box_b: Box, margin: float = 0.1) -> set[str]:
    """Where box A is relative to box B: GenEval's rule (module docstring)."""
    a, b = np.asarray(box_a[:4], float).reshape(2, 2), np.asarray(box_b[:4], float).reshape(2, 2)
    offset = a.mean(0) - b.mean(0)
    size_a, size_b = np.abs(a[1] - a[0]), np.abs(b[1] - b[0])
    shrunk = np.maximum(np.abs(offset) - margin * (size_a + size_b), 0) * np.sign(offset)
    if np.all(np.abs(shrunk) < 1e-3):
        return set()
    dx, dy = shrunk / np.linalg.norm(offset)
    relations = set()
    if dx < -0.5:
        relations.add("left of")
    if dx > 0.5:
        relations.add("right of")
    if dy < -0.5:
        relations.add("above")
    if dy > 0.5:
        relations.add("below")
    return relations


def evaluate(metadata: dict, detected: Detected, colours_of: Callable[[str, list[Box]], list[str]],
             margin: float = 0.1) -> tuple[bool, list[str]]:
    """(correct, reasons) of one image: include entries AND-ed, exclude entries OR-ed (GenEval's `evaluate`).
    colours_of(class, boxes) names the colour of each box (CLIP zero-shot in the suite; anything in tests)."""
    correct, reasons, matched = True, [], []
    for req in metadata.get("include", []):
        cls, count = req["class"], req["count"]
        found = detected.get(cls, [])[:count]
        ok = len(found) >= count
        if not ok:
            reasons.append(f"expected {cls}>={count}, found {len(found)}")
        else:
            if "color" in req:
                colours = colours_of(cls, [box for box, _ in found])
                if colours.count(req["color"]) < count:
                    ok = False
                    reasons.append(f"expected {req['color']} {cls}>={count}, found "
                                   f"{colours.count(req['color'])} {req['color']}; colours {', '.join(colours)}")
            if "position" in req and ok:
                relation, target = req["position"]
                if matched[target] is None:
                    ok = False
                    reasons.append(f"no target for {cls} to be {relation}")
                else:
                    for box, _ in found:
                        wrong = next((t for t, _ in matched[target]
                                      if relation not in relative_position(box, t, margin)), None)
                        if wrong is not None:
                            ok = False
                            seen = relative_position(box, wrong, margin)
                            reasons.append(f"expected {cls} {relation} target, found "
                                           f"{' and '.join(sorted(seen)) or 'no relation to the'} target")
                            break
        correct &= ok
        matched.append(found if ok else None)
    for req in metadata.get("exclude", []):
        n = len(detected.get(req["class"], []))
        if n >= req["count"]:
            correct = False
            reasons.append(f"expected {req['class']}<{req['count']}, found {n}")
    return correct, reasons


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    """The box's pixels (clamped to the image, at least one pixel)."""
    h, w = image.shape[:2]
    x0, y0 = int(np.clip(np.floor(box[0]), 0, w - 1)), int(np.clip(np.floor(box[1]), 0, h - 1))
    x1, y1 = int(np.clip(np.ceil(box[2]), x0 + 1, w)), int(np.clip(np.ceil(box[3]), y0 + 1, h))
    return image[y0:y1, x0:x1]


# ---- the evaluator -------------------------------------------------------------------------------------------

class GenEvalEvaluator:
    def __init__(self, options: GenEvalOptions, pipe=None):
        from ..scorers.clip import ClipOptions, ClipScorer
        from ..scorers.segmenters import Detector

        if options.queries not in ("all", "prompt"):
            raise UserInputError(f"--option queries={options.queries!r}: give 'all' or 'prompt'")
        self.options = o = options
        self.sources = {r: resolve_source(getattr(o, r), f"GenEval {r} model") for r in DEFAULTS}
        device = scorer_device(o.device, pipe)
        dtype = scorer_dtype(o.dtype, device, pipe)
        self.detector = Detector(self.sources["detector"], device, dtype)
        self.clip = ClipScorer(ClipOptions(model=self.sources["clip"], batch_size=o.batch_size, device=str(device),
                                           dtype=str(dtype).removeprefix("torch.")), pipe)
        self.names = geneval_object_names()
        self._classifiers: dict[str, torch.Tensor] = {}

    def describe(self) -> tuple[str, dict, dict]:
        from .suites import source_record

        return ("geneval", {r: source_record(getattr(self.options, r), DEFAULTS[r]) for r in DEFAULTS},
                self.options.scoring())

    def classifier(self, cls: str) -> torch.Tensor:
        """10 x D: per colour, the mean of its normalised template embeddings, normalised (zero-shot weights)."""
        if cls not in self._classifiers:
            texts = [t.format(c=c, cls=cls) for c in GENEVAL_COLORS for t in COLOR_TEMPLATES]
            emb = F.normalize(self.clip.text(texts).float(), dim=-1).view(len(GENEVAL_COLORS), len(COLOR_TEMPLATES), -1)
            self._classifiers[cls] = F.normalize(emb.mean(1), dim=-1)
        return self._classifiers[cls]

    def colours(self, image: np.ndarray, cls: str, boxes: list[Box]) -> list[str]:
        crops = [crop(image, b) for b in boxes]
        features = self.clip.image_embeddings(crops)
        return [GENEVAL_COLORS[i] for i in (features @ self.classifier(cls).T).argmax(-1).tolist()]

    def detect(self, image: np.ndarray, metadata: dict) -> Detected:
        o = self.options
        named = [r["class"] for r in metadata.get("include", []) + metadata.get("exclude", [])]
        queries = self.names if o.queries == "all" else list(dict.fromkeys(named))
        threshold = o.counting_threshold if metadata["tag"] == "counting" else o.threshold
        found = self.detector(Image.fromarray(image), queries, threshold)
        candidates: dict[str, list[tuple[Box, float]]] = {}
        for box, label, score in zip(found.boxes, found.labels, found.scores):
            candidates.setdefault(queries[label], []).append((tuple(float(v) for v in box), float(score)))
        return keep_detections(candidates, threshold, o.max_objects, o.max_overlap)

    def score(self, prompts: list[GenEvalPrompt], images: list[np.ndarray], seeds: list[int]) -> list[BenchRow]:
        rows = []
        for p, image, seed in zip(prompts, images, seeds):
            detected = self.detect(image, p.metadata)
            correct, reasons = evaluate(p.metadata, detected, lambda cls, boxes: self.colours(image, cls, boxes),
                                        self.options.position_threshold)
            answers = {"correct": correct, "reason": "; ".join(reasons),
                       "detected": {c: [[round(v, 2) for v in box] + [round(s, 4)] for box, s in d]
                                    for c, d in detected.items()}}
            rows.append(BenchRow(p.text, p.category, seed, float(correct), None, answers,
                                 sum(len(d) for d in detected.values())))
        return rows


def run_geneval(pipe, prompts: list[GenEvalPrompt], per_prompt: int, seed: int, config,
                options: GenEvalOptions = GenEvalOptions(), out=None, save_images: bool = False):
    from .suites import run_suite

    missing = [p.text for p in prompts if not isinstance(p, GenEvalPrompt) or p.metadata is None]
    if missing:
        raise UserInputError(f"--suite geneval needs GenEval metadata for every prompt (none for {missing[0]!r}): "
                             f"give a .jsonl in GenEval's format (tag, prompt, include)")
    evaluator = GenEvalEvaluator(options, pipe)
    return run_suite(pipe, prompts, per_prompt, seed, config, evaluator.score, evaluator.describe, out, save_images)
