"""Loading a scorer's transformers model as what it says it is, on the device and dtype it should run in.

A checkpoint's class comes from its own config (`model_type`), not from the role: a BLIP-2 captioner loads as
Blip2ForConditionalGeneration, an OWLv2 detector as Owlv2ForObjectDetection. A checkpoint whose weights do not fit
that class (weights missing or of another shape, or a config naming another head) is a one-line UserInputError,
never a model with random weights.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from ..devices import resolve_device
from ..errors import UserInputError

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Family:
    """One supported checkpoint kind of a role: the model class and the processor class, by name."""

    model: str
    processor: str = "AutoProcessor"


CAPTIONERS = {"blip": Family("BlipForConditionalGeneration", "BlipProcessor"),
              "blip-2": Family("Blip2ForConditionalGeneration", "Blip2Processor")}
DETECTORS = {"owlvit": Family("OwlViTForObjectDetection", "OwlViTProcessor"),
             "owlv2": Family("Owlv2ForObjectDetection", "Owlv2Processor"),
             "grounding-dino": Family("GroundingDinoForObjectDetection", "GroundingDinoProcessor")}
SEGMENTERS = {"sam": Family("SamModel", "SamProcessor")}
VQA_MODELS = {"blip": Family("BlipForQuestionAnswering", "BlipProcessor")}
CLIP_MODELS = {"clip": Family("CLIPModel", "CLIPProcessor")}


def check_dtype(name: str | None) -> torch.dtype | None:
    """A dtype option ('float32', 'float16', 'bfloat16' or None) as a torch dtype; anything else one line."""
    if name is None or name == "":
        return None
    if name not in DTYPES:
        raise UserInputError(f"unknown dtype {name!r}: give {', '.join(DTYPES)}")
    return DTYPES[name]


def scorer_device(name: str | None, pipe=None) -> torch.device:
    """The device option; None: the pipeline's device when a pipe is given, else default_device()."""
    if name is None and pipe is not None and getattr(pipe, "device", None) is not None:
        return torch.device(pipe.device)
    return resolve_device(name)


def scorer_dtype(name: str | None, device: torch.device, pipe=None) -> torch.dtype:
    """The dtype option; None: the pipeline's dtype when a pipe on the same (non-CPU) device kind is given, else
    float32 (half precision on a CPU is slow and some ops lack it)."""
    dtype = check_dtype(name)
    if dtype is not None:
        return dtype
    pipe_dtype, pipe_device = getattr(pipe, "dtype", None), getattr(pipe, "device", None)
    if pipe_dtype is not None and pipe_device is not None and device.type != "cpu" \
            and torch.device(pipe_device).type == device.type:
        return pipe_dtype
    return torch.float32


def read_config(source: str, what: str):
    """The checkpoint's transformers config (offline for a local folder), or one line saying why not."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source)
    except (OSError, ValueError, KeyError) as err:
        raise UserInputError(f"could not load {what} {source!r}: {str(err).splitlines()[0]}") from None


def pick_family(source: str, what: str, families: dict[str, Family]) -> tuple[str, Family, Any]:
    """(model_type, its Family, the config) for a checkpoint; an unsupported model_type is one line."""
    config = read_config(source, what)
    kind = getattr(config, "model_type", None)
    if kind not in families:
        supported = ", ".join(f"{k} ({f.model})" for k, f in families.items())
        raise UserInputError(f"{what} {source!r} is a {kind!r} checkpoint; supported: {supported}")
    return kind, families[kind], config


@contextlib.contextmanager
def _quiet_transformers():
    """Hide transformers' load report: a misfit is refused below, in one line."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(level)


def load_model(model_class: str | type, source: str, what: str, kind: str, device: torch.device,
               dtype: torch.dtype, config=None, ignore_missing: tuple[str, ...] = ()):
    """`model_class`.from_pretrained(source) on device/dtype, in eval mode, refusing a checkpoint it does not fit:
    weights missing (the class would initialise them at random), of another shape, or a `config` whose
    `architectures` names another class (e.g. a VQA checkpoint given as a captioner). `model_class` is a
    transformers class or its name (an Auto class works too: give no config then); `kind` names what the
    checkpoint should be ("captioning", "object detection"); `ignore_missing` are substrings of weight names the
    class may initialise itself (none is needed for the supported classes: tied weights are not reported)."""
    import transformers

    cls = getattr(transformers, model_class) if isinstance(model_class, str) else model_class
    class_name = cls.__name__
    architectures = list(getattr(config, "architectures", None) or [])
    if architectures and class_name not in architectures:
        raise UserInputError(f"{what} {source!r} is a {architectures[0]} checkpoint, not a {class_name}: it is not "
                             f"{_a(kind)} checkpoint")
    try:
        with _quiet_transformers():
            model, info = cls.from_pretrained(source, dtype=dtype, output_loading_info=True)
    except RuntimeError as err:
        if "mismatch" in str(err):
            raise UserInputError(f"{what} {source!r}: weights of {class_name} have other shapes than the checkpoint's "
                                 f"(the config does not match the weights)") from None
        raise
    except (OSError, ValueError) as err:
        raise UserInputError(f"could not load {what} {source!r}: {str(err).splitlines()[0]}") from None
    missing = [k for k in info.get("missing_keys", ()) if not any(p in k for p in ignore_missing)]
    missing += [k[0] if isinstance(k, tuple) else k for k in info.get("mismatched_keys", ())]
    if missing:
        raise UserInputError(f"{what} {source!r}: {len(missing)} weights of {type(model).__name__} are missing from the "
                             f"checkpoint (e.g. {sorted(missing)[0]}): it is not {_a(kind)} checkpoint")
    return model.to(device).eval()


def _a(phrase: str) -> str:
    return ("an " if phrase[0].lower() in "aeiou" else "a ") + phrase


def load_processor(class_name: str, source: str, what: str):
    import transformers

    try:
        with _quiet_transformers():
            return getattr(transformers, class_name).from_pretrained(source)
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise UserInputError(f"could not load the processor of {what} {source!r}: {str(err).splitlines()[0]}") \
            from None


def module_placement(module: torch.nn.Module) -> tuple[set[torch.device], set[torch.dtype]]:
    """The devices and floating dtypes of a module's parameters (for checks and tests)."""
    params = list(module.parameters())
    return {p.device for p in params}, {p.dtype for p in params if p.is_floating_point()}
