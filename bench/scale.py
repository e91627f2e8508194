"""Sampled training against full batch: public-split accuracy on Planetoid (10 seeds, mean +-
std), every method with the same model and recipe (GCN; SAGE for the neighbour sampler).

    .venv/bin/python bench/scale.py [--datasets cora,citeseer] [--seeds 10] [--only KEYS] [--json out.json]

Each method trains through ``sparsegnn.train.fit_recipe`` (the one loop) with its recipe's
settings (GCN: 2 x 16, dropout 0.5, lr 0.01, wd 5e-4 on layer 1, 200 epochs, best-validation
test accuracy) and the sampler settings in ``SETTINGS`` (sized for Planetoid's 140 / 120
training nodes: the papers' defaults are for graphs of 10^5 nodes and more); GraphSAINT runs as
the paper (training graph only) and on the whole graph. Evaluation is full
graph for every method but ShaDow (each node's own subgraph). Prints a Markdown table and the
mean epoch time split into sampling and compute.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sparsegnn.data import load_dataset
from sparsegnn.sampling import make_method
from sparsegnn.train import fit_recipe, model_inputs, recipe

# key: (label, model, method, sampler options)
SETTINGS = {
    "full-gcn": ("full batch", "gcn", "full", {}),
    "cluster": ("cluster (40 parts, 10 per batch)", "gcn", "cluster", {"num_parts": 40, "batch_size": 10}),
    "saint-node": ("saint-node (N_train draws)", "gcn", "saint-node", {"batch_size": "train"}),
    "saint-edge": ("saint-edge (N_train / 2 draws)", "gcn", "saint-edge", {"batch_size": "train/2"}),
    "saint-rw": ("saint-rw (N_train / 4 roots, length 2)", "gcn", "saint-rw", {"batch_size": "train/4", "walk_length": 2}),
    "saint-node-whole": ("saint-node, whole graph (N / 2 draws)", "gcn", "saint-node",
                         {"batch_size": "all/2", "train_graph_only": False}),
    "saint-edge-whole": ("saint-edge, whole graph (N / 4 draws)", "gcn", "saint-edge",
                         {"batch_size": "all/4", "train_graph_only": False}),
    "saint-rw-whole": ("saint-rw, whole graph (N / 6 roots, length 2)", "gcn", "saint-rw",
                       {"batch_size": "all/6", "walk_length": 2, "train_graph_only": False}),
    "shadow": ("shadow (depth 2, 5 neighbours, 64 targets)", "gcn", "shadow", {}),
    "full-sage": ("full batch", "sage", "full", {}),
    "neighbor": ("neighbor ([25, 10], 512 seeds)", "sage", "neighbor", {}),
}


def _options(options: dict, num_train: int, num_nodes: int) -> dict:
    sizes = {"train": num_train, "train/2": num_train // 2, "train/4": num_train // 4, "all/2": num_nodes // 2,
             "all/4": num_nodes // 4, "all/6": num_nodes // 6}
    return {k: sizes.get(v, v) if isinstance(v, str) else v for k, v in options.items()}


def run(dataset: str, seeds: int, keys: list[str]) -> list[dict]:
    data = load_dataset(dataset)
    num_train = int(data.train_mask.sum())
    rows = []
    for key in keys:
        label, model, name, options = SETTINGS[key]
        r = recipe(model)
        x = model_inputs(model, data.x, data.graph, r)
        opts = _options(options, num_train, data.num_nodes)
        factory = None if name == "full" else (
            lambda x, seed, name=name, opts=opts: make_method(name, x, data.graph, data.y, data.train_mask, seed=seed, **opts))
        accs, epoch, sample, compute = [], [], [], []
        start = time.perf_counter()
        for seed in range(seeds):
            result = fit_recipe(model, data, r, seed, x, keep_best_state=False, method=factory)
            accs.append(result.acc["test"])
            epoch += [rec.epoch_time for rec in result.records]
            sample += [rec.sample_time for rec in result.records]
            compute += [rec.compute_time for rec in result.records]
        row = {"dataset": dataset, "model": model, "method": name, "label": label, "options": opts,
               "test_mean": statistics.mean(accs), "test_std": statistics.stdev(accs) if seeds > 1 else 0.0,
               "per_seed": accs, "epoch_ms": 1000 * statistics.mean(epoch), "sample_ms": 1000 * statistics.mean(sample),
               "compute_ms": 1000 * statistics.mean(compute), "seconds": time.perf_counter() - start}
        rows.append(row)
        print(f"{dataset} {model} {label}: {row['test_mean']:.2f} +- {row['test_std']:.2f} "
              f"({row['seconds']:.0f} s)", file=sys.stderr, flush=True)
    return rows


def table(rows: list[dict]) -> str:
    full = {(r["dataset"], r["model"]): r["test_mean"] for r in rows if r["method"] == "full"}
    lines = ["| dataset | model | method | test % | vs full batch | epoch ms (sample + compute) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        delta = r["test_mean"] - full[(r["dataset"], r["model"])]
        lines.append(f"| {r['dataset']} | {r['model']} | {r['label']} | {r['test_mean']:.2f} +- {r['test_std']:.2f} | "
                     f"{delta:+.2f} | {r['epoch_ms']:.1f} ({r['sample_ms']:.1f} + {r['compute_ms']:.1f}) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="cora,citeseer")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", help=f"comma-separated keys of {list(SETTINGS)} (the full-batch row of each "
                        "model is added)")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    keys = list(SETTINGS) if args.only is None else args.only.split(",")
    unknown = set(keys) - set(SETTINGS)
    if unknown:
        parser.error(f"--only: unknown keys {sorted(unknown)}")
    models = {SETTINGS[k][1] for k in keys}
    keys = [k for k in SETTINGS if k in keys or (SETTINGS[k][2] == "full" and SETTINGS[k][1] in models)]
    rows = [row for name in args.datasets.split(",") for row in run(name, args.seeds, keys)]
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
