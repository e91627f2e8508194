"""The samplers' full-graph evaluation: one full-graph forward against layer-by-layer over row
blocks (``sparsegnn.sampling.layerwise``), peak RSS and time, on the 2 x 10^6-node block model.

    .venv/bin/python bench/layerwise_eval.py [--nodes 2000000] [--edges 20000000] [--models 2x128,4x256,sage:2x128,egc:2x128]

Each model and evaluation runs in a fresh subprocess that builds the graph
(``sparsegnn.data.sbm``, 10 classes, 128 features, seed 0), keeps ``x`` and the CSR with int32
columns the samplers' evaluation reads (GCN-normalised for a GCN, the raw graph for SAGE's mean
and for EGC, which normalises it itself), returns the freed heap of the
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
from sparsegnn.nn import EGC, GCN, SAGE  # noqa: E402
from sparsegnn.profile.machine import environment  # noqa: E402
from sparsegnn.sampling.common import full_gcn_graph  # noqa: E402
from sparsegnn.sampling.layerwise import layerwise_forward  # noqa: E402

MODES = ("kept", "full", "layerwise")
MODELS = {"gcn": GCN, "sage": SAGE, "egc": EGC}


def parse_model(spec: str) -> tuple[str, int, int]:
    """``(kind, layers, hidden)`` of ``[KIND:]LAYERSxHIDDEN`` (kind ``gcn`` when left out)."""
    kind, _, shape = spec.rpartition(":")
    kind = kind or "gcn"
    if kind not in MODELS:
        raise SystemExit(f"--models: unknown model {kind!r} (one of {sorted(MODELS)})")
    layers, hidden = (int(v) for v in shape.split("x"))
    return kind, layers, hidden


def _vm_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def child(nodes: int, edges: int, spec: str, mode: str) -> dict:
    kind, layers, hidden = parse_model(spec)
    data = sbm(nodes, 10, 2 * edges / nodes, num_features=128, class_sep=1.0, seed=0)
    graph = data.graph.to_index_dtype(torch.int32)
    x, graph = data.x, full_gcn_graph(graph) if kind == "gcn" else graph
    del data
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # the graph's construction leaves freed heap resident: not data
    torch.manual_seed(0)
    model = MODELS[kind](128, hidden, 10, num_layers=layers).eval()
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
    return {"model": f"{kind} {layers}x{hidden}", "mode": mode, "data_mib": before, "peak_mib": peak,
            "above_data_mib": peak - before, "seconds": seconds, "max_abs_diff_vs_full": difference,
            "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2_000_000)
    parser.add_argument("--edges", type=int, default=20_000_000)
    parser.add_argument("--models", default="2x128,4x256",
                        help="models as [gcn|sage|egc:]LAYERSxHIDDEN, comma-separated (gcn when no kind)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(child(args.nodes, args.edges, args.child[0], args.child[1])))
        return 0
    rows = []
    for model in args.models.split(","):
        parse_model(model)
        for mode in args.modes.split(","):
            command = [sys.executable, __file__, "--child", model, mode, "--nodes", str(args.nodes),
                       "--edges", str(args.edges), "--threads", str(args.threads)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    print("| model | evaluation | data RSS MiB | peak RSS MiB | above data MiB | s | max abs diff vs full |\n"
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
