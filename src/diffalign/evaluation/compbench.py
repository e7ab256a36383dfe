"""T2I-CompBench's protocol (Huang et al., 2023; github.com/Karine-Huang/T2I-CompBench), re-implemented per category:

- color / shape / texture: BLIP-VQA. The prompt is split into its noun phrases, each asked as "<phrase>?", and the
  image's score is the product of P(yes) over them (BLIPvqa_eval/BLIP_vqa.py; P(yes) is the answer decoder's
  first-token yes/(yes+no), as its blip_vqa.py `vqa_prob`). The benchmark splits with spaCy's noun chunks; no spaCy
  model can be installed here, so the phrases come from diffalign's rule reader (questions/rules.py): each object's
  adjectives and noun as the prompt words them, with a determiner or number before them ("a green bench").
- spatial (2D): a detector finds the first and last object; 0.25 x each one's confidence + 0.5 x a soft position
  score (UniDet_eval/2D_spatial_eval.py `determine_position`), and a total below 0.5 counts as 0. The benchmark
  used UniDet, which is not packaged: here an open-vocabulary detector from transformers (OWLv2 by default, or
  OWL-ViT / Grounding DINO) is queried with the two nouns, so the figures are CompBench-style, not the
  leaderboard's. Its 150 px distance (on images resized to a 479 px side) is a fraction 150/479 of the shorter side.
- 3d_spatial: the same detections plus a depth map (DPT-Hybrid MiDaS by default, the benchmark's own depth expert,
  as Intel/dpt-hybrid-midas): 'in front of' wants the first object nearer (a higher normalised MiDaS value),
  'behind' / 'hidden' farther, with full credit when the boxes overlap by IoU > 0.5 and IoU / 0.5 below
  (UniDet_eval/3D_spatial_eval.py). The benchmark indexes its depth map [x, y]; here it is read [y, x].
- numeracy: per object the prompt counts, 0.5 / n for being detected and 0.5 / n more for the exact count, after
  merging same-label boxes that overlap by IoU > 0.9 or lie > 90 % inside each other (UniDet_eval/numeracy_eval.py).
- non_spatial: CLIP (ViT-B/32) cosine of image and prompt, unscaled (CLIPScore_eval/CLIP_similarity.py).
- complex: 3-in-1 (3_in_1_eval/3_in_1.py): the mean of BLIP-VQA, 2D spatial and CLIP (the prompt without its
  adjectives) over the parts the prompt has, by the benchmark's own lists of its complex prompts
  (complex_*_spatial / _action / _spatialaction.txt, shipped beside the prompts); a prompt in none of them gets all
  three. As in the benchmark's code, the position rule has no case for 'on top of', so such prompts get no
  position credit.

The scoring rules are pure functions below (tested on hand-made detections); `CompBenchEvaluator` runs the models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from ..prompt_sets import COMPBENCH_CATEGORIES, COMPBENCH_DIR
from ..questions.rules import read
from ..scorers.loading import Family, load_model, load_processor, pick_family, scorer_device, scorer_dtype
from ..sources import resolve_source
from .bench import BenchRow

DEFAULTS = {"vqa": "Salesforce/blip-vqa-base", "detector": "google/owlv2-base-patch16-ensemble",
            "clip": "openai/clip-vit-base-patch32", "depth": "Intel/dpt-hybrid-midas"}
METRICS = {"color": "blip_vqa", "shape": "blip_vqa", "texture": "blip_vqa", "spatial": "detector_2d",
           "3d_spatial": "detector_depth", "numeracy": "detector_count", "non_spatial": "clip", "complex": "3_in_1"}
ROLES = {"blip_vqa": ("vqa",), "detector_2d": ("detector",), "detector_depth": ("detector", "depth"),
         "detector_count": ("detector",), "clip": ("clip",), "3_in_1": ("vqa", "detector", "clip")}
DEPTH_MODELS = {"dpt": Family("DPTForDepthEstimation", "AutoImageProcessor"),
                "depth_anything": Family("DepthAnythingForDepthEstimation", "AutoImageProcessor")}
# the benchmark's locality words, searched in this order (2D_spatial_eval.py, 3D_spatial_eval.py)
SPATIAL_2D = ("on side of", "next to", "near", "on the left of", "on the right of", "on the bottom of",
              "on the top of", "on top of")
SPATIAL_3D = ("in front of", "behind", "hidden")
DETERMINERS = frozenset(("a", "an", "the", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                         "ten", "some", "many", "several", "his", "her", "its", "their", "my", "your", "our"))


@dataclass(frozen=True)
class CompBenchOptions:
    vqa: str = DEFAULTS["vqa"]  # a BLIP VQA folder or hub id (BlipForQuestionAnswering)
    detector: str = DEFAULTS["detector"]  # OWLv2 / OWL-ViT / Grounding DINO
    clip: str = DEFAULTS["clip"]  # a CLIPModel
    depth: str = DEFAULTS["depth"]  # DPT or Depth Anything (transformers' depth estimation)
    detector_threshold: float = 0.5  # UniDet's confidence threshold in the benchmark
    distance_threshold: float = 150 / 479  # of the shorter side: 150 px on the benchmark's 479 px images
    iou_threshold: float = 0.1  # 2D: overlap above which left/right/top/bottom credit shrinks
    iou_threshold_3d: float = 0.5  # 3D: overlap for full front/behind credit
    min_spatial: float = 0.5  # 2D: a total below this is 0
    batch_size: int = 32
    device: str | None = None  # None: the pipeline's device
    dtype: str | None = None  # None: the pipeline's on a GPU, else float32

    def scoring(self) -> dict:
        return {k: getattr(self, k) for k in ("detector_threshold", "distance_threshold", "iou_threshold",
                                              "iou_threshold_3d", "min_spatial")}


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
Found = tuple[Box, float] | None  # the best box of an object and its confidence; None: not detected


# ---- prompts -------------------------------------------------------------------------------------------------

def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", text.lower())


def noun_phrases(prompt: str) -> list[str]:
    """The prompt's noun phrases in order, each as worded in the prompt: determiner, adjectives, noun ("a green
    bench", "rubber sole shoes"); the stand-in for spaCy's noun chunks (see the module docstring)."""
    tokens = _tokens(prompt)
    phrases, pos = [], 0
    for entity in (e for e in read(prompt)[0] if e.present):
        adjectives = {w for _, a in entity.attributes if _ != "action" for w in _tokens(a)}
        for head in (_tokens(entity.plural), _tokens(entity.noun)):
            at = next((i for i in range(pos, len(tokens) - len(head) + 1) if tokens[i:i + len(head)] == head), None)
            if at is not None:
                break
        if at is None:  # worded otherwise than the reader's noun: its own words
            phrases.append(" ".join([*(w for w in _tokens(" ".join(a for c, a in entity.attributes
                                                                   if c != "action"))), entity.noun]))
            continue
        start, end = at, at + len(head)
        while start > pos:
            t = tokens[start - 1]
            if t in adjectives:
                start -= 1
            elif t == "and" and start - 2 >= pos and tokens[start - 2] in adjectives:
                start -= 1
            elif t in DETERMINERS:
                start -= 1
                break
            else:
                break
        phrases.append(" ".join(tokens[start:end]))
        pos = end
    return phrases


def vqa_questions(prompt: str) -> list[str]:
    """BLIP-VQA's questions: each noun phrase with a question mark, as the benchmark asks them."""
    return [f"{p}?" for p in noun_phrases(prompt)]


def blip_vqa_score(p_yes) -> float:
    """The product of P(yes) over a prompt's noun-phrase questions (1 with none, as the benchmark counts a missing
    phrase)."""
    return float(np.prod(np.asarray(p_yes, dtype=np.float64))) if len(p_yes) else 1.0


def locality(prompt: str, vocabulary: tuple[str, ...] = SPATIAL_2D) -> str | None:
    """The first of the benchmark's locality words found in the prompt (substring search in its order)."""
    text = " ".join(_tokens(prompt))
    return next((w for w in vocabulary if w in text), None)


def spatial_objects(prompt: str, complex_prompt: bool = False) -> tuple[str, str] | None:
    """The two objects whose boxes the spatial rule compares: the first and the last object of a simple prompt
    (the benchmark takes its first and last noun), or the objects of the first relation of a complex one."""
    entities, relations = read(prompt)[:2]
    present = [e for e in entities if e.present]
    if complex_prompt and relations:
        r = relations[0]
        return entities[r.subject].noun, entities[r.object].noun
    if len(present) < 2:
        return None
    return present[0].noun, present[-1].noun


def without_adjectives(prompt: str) -> str:
    """The prompt without its adjectives (3-in-1's CLIP text; the benchmark drops spaCy's ADJ tokens)."""
    adjectives = {w for e in read(prompt)[0] for c, a in e.attributes if c != "action" for w in _tokens(a)}
    return " ".join(w for w in prompt.split() if re.sub(r"[^a-z0-9'-]", "", w.lower()) not in adjectives)


def numeracy_targets(prompt: str) -> list[tuple[str, int]]:
    """(noun, count) per object the prompt counts ("a"/"an"/no number: 1)."""
    return [(e.noun, e.count or 1) for e in read(prompt)[0] if e.present]


@lru_cache(maxsize=1)
def _complex_lists() -> dict[str, frozenset[str]]:
    def lines(name):
        path = COMPBENCH_DIR / name
        return {_key(t) for t in path.read_text().splitlines() if t.strip()} if path.is_file() else set()

    return {kind: frozenset(lines(f"complex_val_{kind}.txt") | lines(f"complex_train_{kind}.txt"))
            for kind in ("spatial", "action", "spatialaction")}


def _key(text: str) -> str:
    return text.strip().split(".")[0].lower()  # 3_in_1.py compares the text before the first full stop


def complex_kind(prompt: str) -> str:
    """'spatial', 'action' or 'spatialaction': which relation parts a complex prompt has, from the benchmark's
    lists; a prompt in none of them is scored on all three, as 3_in_1.py does."""
    key = _key(prompt)
    lists = _complex_lists()
    return next((kind for kind in ("spatial", "action") if key in lists[kind]), "spatialaction")


# ---- scoring rules -------------------------------------------------------------------------------------------

def box_iou(a: Box, b: Box) -> float:
    """Intersection over union without the +1 pixel convention (the spatial scripts' own)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def position_2d(where: str | None, box1: Box, box2: Box, side: float, distance_threshold: float = 150 / 479,
                iou_threshold: float = 0.1) -> float:
    """CompBench's soft 2D position score of object 1 `where` object 2 (`side`: the image's shorter side in pixels).
    Near words: 1 when the centres are closer than the distance in x or in y, else distance / the larger offset.
    Left / right / top / bottom: 0 on the wrong side, else 1 when that axis dominates and IoU < iou_threshold,
    iou_threshold / IoU when they overlap more; 0 when the other axis dominates."""
    c1 = ((box1[0] + box1[2]) / 2, (box1[1] + box1[3]) / 2)
    c2 = ((box2[0] + box2[2]) / 2, (box2[1] + box2[3]) / 2)
    dx, dy = c2[0] - c1[0], c2[1] - c1[1]  # from object 1 to object 2
    iou = box_iou(box1, box2)
    if where in ("next to", "on side of", "near"):
        limit = distance_threshold * side
        return 1.0 if abs(dx) < limit or abs(dy) < limit else limit / max(abs(dx), abs(dy))
    along = {"on the left of": (dx > 0, abs(dx) > abs(dy)), "on the right of": (dx < 0, abs(dx) > abs(dy)),
             "on the top of": (dy > 0, abs(dy) > abs(dx)), "on the bottom of": (dy < 0, abs(dy) > abs(dx))}
    if where not in along:  # 'on top of' and anything else: no rule in the benchmark, no credit
        return 0.0
    right_side, dominant = along[where]
    if not right_side or not dominant:
        return 0.0
    return 1.0 if iou < iou_threshold else iou_threshold / iou


def position_3d(where: str | None, box1: Box, box2: Box, depth: np.ndarray, iou_threshold_3d: float = 0.5) -> float:
    """CompBench's 3D score of object 1 `where` object 2 from a depth map normalised to [0, 1], higher = nearer
    (MiDaS' inverse depth): 'in front of' wants object 1's box nearer on average, 'behind' / 'hidden' farther;
    the right order earns 1 when IoU > iou_threshold_3d, IoU / iou_threshold_3d when 0 < IoU < it, else 0."""
    if where not in SPATIAL_3D:
        return 0.0
    diff = box_depth(depth, box1) - box_depth(depth, box2)
    right = diff > 0 if where == "in front of" else diff < 0
    iou = box_iou(box1, box2)
    if not right or iou <= 0:
        return 0.0
    if iou > iou_threshold_3d:
        return 1.0
    return iou / iou_threshold_3d if iou < iou_threshold_3d else 0.0


def box_depth(depth: np.ndarray, box: Box) -> float:
    """Mean depth inside a box (rows y0:y1, columns x0:x1); a box thinner than a pixel reads its centre pixel."""
    h, w = depth.shape
    x0, y0, x1, y1 = (int(np.clip(v, 0, lim)) for v, lim in zip(box, (w, h, w, h)))
    region = depth[y0:y1, x0:x1]
    if region.size == 0:
        cy = int(np.clip((box[1] + box[3]) / 2, 0, h - 1))
        cx = int(np.clip((box[0] + box[2]) / 2, 0, w - 1))
        return float(depth[cy, cx])
    return float(region.mean())


def spatial_score(position: float, first: Found, second: Found, min_total: float | None = 0.5) -> float:
    """0.25 x each detected object's confidence, + 0.5 x the position score when both are found; a total below
    min_total is 0 (2D; None: no floor, as in 3D)."""
    if first is not None and second is not None:
        score = 0.25 * first[1] + 0.25 * second[1] + position / 2
    elif first is not None or second is not None:
        score = 0.25 * (first or second)[1]
    else:
        score = 0.0
    return 0.0 if min_total is not None and score < min_total else score


def same_object(a: Box, b: Box) -> bool:
    """numeracy_eval.py's duplicate test (with its +1 pixel areas): IoU > 0.9, or > 90 % of either box inside the
    other."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
    inter = ix * iy
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    iou = inter / (area_a + area_b - inter)
    return iou > 0.9 or inter / area_a > 0.9 or inter / area_b > 0.9


def merge_duplicates(labels: list[str], boxes: list[Box]) -> list[str]:
    """The labels left after dropping each box that duplicates an earlier kept box of the same label."""
    kept: list[tuple[str, Box]] = []
    for label, box in zip(labels, boxes):
        if not any(label == k and same_object(box, b) for k, b in kept):
            kept.append((label, box))
    return [k for k, _ in kept]


def numeracy_score(targets: list[tuple[str, int]], labels: list[str]) -> float:
    """Per counted object (weight 1 / n): half for being detected at all, half more for exactly its count."""
    if not targets:
        return 0.0
    weight = 1.0 / len(targets)
    score = 0.0
    for noun, count in targets:
        found = labels.count(noun)
        if found:
            score += 0.5 * weight + (0.5 * weight if found == count else 0.0)
    return score


def three_in_one(kind: str, attribute: float, spatial: float, action: float) -> float:
    """3-in-1: BLIP-VQA with the relation parts the complex prompt has (kind from complex_kind)."""
    if kind == "spatial":
        return (attribute + spatial) / 2
    if kind == "action":
        return (attribute + action) / 2
    return (attribute + spatial + action) / 3


# ---- the evaluator -------------------------------------------------------------------------------------------

def roles_for(categories) -> tuple[str, ...]:
    """The evaluator models the given categories need, in DEFAULTS' order."""
    wanted = {r for c in categories for r in ROLES[METRICS[c]]}
    return tuple(r for r in DEFAULTS if r in wanted)


class DepthModel:
    """A transformers depth estimator (DPT, Depth Anything): image -> depth normalised to [0, 1] per image, at the
    image's size, higher = nearer (the models predict relative inverse depth)."""

    def __init__(self, source: str, device: torch.device, dtype: torch.dtype):
        _, family, config = pick_family(source, "depth model", DEPTH_MODELS)
        self.model = load_model(family.model, source, "depth model", "depth estimation", device, dtype, config)
        self.processor = load_processor(family.processor, source, "depth model")
        self.device = device

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> np.ndarray:
        inputs = self.processor(images=[image], return_tensors="pt").to(self.device)
        pred = self.model(pixel_values=inputs["pixel_values"].to(self.model.dtype)).predicted_depth.float()
        pred = torch.nn.functional.interpolate(pred[:, None], size=image.shape[:2], mode="bilinear",
                                               align_corners=True)[0, 0].cpu().numpy()
        span = pred.max() - pred.min()
        return (pred - pred.min()) / span if span > 0 else np.zeros_like(pred)


class CompBenchEvaluator:
    """Loads the evaluator models the categories need (each by hub id or local folder) and scores images."""

    def __init__(self, options: CompBenchOptions, categories, pipe=None):
        from ..scorers.clip import ClipOptions, ClipScorer
        from ..scorers.segmenters import Detector
        from ..scorers.vqa import BlipAnswerer

        unknown = [c for c in categories if c not in METRICS]
        if unknown:
            raise ValueError(f"not CompBench categories: {unknown}")
        self.options = o = options
        self.roles = roles_for(categories)
        self.sources = {r: resolve_source(getattr(o, r), f"CompBench {r} model") for r in self.roles}
        device = scorer_device(o.device, pipe)
        dtype = scorer_dtype(o.dtype, device, pipe)
        self.vqa = BlipAnswerer(self.sources["vqa"], device, o.batch_size, dtype) if "vqa" in self.roles else None
        self.detector = Detector(self.sources["detector"], device, dtype) if "detector" in self.roles else None
        self.clip = ClipScorer(ClipOptions(model=self.sources["clip"], batch_size=o.batch_size, device=str(device),
                                           dtype=str(dtype).removeprefix("torch.")), pipe) \
            if "clip" in self.roles else None
        self.depth = DepthModel(self.sources["depth"], device, dtype) if "depth" in self.roles else None

    def describe(self) -> tuple[str, dict, dict]:
        from .suites import source_record

        return ("compbench", {r: source_record(getattr(self.options, r), DEFAULTS[r]) for r in self.roles},
                self.options.scoring())

    # the parts, batched over images where the model allows
    def _vqa(self, prompts: list[str], images: list[np.ndarray]) -> list[dict[str, float]]:
        asked = [(i, q) for i, p in enumerate(prompts) for q in vqa_questions(p)]
        p = self.vqa.p_yes(np.stack([images[i] for i, _ in asked]), [q for _, q in asked]) if asked else []
        out: list[dict[str, float]] = [{} for _ in prompts]
        for (i, q), value in zip(asked, p):
            out[i][q] = round(float(value), 6)
        return out

    def _cosines(self, texts: list[str], images: list[np.ndarray]) -> list[float]:
        cos = (self.clip.image_embeddings(np.stack(images)) * self.clip.text(texts)).sum(-1)
        return [float(c) for c in cos]

    def _detect(self, image: np.ndarray, queries: list[str]) -> list[tuple[str, Box, float]]:
        """Every kept box as (query, box, confidence), most confident first."""
        found = self.detector(Image.fromarray(image), queries, self.options.detector_threshold)
        order = np.argsort(-np.asarray(found.scores), kind="stable") if found.scores else []
        return [(queries[found.labels[i]], tuple(float(v) for v in found.boxes[i]), float(found.scores[i]))
                for i in order]

    def _pair(self, image: np.ndarray, objects: tuple[str, str]) -> tuple[Found, Found, int]:
        """The most confident box of each object (of one noun asked twice: its two most confident boxes)."""
        detections = self._detect(image, list(dict.fromkeys(objects)))
        first = next((k for k, d in enumerate(detections) if d[0] == objects[0]), None)
        second = next((k for k, d in enumerate(detections) if d[0] == objects[1] and k != first), None)
        pick = [None if k is None else (detections[k][1], detections[k][2]) for k in (first, second)]
        return pick[0], pick[1], len(detections)

    def _spatial(self, prompt: str, image: np.ndarray, complex_prompt: bool = False) -> tuple[float, dict, int]:
        objects = spatial_objects(prompt, complex_prompt)
        where = locality(prompt)
        if objects is None:
            return 0.0, {"locality": where}, 0
        first, second, n = self._pair(image, objects)
        o = self.options
        position = position_2d(where, first[0], second[0], min(image.shape[:2]), o.distance_threshold,
                               o.iou_threshold) if first and second else 0.0
        score = spatial_score(position, first, second, o.min_spatial)
        return score, _found_answers(objects, first, second) | {"locality": where, "position": position}, n

    def _spatial_3d(self, prompt: str, image: np.ndarray) -> tuple[float, dict, int]:
        objects = spatial_objects(prompt)
        where = locality(prompt, SPATIAL_3D)
        if objects is None:
            return 0.0, {"locality": where}, 0
        first, second, n = self._pair(image, objects)
        position = position_3d(where, first[0], second[0], self.depth(image), self.options.iou_threshold_3d) \
            if first and second else 0.0
        score = spatial_score(position, first, second, None)
        return score, _found_answers(objects, first, second) | {"locality": where, "position": position}, n

    def _numeracy(self, prompt: str, image: np.ndarray) -> tuple[float, dict, int]:
        targets = numeracy_targets(prompt)
        queries = list(dict.fromkeys(n for n, _ in targets))
        if not queries:
            return 0.0, {}, 0
        detections = self._detect(image, queries)
        kept = merge_duplicates([d[0] for d in detections], [d[1] for d in detections])
        return numeracy_score(targets, kept), {f"{n} (wants {c})": kept.count(n) for n, c in targets}, len(kept)

    def score(self, prompts, images: list[np.ndarray], seeds: list[int]) -> list[BenchRow]:
        texts = [p.text for p in prompts]
        metric = [METRICS[p.category] for p in prompts]
        vqa_rows = [i for i, m in enumerate(metric) if m in ("blip_vqa", "3_in_1")]
        clip_rows = [i for i, m in enumerate(metric) if m in ("clip", "3_in_1")]
        answers: dict[int, dict] = {i: {} for i in range(len(prompts))}
        scores, objects = [0.0] * len(prompts), [0] * len(prompts)
        if vqa_rows:
            for i, a in zip(vqa_rows, self._vqa([texts[i] for i in vqa_rows], [images[i] for i in vqa_rows])):
                answers[i] = a
                scores[i] = blip_vqa_score(list(a.values()))
        if clip_rows:
            clip_texts = [texts[i] if metric[i] == "clip" else without_adjectives(texts[i]) for i in clip_rows]
            for i, cos in zip(clip_rows, self._cosines(clip_texts, [images[i] for i in clip_rows])):
                if metric[i] == "clip":
                    scores[i], answers[i] = cos, {"clip cosine": round(cos, 6)}
                else:
                    answers[i]["clip cosine (no adjectives)"] = round(cos, 6)
        for i, m in enumerate(metric):
            if m == "detector_2d":
                scores[i], answers[i], objects[i] = self._spatial(texts[i], images[i])
            elif m == "detector_depth":
                scores[i], answers[i], objects[i] = self._spatial_3d(texts[i], images[i])
            elif m == "detector_count":
                scores[i], answers[i], objects[i] = self._numeracy(texts[i], images[i])
            elif m == "3_in_1":
                attribute = scores[i]
                action = answers[i]["clip cosine (no adjectives)"]
                spatial, found, objects[i] = self._spatial(texts[i], images[i], complex_prompt=True)
                kind = complex_kind(texts[i])
                scores[i] = three_in_one(kind, attribute, spatial, action)
                answers[i] |= {"blip-vqa": round(attribute, 6), "spatial": round(spatial, 6), "kind": kind} | found
        return [BenchRow(p.text, p.category, seed, round(float(s), 6), None, answers[i], objects[i])
                for i, (p, s, seed) in enumerate(zip(prompts, scores, seeds))]


def _found_answers(objects, first: Found, second: Found) -> dict:
    return {f"{objects[0]} confidence": round(first[1], 6) if first else 0.0,
            f"{objects[1]} confidence" if objects[1] != objects[0] else f"{objects[1]} (second) confidence":
            round(second[1], 6) if second else 0.0}


def run_compbench(pipe, prompts, per_prompt: int, seed: int, config, options: CompBenchOptions = CompBenchOptions(),
                  out=None, save_images: bool = False):
    """Sample every prompt per_prompt times and score it by its category's CompBench rule; results.json via
    write_bench (suites.run_suite)."""
    from .suites import check_categories, run_suite

    check_categories(prompts, COMPBENCH_CATEGORIES, "compbench")
    evaluator = CompBenchEvaluator(options, dict.fromkeys(p.category for p in prompts), pipe)
    return run_suite(pipe, prompts, per_prompt, seed, config, evaluator.score, evaluator.describe, out, save_images)
