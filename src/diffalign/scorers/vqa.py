"""VQA faithfulness (DreamSync / TIFA / DSG): the share of a prompt's yes/no questions the image passes.

Questions come from diffalign.questions (cached per run in cache_dir); a VQA model gives P(yes) for
each, and `faithfulness` applies the DSG dependency rule (a question whose parent failed fails).
- model="builtin": the shapes-world FiLM VQA model (scorers/shapes_vqa.py) shipped in
  builtin/scorers/vqa, trained by `diffalign world train --stage vqa`.
- model=<hub id or path>: a transformers BLIP VQA model (model_type blip: BlipForQuestionAnswering + BlipProcessor,
  e.g. Salesforce/blip-vqa-base; a checkpoint that does not fit it is refused), on the scorer's device and dtype;
  P(yes) is the answer decoder's first-token probability of "yes"
  renormalised over {"yes", "no"}, as TIFA reads a yes/no answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image

from ..builtin import BUILTIN_SCORER_DIR
from ..devices import resolve_device
from ..errors import UserInputError
from ..questions import CachedQuestions, QuestionSet, check_generator, faithfulness, make_generator
from ..sources import resolve_source
from .base import BaseScorer, register
from .loading import VQA_MODELS, check_dtype, load_model, load_processor, pick_family, scorer_device, scorer_dtype
from .shapes_vqa import ShapesVQA


class Answerer(Protocol):
    def p_yes(self, images: np.ndarray, questions: list[str]) -> np.ndarray:
        """N images (uint8 HxWx3) and N questions -> N probabilities of 'yes'."""
        ...


class BuiltinAnswerer:
    def __init__(self, directory: Path, batch_size: int = 256):
        if not (Path(directory) / "model.safetensors").exists():
            raise UserInputError(f"no built-in VQA weights in {directory}: run `diffalign world train --stage vqa`")
        self.model = ShapesVQA.load(directory)
        self.batch_size = batch_size

    def p_yes(self, images: np.ndarray, questions: list[str]) -> np.ndarray:
        if images.shape[1:3] != (64, 64):  # the model reads 64x64 shapes-world images
            images = np.stack([np.asarray(Image.fromarray(im).resize((64, 64), Image.BILINEAR)) for im in images])
        with torch.inference_mode():
            return self.model.p_yes(images, questions, self.batch_size)


class BlipAnswerer:
    def __init__(self, source: str, device: torch.device, batch_size: int = 32, dtype: torch.dtype = torch.float32):
        _, family, config = pick_family(source, "BLIP VQA model", VQA_MODELS)
        self.model = load_model(family.model, source, "BLIP VQA model", "visual question answering", device, dtype,
                                config)
        self.processor = load_processor(family.processor, source, "BLIP VQA model")
        tokenizer = self.processor.tokenizer
        self.answer_ids = [tokenizer.convert_tokens_to_ids(w) for w in ("yes", "no")]
        if tokenizer.unk_token_id in self.answer_ids:
            raise UserInputError(f"the tokenizer of {source!r} has no 'yes'/'no' token: not a yes/no VQA model")
        self.device, self.batch_size = device, batch_size

    @torch.inference_mode()
    def p_yes(self, images: np.ndarray, questions: list[str]) -> np.ndarray:
        out = []
        for s in range(0, len(questions), self.batch_size):
            chunk = slice(s, s + self.batch_size)
            inputs = self.processor(images=list(images[chunk]), text=questions[chunk],
                                    return_tensors="pt", padding=True).to(self.device)
            m = self.model
            vision = m.vision_model(pixel_values=inputs.pixel_values.to(m.dtype)).last_hidden_state
            question = m.text_encoder(input_ids=inputs.input_ids, attention_mask=inputs.attention_mask,
                                      encoder_hidden_states=vision,
                                      encoder_attention_mask=torch.ones(vision.shape[:-1], dtype=torch.long,
                                                                        device=vision.device))[0]
            bos = torch.full((len(question), 1), m.decoder_start_token_id, device=question.device)
            logits = m.text_decoder(input_ids=bos, encoder_hidden_states=question,
                                    encoder_attention_mask=inputs.attention_mask).logits[:, -1, self.answer_ids]
            out.append(torch.softmax(logits.float(), -1)[:, 0].cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0, np.float32)


@dataclass(frozen=True)
class VQAOptions:
    model: str = "builtin"  # 'builtin' (the shapes-world VQA model) or a BLIP VQA folder / hub id
    questions: str = "auto"  # the question generator: grammar, rules, auto or llm:<model>
    threshold: float = 0.5  # P(yes) at which a question passes
    batch_size: int = 64
    device: str | None = None  # None: the pipeline's device when there is one, else cuda if available, else cpu
    dtype: str | None = None  # BLIP: float32 | float16 | bfloat16; None: the pipeline's (on a GPU), else float32


@register("vqa")
class VQAScorer(BaseScorer):
    """Columns: vqa (faithfulness in [0, 1]) and vqa_questions (how many questions the prompt has)."""

    name = "vqa"
    Options = VQAOptions

    def __init__(self, options: VQAOptions = VQAOptions(), pipe=None, cache_dir=None):
        o = options
        generator = make_generator(o.questions)
        slug = re.sub(r"[^A-Za-z0-9.-]+", "_", o.questions)
        self.questions = CachedQuestions(Path(cache_dir) / f"questions-{slug}.json", generator) if cache_dir else None
        self.generator, self.threshold = generator, o.threshold
        if o.model == "builtin":
            self.answerer: Answerer = BuiltinAnswerer(BUILTIN_SCORER_DIR / "vqa")
        else:
            device = scorer_device(o.device, pipe)
            self.answerer = BlipAnswerer(resolve_source(o.model, "VQA model"), device, o.batch_size,
                                         scorer_dtype(o.dtype, device, pipe))

    @classmethod
    def columns(cls, options: VQAOptions) -> tuple[str, ...]:
        return ("vqa", "vqa_questions")

    @classmethod
    def check(cls, options: VQAOptions) -> None:
        check_generator(options.questions)
        resolve_device(options.device)
        check_dtype(options.dtype)
        if options.model == "builtin":
            if not (BUILTIN_SCORER_DIR / "vqa" / "model.safetensors").is_file():
                raise UserInputError("no built-in VQA weights: run `diffalign world train --stage vqa`")
        elif Path(source := resolve_source(options.model, "VQA model")).is_dir():
            pick_family(source, "BLIP VQA model", VQA_MODELS)

    def question_sets(self, prompts: list[str]) -> list[QuestionSet]:
        if self.questions is not None:
            return self.questions.generate_many(prompts)
        return [self.generator.generate(p) for p in prompts]

    def answers(self, images: np.ndarray, sets: list[QuestionSet]) -> list[dict[int, float]]:
        """P(yes) of every question of every image, asked in one batch."""
        rows = [(i, q) for i, qs in enumerate(sets) for q in qs.questions]
        p = self.answerer.p_yes(images[[i for i, _ in rows]], [q.text for _, q in rows]) if rows else []
        out: list[dict[int, float]] = [{} for _ in sets]
        for (i, q), value in zip(rows, p):
            out[i][q.id] = float(value)
        return out

    def score(self, images: np.ndarray, prompts: list[str]) -> dict[str, np.ndarray]:
        sets = self.question_sets(prompts)
        answers = self.answers(images, sets)
        return {"vqa": np.array([faithfulness(s, a, self.threshold) for s, a in zip(sets, answers)]),
                "vqa_questions": np.array([len(s.questions) for s in sets], dtype=np.float64)}
