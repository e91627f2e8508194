"""``sparsegnn plot``: redraw the roofline and speed-up PNGs from a ``bench --json`` file."""

from __future__ import annotations

import argparse

from .args import UsageError


def add_parser(sub: argparse._SubParsersAction) -> None:
    plot = sub.add_parser(
        "plot", help="draw the roofline and speed-up PNGs from a `bench --json` file"
    )
    plot.add_argument("json", metavar="JSON", help="a file written by `sparsegnn bench --json`")
    plot.add_argument("--out", metavar="DIR", default=".", help="where the PNGs go (default: here)")

    plot.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..profile.plots import write_plots
    from ..profile.report import read_json

    try:
        records, roofs = read_json(args.json)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(str(error)) from None
    for path in write_plots(records, roofs, args.out):
        print(f"wrote {path}")
    return 0
