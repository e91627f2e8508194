"""GNNAutoScale (sparsegnn.gas) against full batch: Planetoid accuracy, and memory at scale.

    .venv/bin/python bench/gas.py accuracy [--datasets cora,citeseer] [--seeds 10] [--only KEYS] [--json out.json]
    .venv/bin/python bench/gas.py scale [--nodes 2000000] [--degree 10] [--epochs 3] [--json out.json]
    .venv/bin/python bench/gas.py depth [--nodes 2000000] [--layers 2,4,8] [--json out.json]

``accuracy``: public split, 10 seeds (mean +- std of the best-validation epoch's test accuracy),
each run through ``sparsegnn.train.fit_recipe`` (the one loop) with the model's recipe (GCN
2 x 16, dropout 0.5, lr 0.01, wd 5e-4 on the first layer, 200 epochs; EGC-S 128, H=8, B=2,
dropout 0.8, 400 epochs). GAS runs with PyGAS's Planetoid settings (``sparsegnn.gas.PYGAS``:
Cora 40 METIS parts, 10 per batch, gradient clipping 1.0; CiteSeer 24 / 8, no clipping) and
its training settings for every model (``PYGAS_RECIPE``: weight decay on the first layer only,
the first epoch of the best validation accuracy); full batch with the recipe's (no clipping,
the later of tied epochs; EGC: weight decay on both layers).

``scale``: a block model (``sbm``: 128 features, 8 classes, homophily 0.8) and a 4-layer GCN
with hidden 256: full batch, GAS (float32 and int8 histories) and ClusterGCN, each in a fresh
subprocess under an address-space limit (``--limit-gb``, 18 by default; a configuration that does not fit says so), for
``--epochs`` epochs; peak RSS (the child's ``ru_maxrss``, and that minus its RSS once the graph
and features are loaded: what training adds), mean epoch time (training steps and the
evaluation pass) and test accuracy at the best-validation epoch. ``depth``: peak RSS of one
epoch at 2, 4 and 8 layers, full batch against GAS (int8).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sparsegnn.data import load_dataset
from sparsegnn.gas import GAS, PYGAS, PYGAS_RECIPE
from sparsegnn.sampling import cached_partition, make_method
from sparsegnn.train import fit_recipe, model_inputs, recipe

#: key: (label, model, method, history dtype)
SETTINGS = {
    "full-gcn": ("full batch", "gcn", "full", None),
    "gas-gcn": ("GAS, float32 histories", "gcn", "gas", "float32"),
    "gas-gcn-fp16": ("GAS, float16 histories", "gcn", "gas", "float16"),
    "gas-gcn-int8": ("GAS, int8 histories", "gcn", "gas", "int8"),
    "full-egc": ("full batch", "egc", "full", None),
    "gas-egc": ("GAS, float32 histories", "egc", "gas", "float32"),
    "gas-egc-int8": ("GAS, int8 histories", "egc", "gas", "int8"),
}
LIMIT_GB = 18.0  #: default address-space limit of each scale / depth run


def accuracy(dataset: str, seeds: int, keys: list[str], gas_overrides: dict | None = None) -> list[dict]:
    """``gas_overrides``: replace PyGAS's settings in the GAS rows (an ablation): ``grad_clip``
    (a number or None) and any Recipe field (``select``, ``first_layer_decay_only``, ...)."""
    data = load_dataset(dataset)
    overrides = dict(gas_overrides or {})
    settings = {**PYGAS[dataset], **({"grad_clip": overrides.pop("grad_clip")} if "grad_clip" in overrides else {})}
    rows = []
    for key in keys:
        label, model, name, dtype = SETTINGS[key]
        r = recipe(model) if name == "full" else recipe(model, **{**PYGAS_RECIPE, **overrides})
        x = model_inputs(model, data.x, data.graph, r)
        factory = None if name == "full" else (
            lambda x, seed, dtype=dtype: GAS(x, data.graph, data.y, data.train_mask, seed=seed, history_dtype=dtype,
                                             **settings))
        accs, epoch = [], []
        start = time.perf_counter()
        for seed in range(seeds):
            result = fit_recipe(model, data, r, seed, x, keep_best_state=False, method=factory)
            accs.append(result.acc["test"])
            epoch += [rec.epoch_time for rec in result.records]
            print(f"  {dataset} {key} seed {seed}: test {accs[-1]:.2f}", flush=True)
        row = {"dataset": dataset, "model": model, "key": key, "label": label,
               "parts": None if name == "full" else [settings["num_parts"], settings["batch_size"]],
               "test_mean": statistics.mean(accs), "test_std": statistics.stdev(accs) if seeds > 1 else 0.0,
               "per_seed": accs, "epoch_ms": 1000 * statistics.mean(epoch), "seconds": time.perf_counter() - start}
        rows.append(row)
        print(f"{dataset} {model} {label}: {row['test_mean']:.2f} +- {row['test_std']:.2f} "
              f"({row['epoch_ms']:.1f} ms/epoch, {row['seconds']:.0f} s)", flush=True)
    return rows


def parse_setting(item: str) -> tuple[str, object]:
    """``"key=value"`` as ``(key, value)``: none / true / false, a number, or the string."""
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise SystemExit(f"--gas-set: expected KEY=VALUE, got {item!r}")
    words = {"none": None, "true": True, "false": False}
    if text.lower() in words:
        return key, words[text.lower()]
    try:
        return key, float(text)
    except ValueError:
        return key, text


def accuracy_table(rows: list[dict]) -> str:
    lines = ["| dataset | model | method | METIS parts / batch | test % (mean +- std) | ms / epoch |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        parts = "-" if r["parts"] is None else f"{r['parts'][0]} / {r['parts'][1]}"
        lines.append(f"| {r['dataset']} | {r['model']} | {r['label']} | {parts} | "
                     f"{r['test_mean']:.2f} +- {r['test_std']:.2f} | {r['epoch_ms']:.1f} |")
    return "\n".join(lines)


# -- scale: one child process per configuration ----------------------------------------------
def child(config: dict) -> dict:
    """Run one configuration (in a fresh process) and return its figures; with
    ``"partition"`` in ``config``, only write the METIS partition to its cache folder."""
    limit = int(config["limit_gb"] * 1e9)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    torch.set_num_threads(config["threads"])
    from sparsegnn.data.synthetic import sbm

    data = sbm(config["nodes"], 8, config["degree"], 0.8, num_features=128, seed=0)
    if "partition" in config:
        start = time.perf_counter()
        cached_partition(data.graph, config["partition"]["num_parts"], config["partition"]["cache_dir"])
        return {"seconds": time.perf_counter() - start,
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    r = recipe("gcn", hidden=256, layers=config["layers"], epochs=config["epochs"])
    x = model_inputs("gcn", data.x, data.graph, r)
    loaded = current_rss_mib()
    method, options = config["method"], dict(config["options"])
    factory = None if method == "full" else (
        lambda x, seed: make_method(method, x, data.graph, data.y, data.train_mask, seed=seed, **options))
    start = time.perf_counter()
    result = fit_recipe("gcn", data, r, 0, x, keep_best_state=False, method=factory)
    return {"test_acc": result.acc["test"], "epoch_s": statistics.mean(rec.epoch_time for rec in result.records),
            "compute_s": statistics.mean(rec.compute_time for rec in result.records),
            "seconds": time.perf_counter() - start,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "data_rss_mib": loaded}


def current_rss_mib() -> float:
    """This process's resident set size now, in MiB (``VmRSS``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def spawn(config: dict, timeout: float) -> dict:
    """``child(config)`` in a fresh interpreter: its figures, or why it did not finish."""
    try:
        done = subprocess.run([sys.executable, __file__, "child", json.dumps(config)], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**config, "error": f"over {timeout:.0f} s"}
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        fit = "MemoryError" in done.stderr or "alloc" in done.stderr.lower() or done.returncode < 0
        return {**config, "error": f"does not fit in {config['limit_gb']:g} GB" if fit else tail[0]}
    return {**config, **json.loads(done.stdout.strip().splitlines()[-1])}


#: key: (label, method, options)
SCALE_METHODS = {
    "full": ("full batch", "full", {}),
    "gas": ("GAS, float32 histories", "gas", {"history_dtype": "float32"}),
    "gas-int8": ("GAS, int8 histories", "gas", {"history_dtype": "int8"}),
    "cluster": ("ClusterGCN", "cluster", {}),
}


def scale(nodes: int, degree: float, epochs: int, layers: list[int], keys: list[str], parts: int,
          batch: int, threads: int, timeout: float, cache_dir: str | None = None,
          limit_gb: float = LIMIT_GB) -> list[dict]:
    """The rows of ``keys`` at each depth. With ``cache_dir`` the METIS partition is computed
    first, in a process of its own, and the measured runs read it from there: METIS's peak
    (8.4 GB at 2 x 10^6 nodes) is then not any method's."""
    rows = []
    if cache_dir is not None and any(SCALE_METHODS[key][1] != "full" for key in keys):
        prepared = spawn({"partition": {"num_parts": parts, "cache_dir": cache_dir}, "nodes": nodes,
                          "degree": degree, "threads": threads, "limit_gb": limit_gb}, timeout)
        print(json.dumps({"partition": prepared}), flush=True)
    for depth in layers:
        for key in keys:
            label, method, options = SCALE_METHODS[key]
            if method != "full":
                options = {**options, "num_parts": parts, "batch_size": batch, "cache_dir": cache_dir}
            config = {"label": label, "method": method, "options": options, "nodes": nodes, "degree": degree,
                      "layers": depth, "epochs": epochs, "threads": threads, "limit_gb": limit_gb}
            row = spawn(config, timeout)
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def scale_table(rows: list[dict]) -> str:
    lines = ["| layers | method | peak RSS MiB | of which training (peak - RSS with the data loaded) | s / epoch | test % |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['layers']} | {r['label']} | {r['error']} | - | - | - |")
        else:
            lines.append(f"| {r['layers']} | {r['label']} | {r['peak_rss_mib']:.0f} | "
                         f"{r['peak_rss_mib'] - r['data_rss_mib']:.0f} | {r['epoch_s']:.1f} | {r['test_acc']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["child"]:
        print(json.dumps(child(json.loads(argv[1]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("accuracy", "scale", "depth"))
    parser.add_argument("--datasets", default="cora,citeseer")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--only", help=f"comma-separated keys: accuracy {list(SETTINGS)}; scale, depth "
                                       f"{list(SCALE_METHODS)}")
    parser.add_argument("--nodes", type=int, default=2_000_000)
    parser.add_argument("--degree", type=float, default=10.0,
                        help="mean degree (nodes x degree / 2 undirected edges)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--layers", default=None, help="comma-separated depths (scale: 4; depth: 2,4,8)")
    parser.add_argument("--parts", type=int, default=None, help="METIS parts (default nodes / 2000)")
    parser.add_argument("--batch", type=int, default=None, help="parts per batch (default parts / 20)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per configuration")
    parser.add_argument("--limit-gb", type=float, default=LIMIT_GB,
                        help="scale, depth: address-space limit of each run, in GB (default 18)")
    parser.add_argument("--partition-cache", metavar="DIR", default=None,
                        help="scale, depth: compute the METIS partition first, in its own process, and cache it "
                             "here (the runs' peaks then leave METIS out)")
    parser.add_argument("--gas-set", action="append", default=[], metavar="KEY=VALUE",
                        help="accuracy: replace one of PyGAS's settings in the GAS rows (grad_clip=none|1.0, "
                             "select=val|val-first, first_layer_decay_only=false, ...)")
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.part == "accuracy":
        keys = args.only.split(",") if args.only else list(SETTINGS)
        overrides = dict(parse_setting(item) for item in args.gas_set)
        rows = [row for d in args.datasets.split(",") for row in accuracy(d, args.seeds, keys, overrides)]
        print(accuracy_table(rows))
    else:
        parts = args.parts or max(1, args.nodes // 2000)
        batch = args.batch or max(1, parts // 20)
        default = "4" if args.part == "scale" else "2,4,8"
        layers = [int(v) for v in (args.layers or default).split(",")]
        keys = args.only.split(",") if args.only else list(SCALE_METHODS) if args.part == "scale" else ["full", "gas-int8"]
        epochs = args.epochs if args.part == "scale" else 1
        rows = scale(args.nodes, args.degree, epochs, layers, keys, parts, batch, args.threads, args.timeout,
                     args.partition_cache, args.limit_gb)
        print(scale_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"part": args.part, "argv": argv, "rows": rows,
                                               "cpu": os.popen("lscpu | grep 'Model name'").read().strip(),
                                               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
                                              indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
