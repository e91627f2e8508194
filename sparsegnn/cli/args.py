"""What the commands share: the one-line usage errors, and the argument types (comma-separated
lists, positive integers)."""

from __future__ import annotations

import argparse
import sys


class UsageError(Exception):
    """A bad command line found after parsing (a dataset that does not load, a value out of
    range): ``main`` prints it as one line and exits 2."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line on stderr and exit 2 (no usage
    dump, never a traceback); ``--help`` still shows the full usage."""

    def error(self, message: str):  # type: ignore[override]
        print(f"{self.prog}: error: {message} (try {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def comma_list(kind: str, choices: tuple[str, ...] | None = None):
    def parse(text: str) -> list:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {kind}, got {text!r}"
            )
        if kind == "positive integers":
            try:
                values = [int(item) for item in items]
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"expected comma-separated integers, got {text!r}"
                ) from None
            if min(values) < 1:
                raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
            return values
        bad = [item for item in items if choices is not None and item not in choices]
        if bad:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {bad}; choose from {', '.join(choices)}"
            )
        return list(dict.fromkeys(items))

    return parse


def _int_at_least(text: str, minimum: int, kind: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a {kind} integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a {kind} integer, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _int_at_least(text, 1, "positive")


def non_negative_int(text: str) -> int:
    return _int_at_least(text, 0, "non-negative")


def add_progress_flag(parser: argparse.ArgumentParser) -> None:
    """``--progress / --no-progress``: a progress bar, by default when stderr is a terminal."""
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )
