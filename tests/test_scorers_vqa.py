import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from diffalign.builtin_training.data import SceneStream
from diffalign.questions.scene_answers import SceneObject, answer
from diffalign.builtin_training.vqa_data import parse_labels, scene_questions
from diffalign.cli.main import main
from diffalign.errors import UserInputError
from diffalign.questions import GrammarQuestionGenerator, Question
from diffalign.scorers import make_scorer
from diffalign.scorers.vqa import VQAScorer
from diffalign.world import parse
from diffalign.world.render import PlacedObject, render_prompt


def _scene(spec_text: str, seed: int):
    image, placed = render_prompt(parse(spec_text), seed)
    return image, [SceneObject.from_placed(o) for o in placed]


def test_scene_answers_follow_the_placed_objects():
    objects = [SceneObject.from_placed(PlacedObject("circle", "red", "striped", "large", 5, 20, 24)),
               SceneObject.from_placed(PlacedObject("square", "blue", "plain", "small", 40, 22, 14))]

    def ask(text: str, kind: str) -> bool | None:
        return answer(Question(1, text, kind), objects)

    assert ask("is there a circle?", "entity") and not ask("is there a triangle?", "entity")
    assert ask("is the circle striped?", "attribute") and not ask("is the circle blue?", "attribute")
    assert ask("is there exactly one square?", "count") and not ask("are there exactly two squares?", "count")
    assert ask("is the large red striped circle to the left of the small blue plain square?", "relation")
    assert not ask("is the red circle above the blue square?", "relation")
    assert ask("is the triangle red?", "attribute") is None  # about nothing in the scene: not asked
    # a bare question (what the built-in model is given) has its kind read from its words
    assert answer("is the large red striped circle to the left of the small blue plain square?", objects)
    assert answer("is there exactly one square?", objects) and not answer("are there exactly two circles?", objects)
    assert answer("is the circle striped?", objects) and answer("is there a blue square?", objects)
    assert answer("is there a dog on the sofa?", objects) is None


def test_parse_labels_mark_object_cells_and_centres():
    circle = PlacedObject("circle", "red", "striped", "large", 4, 4, 24)  # centre (16, 16): cell (4, 4)
    square = PlacedObject("square", "blue", "plain", "small", 40, 41, 15)  # centre (47.5, 48.5)
    parts, centres, offsets = parse_labels([circle, square], 16)
    assert parts.shape == (4, 16, 16) and centres.sum() == 2
    assert list(parts[:, 4, 4]) == [1, 1, 2, 2]  # circle, red, striped, large (1 + vocabulary index)
    assert list(parts[:, 12, 11]) == [2, 3, 1, 1]  # square, blue, plain, small
    assert (parts[:, 0, 15] == 0).all() and (parts[0] > 0).sum() < 16 * 16 // 2
    assert centres[4, 4] == 1 and centres[12, 11] == 1
    assert offsets[:, 12, 11] == pytest.approx([47.5 / 4 - 11.5, 48.5 / 4 - 12.5])


def test_training_questions_are_true_for_the_prompt_and_include_negatives():
    stream, generator = SceneStream(7), GrammarQuestionGenerator()
    n_no = 0
    for k in range(20):
        spec = stream.spec()
        _, placed = render_prompt(spec, k)
        asked = scene_questions(spec, [SceneObject.from_placed(o) for o in placed], generator, stream.rng)
        labels = {text: a for text, _, a in asked}
        assert all(labels[q.text] for q in generator.generate(spec.text()).questions)
        n_no += sum(not a for a in labels.values())
    assert n_no >= 20


def test_builtin_vqa_answers_render_questions():
    """Fresh renders (a seed the training data never used), their prompt's and neighbour prompts' questions."""
    scorer = make_scorer("vqa", model="builtin")
    stream, generator = SceneStream(987_654), GrammarQuestionGenerator()
    images, texts, labels = [], [], []
    for k in range(64):
        spec = stream.spec()
        image, placed = render_prompt(spec, 10_000 + k)
        objects = [SceneObject.from_placed(o) for o in placed]
        for text, _, label in scene_questions(spec, objects, generator, stream.rng):
            images.append(image)
            texts.append(text)
            labels.append(label)
    p = scorer.answerer.p_yes(np.stack(images), texts)
    labels = np.array(labels)
    assert ((p >= 0.5) == labels).mean() >= 0.85
    assert (p[labels] >= 0.5).mean() >= 0.8 and (p[~labels] < 0.5).mean() >= 0.8  # not one-sided


class _FixedAnswers:
    """P(yes) by question kind: a stand-in VQA model."""

    def __init__(self, by_kind):
        self.by_kind = by_kind

    def p_yes(self, images, questions):
        kinds = {q.text: q.kind for q in GrammarQuestionGenerator().generate("a red circle").questions}
        return np.array([self.by_kind[kinds[q]] for q in questions])


def test_faithfulness_applies_dsg_dependencies():
    scorer = make_scorer("vqa", model="builtin")
    image = render_prompt(parse("a red circle"), 0)[0][None]
    scorer.answerer = _FixedAnswers({"entity": 0.9, "attribute": 0.1})
    assert scorer.score(image, ["a red circle"])["vqa"][0] == pytest.approx(0.5)
    scorer.answerer = _FixedAnswers({"entity": 0.1, "attribute": 0.9})  # the attribute's parent failed
    assert scorer.score(image, ["a red circle"])["vqa"][0] == 0.0


def build_tiny_blip(out):
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForQuestionAnswering,
        BlipProcessor,
    )
    from transformers.models.blip import BlipImageProcessorPil

    out.mkdir(parents=True, exist_ok=True)
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", "yes", "no", "is", "are", "there", "a", "the",
             "red", "blue", "circle", "square", "exactly", "two", "circles", "?"]
    (out / "vocab.txt").write_text("\n".join(words) + "\n")
    torch.manual_seed(0)
    tower = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2)
    config = BlipConfig(vision_config=dict(image_size=32, patch_size=8, **tower),
                        text_config=dict(vocab_size=len(words), encoder_hidden_size=32, max_position_embeddings=32,
                                         bos_token_id=5, sep_token_id=3, pad_token_id=0, **tower))
    BlipForQuestionAnswering(config).save_pretrained(out)
    BlipProcessor(image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}),
                  tokenizer=BertTokenizer(str(out / "vocab.txt"))).save_pretrained(out)
    return out


def test_blip_vqa_from_a_path_answers_every_question_and_caches_them(tmp_path):
    blip = build_tiny_blip(tmp_path / "blip")
    scorer = make_scorer("vqa", cache_dir=tmp_path / "run", model=str(blip), questions="rules", device="cpu")
    images = np.stack([_scene("a red circle", 0)[0], _scene("two blue squares", 1)[0]])
    p = scorer.answerer.p_yes(images, ["is there a red circle?", "are there exactly two circles?"])
    assert p.shape == (2,) and np.all((p > 0) & (p < 1))
    columns = scorer.score(images, ["a red circle", "two blue squares"])
    assert np.all((columns["vqa"] >= 0) & (columns["vqa"] <= 1)) and list(columns["vqa_questions"]) == [2, 3]
    cache = tmp_path / "run" / "questions-rules.json"
    assert set(json.loads(cache.read_text())) == {"a red circle", "two blue squares"}


@pytest.mark.parametrize("model, message", [("/no/such/blip", "VQA model not found"),
                                            ("not a model", "VQA model not found")])
def test_unknown_vqa_model_is_a_user_error(model, message):
    with pytest.raises(UserInputError, match=message):
        make_scorer("vqa", model=model)


def test_a_folder_that_is_no_blip_is_a_user_error(tmp_path):
    with pytest.raises(UserInputError, match="could not load BLIP"):
        make_scorer("vqa", model=str(tmp_path))


@pytest.mark.parametrize("scorer", ["vqa", "aesthetics"])
def test_cli_scores_a_folder(tmp_path, capsys, scorer):
    prompts = ["a red circle", "a blue square to the left of a green triangle"]
    rows = []
    for i, prompt in enumerate(prompts):
        Image.fromarray(_scene(prompt, i)[0]).save(tmp_path / f"{i}.png")
        rows.append(json.dumps({"image": f"{i}.png", "prompt": prompt}))
    (tmp_path / "index.jsonl").write_text("\n".join(rows) + "\n")
    assert main(["score", "--scorer", scorer, "--images", str(tmp_path)]) == 0
    table = [json.loads(line) for line in (tmp_path / f"scores_{scorer}.jsonl").read_text().splitlines()]
    assert [r["prompt"] for r in table] == prompts and all(0 <= r[scorer] <= 1 for r in table)
    assert f"{scorer}: mean" in capsys.readouterr().out
    assert main(["score", "--scorer", scorer, "--images", str(tmp_path), "--prompt", "a red circle",
                 "--out", str(tmp_path / "one.jsonl")]) == 0


def test_scorers_never_import_the_reference_evaluator():
    code = ("import sys, diffalign.scorers, diffalign.builtin_training.train_scorers; "
            "sys.exit(any(m.startswith('diffalign.evaluation') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
