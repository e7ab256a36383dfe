"""Entry point: `diffalign <command>`; each command lives in its own module."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # before transformers is first imported

from ..errors import UserInputError
from . import align, bench, compare, generate, personalize, score, world


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diffalign", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (align, generate, personalize, bench, score, compare, world):
        command.add_parser(sub)
    return parser


def quiet_libraries() -> None:
    """Keep diffusers/transformers load-time chatter out of the output; our own progress stays."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_libraries()
    try:
        args.func(args)
    except UserInputError as err:
        print(f"diffalign: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
