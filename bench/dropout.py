"""Dropout on CPU: ``sparsegnn.ops.dropout`` (one pass, counter-based mask regenerated in
backward) against ``torch.nn.functional.dropout`` and the ``x * (rand_like(x) >= p) / (1 - p)``
expression, forward and forward + backward, in one run.

    .venv/bin/python bench/dropout.py [--shapes 2700x128,2700x64,169343x128] [--threads 2] [--clock wall|cpu]

Per shape and variant: the minimum over ``--repeats`` rounds (interleaved, after a warm-up) of
the mean time of ``--calls`` calls, float32, p = 0.5.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sparsegnn import ops  # noqa: E402
from sparsegnn.profile.machine import environment  # noqa: E402


def expression(x: torch.Tensor, p: float) -> torch.Tensor:
    keep = (torch.rand_like(x) >= p).to(x.dtype)
    return x * keep.mul_(1.0 / (1.0 - p))


VARIANTS = {"sparsegnn": ops.dropout, "torch F.dropout": lambda x, p: F.dropout(x, p, True), "rand expression": expression}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="2700x128,2700x64,169343x128")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    env = environment()
    print(f"# {env['date']}, {env['cpu']}, {args.threads} threads, {args.clock} clock, float32, p = 0.5")
    print("| shape | pass | " + " | ".join(f"{v} (us)" for v in VARIANTS) + " | torch / sparsegnn |")
    print("| --- | --- |" + " --- |" * (len(VARIANTS) + 1))
    for shape in args.shapes.split(","):
        rows, cols = (int(v) for v in shape.split("x"))
        x = torch.rand(rows, cols, requires_grad=True)
        for label, backward in (("forward", False), ("forward + backward", True)):
            best = {name: float("inf") for name in VARIANTS}
            for round_ in range(args.repeats + 1):  # round 0 warms up
                for name, fn in VARIANTS.items():
                    start = clock()
                    for _ in range(args.calls):
                        if backward:
                            fn(x, 0.5).sum().backward()
                        else:
                            with torch.no_grad():
                                fn(x, 0.5)
                    spent = (clock() - start) / args.calls * 1e6
                    if round_:
                        best[name] = min(best[name], spent)
            times = " | ".join(f"{best[v]:.0f}" for v in VARIANTS)
            print(f"| {shape} | {label} | {times} | {best['torch F.dropout'] / best['sparsegnn']:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
