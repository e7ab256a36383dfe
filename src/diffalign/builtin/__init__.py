"""The built-in shapes model as shipped: where its diffusers folder and scorer weights live, and its guidance.

Training them (`diffalign world train`) lives in `diffalign.builtin_training`, a high layer."""

from importlib import resources

BUILTIN_MODEL_DIR = resources.files("diffalign.builtin") / "shapes-ldm"
# Weights of the built-in scorers (vqa/, aesthetics/, captioner/ — a tiny BLIP captioning model), trained by
# `diffalign world train --stage vqa|aesthetics|captioner`.
BUILTIN_SCORER_DIR = resources.files("diffalign.builtin") / "scorers"
CAPTIONER_DIR = BUILTIN_SCORER_DIR / "captioner"
# Measured on 48 val prompts (runs/sweep_g*): guidance 3 gave the best mean score and well-formed rate of
# 3, 5 and 7.5 for this small model; 7.5 stays the default for other models (Stable Diffusion's).
BUILTIN_GUIDANCE = 3.0
