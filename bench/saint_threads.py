"""GraphSAINT's batches with the work shared by two threads against one, in one process:
the same sampler with ``sampling.common.shared`` on and off in alternating blocks, so that the
machine's drift between runs falls on both sides alike.

    .venv/bin/python bench/saint_threads.py [--graphs power-law,sbm] [--methods saint-node,saint-rw]
        [--blocks 5] [--seconds 1.5]

Graphs and settings as ``bench/samplers.py`` (PAPER_DEFAULTS, the whole graph sampled, coverage
1). Each block is `samplers.timed` (one untimed batch, then batches for `--seconds`). Prints
batch/s of every block and the ratio of the sums. Off means the tasks run one after
the other on this thread; the batches are the same either way.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sparsegnn.sampling import common, saint  # noqa: E402

from samplers import graphs, ours, timed  # noqa: E402  (bench/ is on sys.path: the script's folder)


def one_thread(tasks):
    return [task() for task in tasks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graphs", default="power-law,sbm")
    parser.add_argument("--methods", default="saint-node,saint-rw")
    parser.add_argument("--blocks", type=int, default=5, help="blocks each way")
    parser.add_argument("--seconds", type=float, default=1.5, help="seconds a block")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    for graph_name, data in graphs(args.graphs.split(",")):
        for name in args.methods.split(","):
            stream, _ = ours(name, data)
            for _ in range(3):  # numba's first calls, the buffers' first growth
                next(stream)
            rates = {True: [], False: []}
            try:
                for block in range(2 * args.blocks):
                    two = block % 2 == 0
                    saint.shared = common.shared if two else one_thread
                    rates[two].append(timed(stream, lambda batch: 0, args.seconds)["batches_per_s"])
            finally:
                saint.shared = common.shared
            print(f"{graph_name:9s} {name:10s} two threads {[round(r) for r in rates[True]]} one thread "
                  f"{[round(r) for r in rates[False]]} batch/s: {sum(rates[True]) / sum(rates[False]):.2f}x",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
