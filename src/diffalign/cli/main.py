"""Entry point: `diffalign <command>`; each command lives in its own module."""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # before transformers is first imported

from ..errors import UserInputError
from ..processes import finish, is_main_process, launched
from . import align, bench, compare, generate, personalize, score, world

DISTRIBUTED = ("align", "generate", "score", "bench")  # the commands that run on several processes


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
        if launched() > 1 and args.command not in DISTRIBUTED:
            raise UserInputError(f"{args.command} runs in one process: start it without torchrun or accelerate "
                                 f"launch (those run {', '.join(DISTRIBUTED)})")
        args.func(args)
    except UserInputError as err:
        if is_main_process():  # every process raises it; one line is printed
            print(f"diffalign: error: {err}", file=sys.stderr)
        return 2
    finally:
        finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
