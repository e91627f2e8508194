"""The ``sparsegnn`` command line: one module per command, each adding its parser
(``add_parser``) and running it (``run``).

- ``sparsegnn bench [spmm|segment|sddmm|int8|layer|step ...]`` times every sparsegnn backend
  against the peers a user would otherwise pick (:mod:`.bench`);
- ``sparsegnn plot RESULTS.json`` redraws the plots from a ``bench --json`` file (:mod:`.plot`);
- ``sparsegnn tune`` measures this machine and writes the policy file ``backend="auto"`` reads;
  ``--show`` prints it (:mod:`.tune`);
- ``sparsegnn train`` trains a model over seeds through the one training loop (:mod:`.train`).

Usage errors print one line and exit 2.
"""

from __future__ import annotations

import argparse
import sys

from . import bench, plot, train, tune
from .args import Parser, UsageError

COMMANDS = (bench, plot, tune, train)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="sparsegnn", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as error:
        print(f"sparsegnn {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the sweep started (graph building, roofs) or in tune / train
        print(f"\nsparsegnn {args.command}: interrupted before anything finished", file=sys.stderr)
        return 130


__all__ = ["UsageError", "build_parser", "main"]
