"""Where a model comes from: a local path or a hub id, resolved once, the same way for pipelines and scorers.

A hub id is accepted when its files are in the local cache or the hub confirms it exists, so a typo or an
unreachable hub fails when a run is checked, before any image is generated, not when the model loads.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path

from .errors import UserInputError

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def is_hub_id(source: str) -> bool:
    return bool(HUB_ID.match(source)) and not source.startswith((".", "/", "~"))


def resolve_source(source: str, what: str) -> str:
    """An existing local path as itself; a hub id found in the local cache or on the hub as itself; anything
    else a one-line error naming `what` (e.g. "VQA model") and what to give instead."""
    path = Path(source).expanduser()
    if path.exists():
        return str(path)
    if not is_hub_id(source):
        raise UserInputError(f"{what} not found: {source!r}; give a local folder or a hub id such as org/name")
    problem = _hub_problem(source)
    if problem:
        raise UserInputError(f"{what} {source!r} {problem}")
    return source


@lru_cache(maxsize=64)
def _hub_problem(repo_id: str) -> str | None:
    """None when `repo_id` can be loaded: cached locally, or known to the hub; else why not."""
    from huggingface_hub import model_info, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        snapshot_download(repo_id, local_files_only=True)
        return None
    except (LocalEntryNotFoundError, OSError, ValueError):
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return "is not in the local hub cache and HF_HUB_OFFLINE is set: download it first or give a local folder"
    try:
        model_info(repo_id, timeout=10)
        return None
    except RepositoryNotFoundError:
        return "does not exist on the hub (or is private): check the id"
    except Exception as err:  # no network, a proxy, a time-out: the hub's answer is not a yes
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        return (f"is not in the local hub cache and the hub cannot be reached ({reason}): download it where "
                f"the hub is reachable (`hf download {repo_id}`) or give a local folder")
