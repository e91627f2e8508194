"""The samplers' full-graph evaluation: one full-graph forward against layer-by-layer over row
blocks (``sparsegnn.sampling.layerwise``), peak RSS and time, on the 2 x 10^6-node block model.

    .venv/bin/python bench/layerwise_eval.py [--nodes 2000000] [--edges 20000000] [--models 2x128,4x256]

Each model and evaluation runs in a fresh subprocess that builds the graph
(``sparsegnn.data.sbm``, 10 classes, 128 features, seed 0), keeps ``x`` and the GCN-normalised
CSR with int32 columns (what the samplers' evaluation reads), returns the freed heap of the
graph's construction to the system (``malloc_trim``), resets the kernel's peak-RSS
counter (``/proc/self/clear_refs``) and evaluates once: ``kept`` is the full forward as it ran
before this change (every layer's output kept to the end; ``return_hidden=True`` holds the same
list), ``full`` the full forward now, ``layerwise`` layer by layer over row blocks. "above data"
is the peak less the resident set before the evaluation; each output is then compared with a
full forward's.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sparsegnn.data import sbm  # noqa: E402
from sparsegnn.nn import GCN  # noqa: E402
from sparsegnn.profile.machine import environment  # noqa: E402
from sparsegnn.sampling.common import full_gcn_graph  # noqa: E402
from sparsegnn.sampling.layerwise import layerwise_forward  # noqa: E402

MODES = ("kept", "full", "layerwise")


def _vm_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def child(nodes: int, edges: int, layers: int, hidden: int, mode: str) -> dict:
    data = sbm(nodes, 10, 2 * edges / nodes, num_features=128, class_sep=1.0, seed=0)
    x, graph = data.x, full_gcn_graph(data.graph.to_index_dtype(torch.int32))
    del data
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # the graph's construction leaves freed heap resident: not data
    torch.manual_seed(0)
    model = GCN(128, hidden, 10, num_layers=layers).eval()
    runs = {
        "kept": lambda: model(x, graph, return_hidden=True)[0],
        "full": lambda: model(x, graph),
        "layerwise": lambda: layerwise_forward(model, x, graph),
    }
    with torch.no_grad():
        before = _vm_mib("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")
        start = time.perf_counter()
        logits = runs[mode]()
        seconds = time.perf_counter() - start
        peak = _vm_mib("VmHWM")
        difference = float((logits - runs["full"]()).abs().max())  # after the peak was read
    return {"model": f"{layers}x{hidden}", "mode": mode, "data_mib": before, "peak_mib": peak,
            "above_data_mib": peak - before, "seconds": seconds, "max_abs_diff_vs_full": difference,
            "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2_000_000)
    parser.add_argument("--edges", type=int, default=20_000_000)
    parser.add_argument("--models", default="2x128,4x256", help="GCNs as LAYERSxHIDDEN, comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        layers, hidden = (int(v) for v in args.child[0].split("x"))
        print(json.dumps(child(args.nodes, args.edges, layers, hidden, args.child[1])))
        return 0
    rows = []
    for model in args.models.split(","):
        for mode in args.modes.split(","):
            command = [sys.executable, __file__, "--child", model, mode, "--nodes", str(args.nodes),
                       "--edges", str(args.edges), "--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    print("| GCN | evaluation | data RSS MiB | peak RSS MiB | above data MiB | s | max abs diff vs full |\n"
          "| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        diff = f"{r['max_abs_diff_vs_full']:.1e}"
        print(f"| {r['model']} | {r['mode']} | {r['data_mib']:.0f} | {r['peak_mib']:.0f} | {r['above_data_mib']:.0f} | "
              f"{r['seconds']:.2f} | {diff} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "env": environment()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
