"""Full-batch GCN training epoch (forward + backward + step) on an arxiv-size synthetic graph:
sparsegnn's GCN vs PyG's GCNConv, and PyG patched by ``sparsegnn.pyg.patch()`` vs unpatched.

    .venv/bin/python bench/layers.py [--nodes 169343] [--edges 1166243] [--features 128]
                                     [--hidden 256] [--classes 40] [--epochs 3] [--json out.json]
                                     [--device cpu|cuda]

The graph is ``sparsegnn.data.power_law(nodes, edges)`` made undirected (both directions,
about 2.3M nonzeros at arxiv size), features are random. Every model is a 2-layer GCN
(in -> hidden -> classes, ReLU, dropout 0.5) with ``cached=True`` (transductive: the
normalisation is computed once, as in every full-batch arxiv script); one warm-up epoch, then
the median of ``--epochs`` timed epochs. The variants run in the same process, round-robin
(one epoch of each per round), so the ratios are comparable even on a busy machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sparsegnn.data import power_law
from sparsegnn.nn import GCN
from sparsegnn.train import Batch, FullBatch, Trainer


class PygGCN(torch.nn.Module):
    """The same 2-layer GCN on torch_geometric's GCNConv."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.convs = torch.nn.ModuleList(
            [GCNConv(in_channels, hidden, cached=True), GCNConv(hidden, out_channels, cached=True)]
        )

    def forward(self, x, edge_index):
        x = F.dropout(x, 0.5, self.training)
        x = F.relu(self.convs[0](x, edge_index))
        x = F.dropout(x, 0.5, self.training)
        return self.convs[1](x, edge_index)


def arxiv_like(nodes: int, edges: int, features: int, classes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x, y, edge_index)``: ``power_law(nodes, edges, seed=0)`` made undirected without
    duplicates (about 2.3M nonzeros at arxiv size), float32 ``[nodes, features]`` standard-normal
    features and int64 labels in ``[0, classes)``."""
    data = power_law(nodes, edges, seed=0)
    ei = data.edge_index
    ei = torch.cat([ei, ei.flip(0)], 1)
    keys = torch.unique(ei[1] * nodes + ei[0])
    ei = torch.stack([keys % nodes, keys // nodes])  # undirected, no duplicates
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(nodes, features, generator=gen)
    y = torch.randint(0, classes, (nodes,), generator=gen)
    return x, y, ei


def one_epoch(trainer: Trainer, batch: Batch, patched: bool) -> float:
    """Seconds of one training epoch (one full-batch ``Trainer.step``), under
    ``sparsegnn.pyg.patched()`` when ``patched``."""
    context = contextlib.nullcontext()
    if patched:
        import sparsegnn.pyg as sp

        context = sp.patched()
    with context:
        _sync(batch.x.device)
        start = time.perf_counter()
        trainer.step(batch)
        _sync(batch.x.device)
        return time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=169343)
    parser.add_argument("--edges", type=int, default=1166243)
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--classes", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", default=None)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args(argv)

    x, y, ei = arxiv_like(args.nodes, args.edges, args.features, args.classes)
    x, y, ei = x.to(args.device), y.to(args.device), ei.to(args.device)
    print(
        f"graph: {args.nodes} nodes, {ei.shape[1]} directed edges (undirected), F={args.features}, "
        f"hidden={args.hidden}, device={args.device}, threads={torch.get_num_threads()}",
        flush=True,
    )

    results: dict[str, object] = {
        "nodes": args.nodes,
        "nnz": int(ei.shape[1]),
        "features": args.features,
        "hidden": args.hidden,
        "classes": args.classes,
        "device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
    }
    torch.manual_seed(0)
    ours = GCN(args.features, args.hidden, args.classes, num_layers=2, dropout=0.5, cached=True).to(args.device)
    variants = {"sparsegnn GCN": (ours, False)}
    try:
        import sparsegnn.pyg  # noqa: F401  (needs torch_geometric)

        torch.manual_seed(0)
        pyg_model = PygGCN(args.features, args.hidden, args.classes).to(args.device)
        variants["PyG GCNConv"] = (pyg_model, False)
        variants["PyG GCNConv, patched"] = (pyg_model, True)
    except ImportError:
        print("torch_geometric not installed: only sparsegnn is timed")
    method = FullBatch(x, ei, y, torch.ones_like(y, dtype=torch.bool))
    batch = next(iter(method.batches(0)))
    trainers = {
        name: Trainer(model, method, y, {}, lr=0.01, select="last")
        for name, (model, _) in variants.items()
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(args.epochs + 1):  # round-robin, so load changes hit every variant alike
        for name, (model, patched) in variants.items():
            if round_ == 0 and patched:  # recompute the cached normalisation under the patch
                model.convs[0]._cached_edge_index = model.convs[1]._cached_edge_index = None
            seconds = one_epoch(trainers[name], batch, patched)
            if round_ > 0:  # round 0 warms caches (normalisation, CSR, transposes)
                times[name].append(seconds)
    for name in variants:
        results[name] = times[name]
        print(
            f"{name:24s} median epoch {statistics.median(times[name]) * 1000:8.0f} ms  "
            f"(runs: {', '.join(f'{t * 1000:.0f}' for t in times[name])})",
            flush=True,
        )
    if "PyG GCNConv" in results:
        med = {k: statistics.median(results[k]) for k in variants}
        print(
            f"speed-up sparsegnn GCN vs PyG GCNConv:  {med['PyG GCNConv'] / med['sparsegnn GCN']:.2f}x"
        )
        print(
            f"speed-up patched vs unpatched PyG:      {med['PyG GCNConv'] / med['PyG GCNConv, patched']:.2f}x"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
