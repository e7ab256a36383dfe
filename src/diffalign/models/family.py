"""Which model family a pipeline folder or hub id holds, read from its model_index.json before any weights load,
so an unsupported pipeline is refused in one line instead of after a multi-gigabyte load."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserInputError
from .families import FAMILIES, Family


def pipeline_class(source: str) -> str:
    """The `_class_name` of a resolved source's model_index.json (a local folder, or a hub id's cached or
    downloadable file)."""
    path = Path(source) / "model_index.json"
    if not path.is_file():
        from huggingface_hub import hf_hub_download

        try:
            path = Path(hf_hub_download(source, "model_index.json"))
        except Exception as err:  # not cached and no hub: the load would fail the same way, later
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise UserInputError(f"could not read model_index.json of {source!r}: {reason}") from None
    try:
        return json.loads(path.read_text())["_class_name"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UserInputError(f"{path} is not a diffusers model_index.json (no _class_name)") from None


def model_family(source: str, model: str) -> type[Family]:
    """The family of a resolved source; any other pipeline class is refused, naming what is supported."""
    name = pipeline_class(source)
    if name not in FAMILIES:
        supported = ", ".join(f"{n} ({f.description})" for n, f in FAMILIES.items())
        raise UserInputError(f"model {model!r} is a {name}; diffalign runs {supported} models so far")
    return FAMILIES[name]
