"""Start-up cost: seconds from the end of ``import torch`` to the end of the first ``ops.spmm``.

Each run is a fresh interpreter that imports torch, then times ``import sparsegnn`` and one
``ops.spmm`` on a 3-node graph (the first op call is where ``torch.library.custom_op`` imported
``torch._dynamo``). Prints every run and the medians, and whether ``torch._dynamo`` or numba got
loaded (neither should be: tests/test_startup.py checks it).

    python bench/startup.py [--runs 7] [--root DIR]   # DIR: the checkout to import (default this one)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import torch
t0 = time.perf_counter()
import sparsegnn
from sparsegnn import Graph, ops
t1 = time.perf_counter()
graph = Graph.from_edge_index(torch.tensor([[0, 1, 2], [1, 2, 0]]), 3)
ops.spmm(graph, torch.ones(3, 4))
t2 = time.perf_counter()
print(json.dumps({"file": sparsegnn.__file__, "import": t1 - t0, "first_spmm": t2 - t1, "total": t2 - t0,
                  "dynamo": "torch._dynamo" in sys.modules, "numba": "numba" in sys.modules}))
"""


def measure(root: Path, runs: int) -> list[dict]:
    """One dict per fresh-interpreter run: ``import``, ``first_spmm``, ``total`` seconds, and whether
    ``dynamo`` and ``numba`` were loaded."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    out = []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-c", CHILD], cwd=root, env=env, capture_output=True, text=True,
                              check=True)
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--root", type=Path, default=ROOT, help="the checkout whose sparsegnn is imported")
    args = ap.parse_args(argv)
    rows = measure(args.root.resolve(), args.runs)
    print(f"sparsegnn from {rows[0]['file']}")
    for r in rows:
        print(f"  import {r['import']:.3f} s  first spmm {r['first_spmm']:.3f} s  total {r['total']:.3f} s"
              f"  loaded: torch._dynamo {r['dynamo']}, numba {r['numba']}")
    med = {k: statistics.median(r[k] for r in rows) for k in ("import", "first_spmm", "total")}
    print(f"median of {len(rows)}: import sparsegnn {med['import']:.3f} s, first ops.spmm {med['first_spmm']:.3f} s, "
          f"together {med['total']:.3f} s beyond import torch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
