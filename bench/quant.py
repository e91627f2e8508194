"""Degree-Quant QAT accuracy on Planetoid (FP32, plain INT8 / INT4 QAT, INT8 / INT4 Degree-Quant)
and the converted integer models' inference on an arxiv-size power-law graph.

    .venv/bin/python bench/quant.py [--part accuracy|inference|all] [--datasets cora,citeseer]
                                    [--models gcn,egc] [--seeds 10] [--threads 1] [--json PATH]
                                    [--nodes 169343] [--edges 1166243] [--repeat 5]

Accuracy: every model trains by its recipe (sparsegnn.train.recipes) through ``fit_recipe``,
the QAT variants prepared by ``quantize_`` (the prepare hook); the test accuracy of the epoch
with the best validation accuracy. Plain QAT: momentum min / max observers, no masks.
Degree-Quant: percentile observers (0.001 INT8, 0.01 INT4) and protective masks (p in
[0, 0.1] INT8, [0.1, 0.2] INT4). Per model, seeds are the outer loop (every dataset and variant of a seed
runs before the next seed), and the JSON is rewritten after every run, so a stopped run keeps complete seeds.

Inference (2 threads): GCN and EGC-S (H=8, B=2), 128 -> 128 -> 32, FP32 against the converted
INT8 model (and GCN against PyG's GCNConv, when installed), eval forwards on bench/layers.py's
arxiv-size graph, round-robin, median of ``--repeat`` (requantisation fused by
``torch.compile``, ``ConvertConfig(compiled=True)``, unless ``--eager``); the converted model's argmax agreement
and SQNR against the fake-quant model it came from.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from layers import PygGCN, arxiv_like
from sparsegnn import Graph
from sparsegnn.data import load_dataset
from sparsegnn.nn import EGC, GCN
from sparsegnn.profile.machine import environment
from sparsegnn.quant import ConvertConfig, QATConfig, quantize_
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


def sqnr_db(reference: torch.Tensor, other: torch.Tensor) -> float:
    """Signal-to-quantisation-noise ratio of ``other`` against ``reference``, in dB (inf: equal)."""
    noise = float((reference - other).pow(2).sum())
    return float("inf") if noise == 0 else 10 * float(torch.log10(reference.pow(2).sum() / noise))


def converted_pair(fp32: torch.nn.Module, x: torch.Tensor, graph: Graph, calibration: int, compiled: bool) -> tuple:
    """``(fake-quant INT8 model, its integer model)`` of a copy of ``fp32``, the observers
    calibrated by ``calibration`` training-mode forwards (no gradient step: timing and agreement
    need the quantisers' ranges, not trained weights)."""
    qat = quantize_(copy.deepcopy(fp32), QATConfig(8, degree_quant=False))
    qat.train()
    with torch.no_grad():
        for _ in range(calibration):
            qat(x, graph)
    qat.eval()
    return qat, quantize_(qat, ConvertConfig(compiled=compiled))


def timed(fn) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        fn()
    return time.perf_counter() - start


def inference(args: argparse.Namespace, results: dict) -> None:
    """Converted INT8 GCN and EGC (128 -> 128 -> 32) against their FP32 models (and GCN against
    PyG's) on the arxiv-size power-law graph: median forward of ``--repeat`` round-robin runs."""
    torch.set_num_threads(2)
    x, _, edge_index = arxiv_like(args.nodes, args.edges, 128, 32)
    graph = Graph.from_edge_index(edge_index, num_nodes=args.nodes)
    out = results.setdefault("inference", {"nodes": args.nodes, "nnz": graph.nnz, "threads": 2, "cases": {}})
    for name in ("gcn", "egc"):
        torch.manual_seed(0)
        if name == "gcn":
            fp32 = GCN(128, 128, 32, num_layers=2, dropout=0.0, cached=True)
        else:
            fp32 = EGC(128, 128, 32, num_layers=2, dropout=0.0, aggregators=["symnorm"], num_heads=8, num_bases=2,
                       cached=True)
        qat, int8 = converted_pair(fp32.eval(), x, graph, args.calibration, not args.eager)
        with torch.no_grad():
            fake, real = qat(x, graph), int8(x, graph)
        variants = {f"FP32 {name}": lambda m=fp32: m(x, graph), f"INT8 {name} (converted)": lambda: int8(x, graph)}
        if name == "gcn":
            try:
                import torch_geometric  # noqa: F401

                torch.manual_seed(0)
                pyg = PygGCN(128, 128, 32).eval()
                variants["FP32 PyG GCNConv"] = lambda: pyg(x, edge_index)
            except ImportError:
                print("torch_geometric not installed: no PyG case")
        times: dict[str, list[float]] = {v: [] for v in variants}
        for round_ in range(args.repeat + 1):  # round 0 warms the caches (normalisation, int8 edge weights)
            for v, fn in variants.items():
                seconds = timed(fn)
                if round_:
                    times[v].append(seconds)
        median = {v: statistics.median(t) for v, t in times.items()}
        case = {
            "median_s": median,
            "runs_s": times,
            "speedup_int8_vs_fp32": median[f"FP32 {name}"] / median[f"INT8 {name} (converted)"],
            "agreement_with_fake_quant": float((fake.argmax(1) == real.argmax(1)).float().mean()),
            "sqnr_db_vs_fake_quant": sqnr_db(fake, real),
        }
        if "FP32 PyG GCNConv" in median:
            case["speedup_int8_vs_pyg"] = median["FP32 PyG GCNConv"] / median[f"INT8 {name} (converted)"]
        out["cases"][name] = case
        for v, t in median.items():
            print(f"{v:26s} median {1000 * t:8.1f} ms  (runs: {', '.join(f'{1000 * s:.0f}' for s in times[v])})")
        print(f"{name}: INT8 {case['speedup_int8_vs_fp32']:.2f}x FP32"
              + (f", {case['speedup_int8_vs_pyg']:.2f}x PyG" if "speedup_int8_vs_pyg" in case else "")
              + f"; argmax agreement with fake quant {100 * case['agreement_with_fake_quant']:.2f}%, "
              f"SQNR {case['sqnr_db_vs_fake_quant']:.1f} dB", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", default="all", choices=["accuracy", "inference", "all"])
    parser.add_argument("--datasets", type=lambda s: s.split(","), default=["cora", "citeseer"])
    parser.add_argument("--models", type=lambda s: s.split(","), default=["gcn", "egc"])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the accuracy part")
    parser.add_argument("--nodes", type=int, default=169343, help="inference graph (bench/layers.py's)")
    parser.add_argument("--edges", type=int, default=1166243)
    parser.add_argument("--repeat", type=int, default=5, help="timed inference rounds")
    parser.add_argument("--eager", action="store_true", help="requantise eagerly (no torch.compile)")
    parser.add_argument("--calibration", type=int, default=3, help="observer calibration forwards")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    results: dict = {"env": environment(), "argv": sys.argv[1:]}

    def write() -> None:
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))

    if args.part in ("accuracy", "all"):
        torch.set_num_threads(args.threads)
        accuracy(args, results, write)
    if args.part in ("inference", "all"):
        inference(args, results)
    write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
