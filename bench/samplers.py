"""Sampler speed: batches per second and sampled entries per second of every sparsegnn sampler
against PyG's loader at the same settings, on the same graph, in one run.

    .venv/bin/python bench/samplers.py [--graphs power-law,sbm] [--seconds 5] [--json out.json]

PyG's loaders need torch_sparse (or pyg-lib): run with ``PYTHONPATH`` holding a torch_sparse
build (see bench/RESULTS.md); without it only sparsegnn's rows are printed.

Graphs: the ogbn-arxiv-size Chung-Lu power-law graph (169,343 nodes, 1,166,243 undirected
edges, ~2.3M nonzeros) and an SBM of 10^6 nodes (mean degree 10); 64 random features; a random
60% of the nodes in training (GraphSAINT samples the whole graph here, as PyG's sampler does).

Pairs, with the papers' / PyG examples' settings (``sparsegnn.sampling.PAPER_DEFAULTS``):

| sparsegnn | PyG |
| --- | --- |
| ClusterGCN(1500 parts, 20 per batch) | ClusterLoader(ClusterData(1500), batch_size=20), the same METIS parts |
| GraphSAINTNodeSampler(8000) | GraphSAINTNodeSampler(batch_size=8000) |
| GraphSAINTEdgeSampler(4000) | GraphSAINTEdgeSampler(batch_size=4000) |
| GraphSAINTRandomWalkSampler(6000, length 2) | GraphSAINTRandomWalkSampler(batch_size=6000, walk_length=2) |
| ShaDowKHop(depth 2, 5 neighbours, 64 targets) | ShaDowKHopSampler(depth=2, num_neighbors=5, batch_size=64) |
| NeighborSampling([25, 10], 512 seeds) | NeighborLoader(num_neighbors=[25, 10], batch_size=512) |

One batch each as warm-up (numba compiles on the first call), then batches for ``--seconds`` per
sampler (whole epochs' worth of batches where fewer). Set-up (partitioning, GraphSAINT's
pre-sampling / PyG's ``sample_coverage``) is not timed; both sides set up outside the timer.
sparsegnn's batches are ready for the model (normalised graph, feature rows, labels, loss
weights); PyG's hold ``x``, ``edge_index``, ``y`` and the masks (and ``node_norm`` /
``edge_norm`` where the sampler computes them). Entries: sparsegnn's ``graph.nnz`` (self loops
included where the method adds them), PyG's ``edge_index.size(1)``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sparsegnn import Graph  # noqa: E402
from sparsegnn.data import GraphData, load_dataset, sbm  # noqa: E402
from sparsegnn.data.specs import random_split  # noqa: E402
from sparsegnn.profile.machine import environment  # noqa: E402
from sparsegnn.sampling import PAPER_DEFAULTS, make_method  # noqa: E402

METHODS = ("cluster", "saint-node", "saint-edge", "saint-rw", "shadow", "neighbor")


def graphs(names: list[str]):
    for name in names:
        if name == "power-law":
            directed = load_dataset("power_law:169343,1166243")
            graph = Graph.from_scipy(directed.graph.symmetric_pattern())
            data = GraphData(torch.stack([graph.col.long(), graph.row_index()]), graph.num_nodes, x=directed.x,
                             y=directed.y)
        elif name == "sbm":
            data = sbm(10**6, 8, 10.0, num_features=64, seed=0)
        else:
            raise SystemExit(f"--graphs: unknown graph {name!r} (power-law, sbm)")
        data.train_mask, data.val_mask, data.test_mask = random_split(data.num_nodes, 0)
        yield name, data


def ours(name: str, data):
    options = dict(PAPER_DEFAULTS[name])
    if name.startswith("saint"):
        options.update(train_graph_only=False, sample_coverage=1)
    method = make_method(name, data.x, data.graph, data.y, data.train_mask, seed=0, **options)
    epoch = [0]

    def batches():
        while True:
            yield from method.batches(epoch[0])
            epoch[0] += 1

    return batches(), lambda batch: batch.graph.nnz


def pyg(name: str, data, parts):
    import torch_geometric.loader as loaders
    from torch_geometric.data import Data

    pyg_data = Data(x=data.x, edge_index=data.graph_edge_index, y=data.y, train_mask=data.train_mask)
    d = PAPER_DEFAULTS[name]
    if name == "cluster":

        class SameParts(loaders.ClusterData):
            def _metis(self, edge_index, num_nodes):
                return parts

        loader = loaders.ClusterLoader(SameParts(pyg_data, d["num_parts"], log=False), batch_size=d["batch_size"],
                                       shuffle=True)
    elif name == "saint-node":
        loader = loaders.GraphSAINTNodeSampler(pyg_data, batch_size=d["batch_size"], num_steps=10**6, sample_coverage=0)
    elif name == "saint-edge":
        loader = loaders.GraphSAINTEdgeSampler(pyg_data, batch_size=d["batch_size"], num_steps=10**6, sample_coverage=0)
    elif name == "saint-rw":
        loader = loaders.GraphSAINTRandomWalkSampler(pyg_data, batch_size=d["batch_size"], walk_length=d["walk_length"],
                                                     num_steps=10**6, sample_coverage=0)
    elif name == "shadow":
        loader = loaders.ShaDowKHopSampler(pyg_data, depth=d["depth"], num_neighbors=d["num_neighbors"],
                                           node_idx=data.train_mask, batch_size=d["batch_size"], shuffle=True)
    else:
        loader = loaders.NeighborLoader(pyg_data, num_neighbors=d["num_neighbors"], batch_size=d["batch_size"],
                                        input_nodes=data.train_mask, shuffle=True)

    def batches():
        while True:
            yield from loader

    return batches(), lambda batch: int(batch.edge_index.size(1))


def timed(stream, entries, seconds: float) -> dict:
    """Batches per second and entries per second over ``seconds`` (after one warm-up batch)."""
    entries(next(stream))
    count, total, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        total += entries(next(stream))
        count += 1
    elapsed = time.perf_counter() - start
    return {"batches_per_s": count / elapsed, "entries_per_s": total / elapsed, "batches": count}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--graphs", default="power-law,sbm")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        import torch_sparse  # noqa: F401

        have_pyg = True
    except ImportError:
        have_pyg = False
        print("torch_sparse not importable: PyG's loaders are skipped", file=sys.stderr)
    rows = []
    for graph_name, data in graphs(args.graphs.split(",")):
        row, col = data.graph.row_index(), data.graph.col.long()
        data.graph_edge_index = torch.stack([col, row])  # PyG: source -> target (row = target)
        for name in args.methods.split(","):
            start = time.perf_counter()
            stream, entries = ours(name, data)
            mine = timed(stream, entries, args.seconds)
            mine["setup_s"] = time.perf_counter() - start - args.seconds
            theirs = None
            if have_pyg:
                parts = None
                if name == "cluster":
                    from sparsegnn.sampling import cached_partition

                    parts = cached_partition(data.graph, PAPER_DEFAULTS["cluster"]["num_parts"], None).part
                start = time.perf_counter()
                try:
                    stream, entries = pyg(name, data, parts)
                    theirs = timed(stream, entries, args.seconds)
                    theirs["setup_s"] = time.perf_counter() - start - args.seconds
                except (RuntimeError, MemoryError) as error:  # PyG's edge sampler: batch_size x E floats
                    theirs = {"failed": str(error).splitlines()[0][:200]}
            rows.append({"graph": graph_name, "method": name, "sparsegnn": mine, "pyg": theirs})
            ran = theirs is not None and "failed" not in theirs
            ratio = f"{mine['batches_per_s'] / theirs['batches_per_s']:.2f}x" if ran else "-"
            peer = "-" if theirs is None else theirs.get("failed") or (
                f"{theirs['batches_per_s']:8.1f} batch/s {theirs['entries_per_s'] / 1e6:7.2f} M entries/s")
            print(f"{graph_name:9s} {name:10s} sparsegnn {mine['batches_per_s']:8.1f} batch/s "
                  f"{mine['entries_per_s'] / 1e6:7.2f} M entries/s | PyG {peer} | {ratio}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "env": environment(), "threads": args.threads}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
