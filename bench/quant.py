"""Degree-Quant QAT accuracy on Planetoid (FP32, plain INT8 / INT4 QAT, INT8 / INT4 Degree-Quant)
and the converted integer models' inference on an arxiv-size power-law graph.

    .venv/bin/python bench/quant.py [--part accuracy|inference|all] [--datasets cora,citeseer]
                                    [--models gcn,egc] [--seeds 10] [--threads 1] [--json PATH]

Accuracy: every model trains by its recipe (sparsegnn.train.recipes) through ``fit_recipe``,
the QAT variants prepared by ``quantize_`` (the prepare hook); the test accuracy of the epoch
with the best validation accuracy. Plain QAT: momentum min / max observers, no masks.
Degree-Quant: percentile observers (0.001 INT8, 0.01 INT4) and protective masks (p in
[0, 0.1] INT8, [0.1, 0.2] INT4). Per model, seeds are the outer loop (every dataset and variant of a seed
runs before the next seed), and the JSON is rewritten after every run, so a stopped run keeps complete seeds.
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
from sparsegnn.profile.machine import environment
from sparsegnn.quant import QATConfig, quantize_
from sparsegnn.train import fit_recipe, model_inputs, recipe

VARIANTS: dict[str, QATConfig | None] = {
    "FP32": None,
    "INT8 QAT": QATConfig(8, degree_quant=False, percentile=0.0),
    "INT8 DQ": QATConfig(8, degree_quant=True, p_range=(0.0, 0.1), percentile=0.001),
    "INT4 QAT": QATConfig(4, degree_quant=False, percentile=0.0),
    "INT4 DQ": QATConfig(4, degree_quant=True, p_range=(0.1, 0.2), percentile=0.01),
}


def accuracy(args: argparse.Namespace, results: dict, write) -> None:
    """Train every (dataset, model, variant, seed); ``results["accuracy"]`` holds the runs."""
    runs = results.setdefault("accuracy", [])
    datasets = {name: load_dataset(name) for name in args.datasets}
    for model in args.models:
        r = recipe(model)
        inputs = {name: model_inputs(model, data.x, data.graph, r) for name, data in datasets.items()}
        for seed in range(args.seeds):
            for dataset, data in datasets.items():
                for name, config in VARIANTS.items():
                    prepare = None if config is None else (lambda m, c=config: quantize_(m, c))
                    start = time.perf_counter()
                    fit = fit_recipe(model, data, r, seed, inputs[dataset], prepare=prepare, keep_best_state=False)
                    runs.append({"dataset": dataset, "model": model, "variant": name, "seed": seed,
                                 "val_acc": fit.acc["val"], "test_acc": fit.acc["test"],
                                 "best_epoch": fit.best_epoch, "seconds": time.perf_counter() - start})
                    print(f"{dataset} {model} {name:9s} seed {seed}: val {fit.acc['val']:.1f} "
                          f"test {fit.acc['test']:.1f} ({runs[-1]['seconds']:.0f} s)", flush=True)
                    write()
    print(accuracy_table(runs))


def accuracy_table(runs: list[dict]) -> str:
    """Markdown: test accuracy mean +- std per (dataset, model) and variant, over complete seeds."""
    lines = ["| dataset | model | seeds | " + " | ".join(VARIANTS) + " | INT8 DQ - FP32 | INT4 DQ - INT4 QAT |",
             "| --- " * (len(VARIANTS) + 5) + "|"]
    for key in dict.fromkeys((r["dataset"], r["model"]) for r in runs):
        by_variant = {v: {r["seed"]: r["test_acc"] for r in runs if (r["dataset"], r["model"]) == key
                          and r["variant"] == v} for v in VARIANTS}
        seeds = sorted(set.intersection(*(set(s) for s in by_variant.values())))
        if not seeds:
            continue
        mean = {v: statistics.mean(by_variant[v][s] for s in seeds) for v in VARIANTS}
        std = {v: statistics.stdev(by_variant[v][s] for s in seeds) if len(seeds) > 1 else 0.0 for v in VARIANTS}
        cells = " | ".join(f"{mean[v]:.2f} +- {std[v]:.2f}" for v in VARIANTS)
        lines.append(f"| {key[0]} | {key[1]} | {len(seeds)} | {cells} | {mean['INT8 DQ'] - mean['FP32']:+.2f} | "
                     f"{mean['INT4 DQ'] - mean['INT4 QAT']:+.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="all", choices=["accuracy", "inference", "all"])
    parser.add_argument("--datasets", type=lambda s: s.split(","), default=["cora", "citeseer"])
    parser.add_argument("--models", type=lambda s: s.split(","), default=["gcn", "egc"])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the accuracy part")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    results: dict = {"env": environment(), "argv": sys.argv[1:]}

    def write() -> None:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))

    if args.part in ("accuracy", "all"):
        torch.set_num_threads(args.threads)
        accuracy(args, results, write)
    write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
