"""Scale on one machine: full-batch training against the sampled methods on a block model of
2 x 10^6 nodes and 2 x 10^7 undirected edges (4 x 10^7 nonzeros), 128 features: peak RSS while
training, epoch time, test accuracy.

    .venv/bin/python bench/giant.py [--nodes 2000000] [--edges 20000000] [--epochs 5] [--full-epochs 30] [--json out.json]

Every configuration runs in a fresh subprocess (``--child METHOD``) under an 18 GB address-space
limit (one that does not fit says so rather than taking the machine down). The child builds the
graph (``sparsegnn.data.sbm``, 10 classes, homophily 0.8, class separation 1.0, seed 0; a random
5 / 5 / 90 split, so the neighbour sampler has 10^5 seeds), partitions it where the method does,
keeps of the data what training reads (``x``, the CSR graph with int32 columns, ``y``, the
masks: not the COO ``edge_index`` it was built from), then resets the kernel's peak-RSS counter (``/proc/self/clear_refs``) and trains: "peak RSS" is
the largest resident set while training, the data included (every method holds ``x`` and the
graph), set-up and the final full-graph evaluation excluded (reported apart: "eval peak", and
"data", the resident set when training starts). Model: GCN 2 x 128, dropout 0.5, Adam lr 0.01, no weight decay, the same
for every method; the sampled methods train ``--epochs`` epochs (hundreds of steps each), full
batch ``--full-epochs`` (one step each); the test accuracy is the full-graph evaluation after the
last epoch (the samplers' ``evaluation``: ``--evaluation layerwise`` bounds its peak); epoch time is
the mean training epoch (sampling + steps) after the first.

Sampler settings: cluster 2000 METIS parts (about 1000 nodes each), 20 per batch; saint-rw 6000
roots, walk length 2, whole graph, coverage 5; neighbor [25, 10], 512 seeds, hop-trimmed blocks.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sparsegnn.data import sbm  # noqa: E402
from sparsegnn.data.specs import random_split  # noqa: E402
from sparsegnn.profile.machine import environment  # noqa: E402
from sparsegnn.sampling import make_method  # noqa: E402
from sparsegnn.sampling.layerwise import EVALUATIONS  # noqa: E402
from sparsegnn.train import FullBatch, Trainer, build_model, recipe, seed_everything  # noqa: E402

LIMIT_BYTES = 18 * 10**9
METHODS = ("full", "cluster", "saint-rw", "neighbor")
OPTIONS = {
    "cluster": {"num_parts": 2000, "batch_size": 20, "cache_dir": str(Path(__file__).parent / "out" / "partitions")},
    "saint-rw": {"batch_size": 6000, "walk_length": 2, "train_graph_only": False, "sample_coverage": 5},
    "neighbor": {"num_neighbors": [25, 10], "batch_size": 512, "norm": "gcn", "trim": True},
}


def timed_training(trainer: Trainer, epochs: int, trained=None) -> dict:
    """Train ``epochs`` epochs; the mean epoch time after the first, and the last epoch's
    evaluation (``acc`` per split). ``trained()`` is called between training and evaluation."""
    times = []
    for epoch in range(epochs):
        start = time.perf_counter()
        trainer.train_epoch(epoch)
        times.append(time.perf_counter() - start)
    if trained is not None:
        trained()
    acc, _ = trainer.evaluate()
    return {"epoch_s": statistics.mean(times[1:] or times), "acc": acc}


def _vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def child(method: str, nodes: int, edges: int, epochs: int, evaluation: str = "auto") -> dict:
    start = time.perf_counter()
    data = sbm(nodes, 10, 2 * edges / nodes, num_features=128, class_sep=1.0, seed=0)
    train_mask, _, test_mask = random_split(nodes, 0, (0.05, 0.05))
    x, graph, y, num_classes = data.x, data.graph.to_index_dtype(torch.int32), data.y, data.num_classes
    del data  # training needs the CSR (int32 columns), not the COO edge_index beside it (0.6 GB)
    seed_everything(0)
    r = recipe("gcn", hidden=128, weight_decay=0.0, epochs=epochs)
    model = build_model("gcn", x.size(1), num_classes, r, cached=method == "full")
    sampler = (FullBatch(x, graph, y, train_mask) if method == "full" else
               make_method(method, x, graph, y, train_mask, seed=0, evaluation=evaluation, **OPTIONS[method]))
    trainer = Trainer(model, sampler, y, {"test": test_mask}, lr=r.lr, epochs=epochs, select="last",
                      keep_best_state=False)
    setup_s = time.perf_counter() - start
    setup_peak = _vm_kib("VmHWM")
    start_rss = _vm_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # the peak-RSS counter restarts at the current RSS
    peaks = {}

    def trained() -> None:
        peaks["train"] = _vm_kib("VmHWM")
        Path("/proc/self/clear_refs").write_text("5")

    result = timed_training(trainer, epochs, trained)
    return {"method": method, "evaluation": "full" if method == "full" else evaluation, "nodes": nodes,
            "nonzeros": graph.nnz, "epochs": epochs, "setup_s": setup_s,
            "setup_peak_mib": setup_peak / 1024, "data_rss_mib": start_rss / 1024, "train_peak_mib": peaks["train"] / 1024,
            "eval_peak_mib": _vm_kib("VmHWM") / 1024,
            "epoch_s": result["epoch_s"], "test_acc": result["acc"]["test"], "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2_000_000)
    parser.add_argument("--edges", type=int, default=20_000_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--full-epochs", type=int, default=30)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--evaluation", choices=EVALUATIONS, default="auto",
                        help="the sampled methods' full-graph evaluation (auto: layer by layer when a full forward would not fit)")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(child(args.child, args.nodes, args.edges, args.epochs, args.evaluation)))
        return 0
    rows = []
    for method in args.methods.split(","):
        epochs = args.full_epochs if method == "full" else args.epochs
        command = [sys.executable, __file__, "--child", method, "--nodes", str(args.nodes), "--edges", str(args.edges),
                   "--epochs", str(epochs), "--threads", str(args.threads), "--evaluation", args.evaluation]
        done = subprocess.run(command, capture_output=True, text=True,
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES)))
        if done.returncode == 0:
            row = json.loads(done.stdout.strip().splitlines()[-1])
        else:
            tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            row = {"method": method, "failed": f"exit {done.returncode}: {tail[:200]}"}
        rows.append(row)
        print(json.dumps(row), flush=True)
    full = next((r for r in rows if r["method"] == "full" and "failed" not in r), None)
    print("\n| method | epochs | data RSS (MiB) | peak RSS training (MiB) | vs full batch | eval peak (MiB) | epoch s | "
          "test % |\n| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        if "failed" in r:
            print(f"| {r['method']} | | | {r['failed']} | | | | |")
            continue
        share = f"{100 * r['train_peak_mib'] / full['train_peak_mib']:.0f}%" if full else "-"
        print(f"| {r['method']} | {r['epochs']} | {r['data_rss_mib']:.0f} | {r['train_peak_mib']:.0f} | {share} | "
              f"{r['eval_peak_mib']:.0f} | {r['epoch_s']:.2f} | {r['test_acc']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "env": environment(), "epochs": args.epochs}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
