"""``sparsegnn train``: train a model on a dataset over several seeds through the one training
loop; one log line per epoch, a final table, and a JSON file (schema ``sparsegnn-train/1``)."""

from __future__ import annotations

import argparse
from dataclasses import asdict
import json
import statistics
import sys
import time
from pathlib import Path

from .args import UsageError, add_progress_flag, positive_int

SCHEMA = "sparsegnn-train/1"


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..train import MODELS

    train = sub.add_parser(
        "train",
        help="train a model (full batch) over several seeds",
        description="Train a model through sparsegnn's training loop. Unset settings take the "
        "model's recipe (sparsegnn.train.recipes: the papers' settings).",
    )
    train.add_argument(
        "--dataset",
        default="cora",
        help="cora | citeseer | pubmed | sbm:N,C,DEG[,H] | rmat:S[,EF] | power_law:N,E | file:PATH.npz "
        "(default cora)",
    )
    train.add_argument("--model", default="gcn", choices=MODELS)
    train.add_argument("--epochs", type=positive_int, default=None)
    train.add_argument("--lr", type=float, default=None)
    train.add_argument("--weight-decay", type=float, default=None)
    train.add_argument("--hidden", type=positive_int, default=None)
    train.add_argument("--layers", type=positive_int, default=None)
    train.add_argument("--dropout", type=float, default=None)
    train.add_argument("--seeds", type=positive_int, default=1, help="seeds 0..N-1 (default 1)")
    train.add_argument("--threads", type=positive_int, default=None, help="torch threads")
    train.add_argument("--json", metavar="PATH", help=f"write the results as JSON ({SCHEMA})")
    train.add_argument("--quiet", action="store_true", help="no per-epoch log lines")
    add_progress_flag(train)
    train.set_defaults(run=run)


def _progress_bar(total: int, enabled: bool | None):
    """A tqdm bar over all epochs of all seeds, or None (disabled, or tqdm not installed)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="epoch", leave=False)


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def run(args: argparse.Namespace) -> int:
    import torch

    from ..data import load_dataset
    from ..profile.machine import environment
    from ..train import fit_full_batch, model_inputs, recipe

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.dropout is not None and not 0.0 <= args.dropout < 1.0:
        raise UsageError(f"--dropout: expected a probability in [0, 1), got {args.dropout}")
    for name in ("lr", "weight_decay"):
        value = getattr(args, name)
        if value is not None and (value < 0 or (name == "lr" and value == 0)):
            raise UsageError(f"--{name.replace('_', '-')}: expected a positive number, got {value}")
    try:
        data = load_dataset(args.dataset)
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(f"--dataset {args.dataset}: {error}") from None
    r = recipe(args.model, epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay,
               hidden=args.hidden, layers=args.layers, dropout=args.dropout)
    print(f"{args.dataset}: {data.num_nodes} nodes, {data.num_edges} edges, {data.num_features} "
          f"features, {data.num_classes} classes; model {args.model} {r}", flush=True)
    x = model_inputs(args.model, data.x, data.graph, r)
    bar = _progress_bar(args.seeds * r.epochs, args.progress)
    say = bar.write if bar is not None else print
    per_seed, epochs = [], []
    for seed in range(args.seeds):
        def on_epoch(record, seed=seed):
            epochs.append({"seed": seed, **record.as_dict()})
            if bar is not None:
                bar.update(1)
            if not args.quiet:
                acc = record.acc
                say(f"seed {seed} epoch {record.epoch:4d}  loss {record.loss:.4f}  train "
                    f"{acc.get('train', float('nan')):5.1f}  val {acc.get('val', float('nan')):5.1f}  "
                    f"test {acc.get('test', float('nan')):5.1f}  {1000 * record.epoch_time:7.1f} ms  "
                    f"RSS {record.peak_rss_mib:.0f} MiB")

        start = time.perf_counter()
        result = fit_full_batch(args.model, data, r, seed, x, on_epoch)
        times = [rec.epoch_time for rec in result.records]
        per_seed.append({
            "seed": seed,
            "best_epoch": result.best_epoch,
            **{f"{s}_acc": a for s, a in result.acc.items()},
            "epoch_time_mean": statistics.mean(times),
            "seconds": time.perf_counter() - start,
            "peak_rss_mib": result.records[-1].peak_rss_mib,
        })
    if bar is not None:
        bar.close()
    test_mean, test_std = _mean_std([s["test_acc"] for s in per_seed])
    val_mean, _ = _mean_std([s["val_acc"] for s in per_seed])
    print(f"\n{'seed':>4}  {'best epoch':>10}  {'val %':>6}  {'test %':>6}  {'epoch ms':>8}  {'peak RSS MiB':>12}")
    for s in per_seed:
        print(f"{s['seed']:>4}  {s['best_epoch']:>10}  {s['val_acc']:6.2f}  {s['test_acc']:6.2f}  "
              f"{1000 * s['epoch_time_mean']:8.1f}  {s['peak_rss_mib']:12.0f}")
    print(f"{args.model} on {args.dataset}, {args.seeds} seed(s): test {test_mean:.2f} +- {test_std:.2f} "
          f"(val {val_mean:.2f}), epoch {1000 * statistics.mean(s['epoch_time_mean'] for s in per_seed):.1f} ms, "
          f"peak RSS {max(s['peak_rss_mib'] for s in per_seed):.0f} MiB")
    if args.json:
        payload = {
            "schema": SCHEMA,
            "test_acc_mean": test_mean,
            "test_acc_std": test_std,
            "val_acc_mean": val_mean,
            "per_seed": per_seed,
            "epochs": epochs,
            "config": {"dataset": args.dataset, "model": args.model, "seeds": args.seeds,
                       **asdict(r)},
            "env": environment(),
        }
        Path(args.json).write_text(json.dumps(payload, indent=1))
        print(f"wrote {args.json}")
    return 0
