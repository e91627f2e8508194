"""End to end: a training epoch of sparsegnn's ClusterGCN and GraphSAINT random-walk methods
(through the one training loop, as ``sparsegnn train --method cluster|saint-rw`` runs them)
against PyG's example loop (its loader, its ``GCNConv``), same graph, model and settings, in
one run.

    PYTHONPATH=/path/to/torch_sparse .venv/bin/python bench/end_to_end.py [--nodes 200000] [--epochs 10]

Graph: an SBM (``sparsegnn.data.sbm``: 10 classes, mean degree 10, 64 class-correlated
features, class separation 1.0) with a random 60 / 20 / 20 split. Model: a 2-layer GCN, hidden 128, dropout 0.5,
Adam lr 0.01, no weight decay, on both sides. Settings (PyG's Reddit / Flickr examples):

- cluster: 1500 METIS parts (the same parts on both sides), 20 per batch; each batch graph
  normalised with its own degrees (PyG: ``GCNConv(normalize=True)`` on the batch).
- saint-rw: 6000 roots, walk length 2, 8 steps per epoch, whole graph sampled (as PyG's
  sampler), coverage 100 for the normalisation; PyG's loop as its example: loss =
  ``node_norm``-weighted sum, ``edge_norm`` as the edge weights of ``GCNConv``; sparsegnn's as
  the paper (see ``sparsegnn.sampling.saint``).

Per method and side: mean epoch time (training: sampling + steps; set-up and evaluation not
timed; first epoch dropped as warm-up), and the test accuracy of full-graph evaluation after
the last epoch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sparsegnn.data import sbm  # noqa: E402
from sparsegnn.data.specs import random_split  # noqa: E402
from sparsegnn.profile.machine import environment  # noqa: E402
from sparsegnn.sampling import cached_partition, make_method  # noqa: E402
from sparsegnn.train import Trainer, build_model, recipe, seed_everything  # noqa: E402

from giant import timed_training  # noqa: E402  (bench/ is on sys.path: the script's folder)

HIDDEN, NUM_PARTS, PARTS_PER_BATCH, ROOTS, WALK, STEPS = 128, 1500, 20, 6000, 2, 8


def ours(name: str, data, epochs: int) -> dict:
    options = ({"num_parts": NUM_PARTS, "batch_size": PARTS_PER_BATCH} if name == "cluster" else
               {"batch_size": ROOTS, "walk_length": WALK, "num_steps": STEPS, "train_graph_only": False})
    seed_everything(0)
    method = make_method(name, data.x, data.graph, data.y, data.train_mask, seed=0, **options)
    r = recipe("gcn", hidden=HIDDEN, weight_decay=0.0, epochs=epochs)
    model = build_model("gcn", data.num_features, data.num_classes, r, cached=False)
    trainer = Trainer(model, method, data.y, {"test": data.test_mask}, lr=r.lr, epochs=epochs, select="last",
                      keep_best_state=False)
    result = timed_training(trainer, epochs)
    return {"epoch_s": result["epoch_s"], "test_acc": result["acc"]["test"]}


def pyg(name: str, data, epochs: int) -> dict:
    import torch_geometric.loader as loaders
    from torch_geometric.data import Data
    from torch_geometric.nn import GCNConv

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = GCNConv(data.num_features, HIDDEN)
            self.conv2 = GCNConv(HIDDEN, data.num_classes)

        def forward(self, x, edge_index, edge_weight=None):
            x = F.dropout(x, 0.5, self.training)
            x = F.relu(self.conv1(x, edge_index, edge_weight))
            x = F.dropout(x, 0.5, self.training)
            return self.conv2(x, edge_index, edge_weight)

    row, col = data.graph.row_index(), data.graph.col.long()
    full = Data(x=data.x, edge_index=torch.stack([col, row]), y=data.y, train_mask=data.train_mask)
    if name == "cluster":
        parts = cached_partition(data.graph, NUM_PARTS, None).part

        class SameParts(loaders.ClusterData):
            def _metis(self, edge_index, num_nodes):
                return parts

        loader = loaders.ClusterLoader(SameParts(full, NUM_PARTS, log=False), batch_size=PARTS_PER_BATCH, shuffle=True)
    else:
        loader = loaders.GraphSAINTRandomWalkSampler(full, batch_size=ROOTS, walk_length=WALK, num_steps=STEPS,
                                                     sample_coverage=100, log=False)
    torch.manual_seed(0)
    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for batch in loader:
            optimizer.zero_grad()
            if name == "cluster":
                out = model(batch.x, batch.edge_index)
                loss = F.cross_entropy(out[batch.train_mask], batch.y[batch.train_mask])
            else:
                out = model(batch.x, batch.edge_index, batch.edge_norm)
                loss = (F.cross_entropy(out, batch.y, reduction="none") * batch.node_norm)[batch.train_mask].sum()
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        pred = model(full.x, full.edge_index).argmax(-1)
    test = data.test_mask
    return {"epoch_s": statistics.mean(times[1:]), "test_acc": 100.0 * float((pred[test] == data.y[test]).float().mean())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=200_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--methods", default="cluster,saint-rw")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = sbm(args.nodes, 10, 10.0, num_features=64, class_sep=1.0, seed=0)
    data.train_mask, data.val_mask, data.test_mask = random_split(data.num_nodes, 0)
    print(f"SBM {data.num_nodes} nodes, {data.graph.nnz} nonzeros; {args.epochs} epochs; {args.threads} threads")
    rows = []
    for name in args.methods.split(","):
        mine, theirs = ours(name, data, args.epochs), pyg(name, data, args.epochs)
        rows.append({"method": name, "sparsegnn": mine, "pyg": theirs})
        print(f"{name:9s} sparsegnn {1000 * mine['epoch_s']:8.1f} ms/epoch, test {mine['test_acc']:5.2f} | PyG "
              f"{1000 * theirs['epoch_s']:8.1f} ms/epoch, test {theirs['test_acc']:5.2f} | "
              f"{theirs['epoch_s'] / mine['epoch_s']:.2f}x", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "env": environment(), "nodes": args.nodes,
                                               "epochs": args.epochs, "threads": args.threads}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
