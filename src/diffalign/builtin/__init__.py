"""The built-in shapes model: configs, tokenizer, and the training stages behind `diffalign world train`."""

from importlib import resources

BUILTIN_MODEL_DIR = resources.files("diffalign.builtin") / "shapes-ldm"
