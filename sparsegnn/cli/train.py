"""``sparsegnn train``: train a model on a dataset over several seeds through the one training
loop, full batch or with a sampler (``--method``, :mod:`sparsegnn.sampling`); one log line per
epoch (with its sampling and compute time), a final table, a JSON file (schema
``sparsegnn-train/1``) and loss / accuracy curves (``--plot``).

``--checkpoint DIR`` writes ``DIR/seed-<s>.ckpt`` after every epoch; ``--resume DIR`` continues
each seed from its checkpoint there (a killed run resumed ends as if never stopped). Under
``torchrun --nproc_per_node=N -m sparsegnn train ...`` the sampled methods train data-parallel
(:mod:`sparsegnn.train.distributed`); rank 0 logs, evaluates and writes every file.

``--quant int8|int4 [--degree-quant]`` trains the model QAT-prepared by ``sparsegnn.quant`` and
also reports its converted integer model's accuracy."""

from __future__ import annotations

import argparse
from dataclasses import asdict
import json
import statistics
import sys
import time
from pathlib import Path

from .args import UsageError, add_progress_flag, comma_list, non_negative_int, positive_int

SCHEMA = "sparsegnn-train/1"


def fanouts(text: str) -> list[int]:
    """``--num-neighbors``: comma-separated ints, each >= 1 or -1."""
    try:
        values = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 and v != -1 for v in values):
        raise argparse.ArgumentTypeError(f"expected fan-outs >= 1 or -1 (all neighbours), got {text!r}")
    return values


SAMPLER_MODELS = ("gcn", "sage", "egc")
QUANT_BITS = {"int8": 8, "int4": 4}
QUANT_MODELS = ("gcn", "sage", "egc", "mlp")


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..sampling import METHODS, PAPER_DEFAULTS
    from ..sampling.layerwise import EVALUATIONS
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
    defaults = {name: ", ".join(f"{k}={v}" for k, v in d.items()) for name, d in PAPER_DEFAULTS.items()}
    train.add_argument(
        "--method", default="full", choices=METHODS,
        help="full batch, or a sampler of sparsegnn.sampling (needs gcn, sage or egc); paper defaults: "
        + "; ".join(f"{name}: {text}" for name, text in defaults.items())
        + " (gas on cora, citeseer, pubmed: PyGAS's settings of that dataset and its recipe, sparsegnn.gas.PYGAS)",
    )
    sampling = train.add_argument_group("sampler options (unset: the --method's paper defaults above)")
    sampling.add_argument("--num-parts", type=positive_int, default=None, help="cluster, gas: METIS parts")
    sampling.add_argument(
        "--batch-size", type=positive_int, default=None,
        help="cluster, gas: parts per batch; saint-node: nodes drawn; saint-edge: edges drawn; saint-rw: roots; "
        "shadow, shadow-ppr: targets; neighbor: seeds",
    )
    sampling.add_argument("--walk-length", type=positive_int, default=None, help="saint-rw: steps per walk")
    sampling.add_argument("--sample-coverage", type=float, default=None,
                          help="saint-*: pre-sample until this many times |V_train| nodes")
    sampling.add_argument("--num-neighbors", type=fanouts, default=None,
                          help="neighbor: fan-out per hop, -1 = all; shadow: one fan-out per node and hop")
    sampling.add_argument("--depth", type=positive_int, default=None, help="shadow: hops per subgraph")
    sampling.add_argument("--saint-graph", choices=("train", "whole"), default=None,
                          help="saint-*: draw subgraphs from the training graph (the paper's, inductive) or the whole "
                               "graph (transductive; the loss still counts training nodes only). Planetoid's public "
                               "splits hold ~40 training-graph edges: use whole there")
    sampling.add_argument("--top-k", type=positive_int, default=None,
                          help="shadow-ppr: nodes per subgraph (the target and the highest PPR scores)")
    sampling.add_argument("--history-dtype", default=None, choices=("float32", "float16", "bfloat16", "int8"),
                          help="gas: storage of the historical embeddings")
    sampling.add_argument("--evaluation", choices=EVALUATIONS, default=None,
                          help="cluster, saint-*, neighbor: evaluate with one full-graph forward, layer by layer over "
                               "blocks of rows (memory of two layers' outputs), or auto (default: layer by layer "
                               "when the full forward would not fit in the memory left)")
    sampling.add_argument("--workers", type=non_negative_int, default=0,
                          help="worker processes making the batches (default 0: this process; the batches are "
                               "the same either way)")
    from ..distill import LOSSES

    distilling = train.add_argument_group("distillation (sparsegnn.distill: --model is the student)")
    distilling.add_argument("--teacher", metavar="CKPT", default=None,
                            help="the teacher: a checkpoint of sparsegnn train --checkpoint DIR (DIR/seed-N.ckpt), "
                            "on the same --dataset; its best-validation weights are used")
    distilling.add_argument("--distill", type=comma_list("losses", tuple(LOSSES)), default=None,
                            help=f"distillation losses, comma-separated: {', '.join(LOSSES)} (needs --teacher)")
    train.add_argument("--epochs", type=positive_int, default=None)
    train.add_argument("--lr", type=float, default=None)
    train.add_argument("--weight-decay", type=float, default=None)
    train.add_argument("--hidden", type=positive_int, default=None)
    train.add_argument("--layers", type=positive_int, default=None)
    train.add_argument("--dropout", type=float, default=None)
    train.add_argument("--quant", choices=QUANT_BITS, default=None,
                       help="quantisation-aware training (sparsegnn.quant; gcn, sage, egc, mlp): reports the "
                       "fake-quant (FP32-equivalent) and the converted integer model's accuracy")
    train.add_argument("--degree-quant", action="store_true",
                       help="with --quant: Degree-Quant (protective masks p in [0, 0.1] INT8 / [0.1, 0.2] INT4, "
                       "percentile observers 0.001 / 0.01); without it plain QAT (min / max observers)")
    train.add_argument("--seeds", type=positive_int, default=1, help="seeds 0..N-1 (default 1)")
    train.add_argument("--threads", type=positive_int, default=None, help="torch threads")
    train.add_argument("--json", metavar="PATH", help=f"write the results as JSON ({SCHEMA})")
    train.add_argument("--plot", metavar="PATH", help="draw loss and accuracy curves per seed (PNG, matplotlib)")
    train.add_argument("--checkpoint", metavar="DIR", help="write a checkpoint per seed to DIR after every epoch")
    train.add_argument("--resume", metavar="DIR",
                       help="continue from the checkpoints in DIR (and keep writing them there)")
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


SAMPLER_OPTIONS = ("num_parts", "batch_size", "walk_length", "sample_coverage", "num_neighbors", "depth", "top_k",
                   "history_dtype", "evaluation")


def _sampler_options(args: argparse.Namespace) -> dict:
    """The sampler options set on the command line (the method's paper defaults fill the rest)."""
    options = {name: getattr(args, name) for name in SAMPLER_OPTIONS if getattr(args, name) is not None}
    if args.saint_graph is not None:
        options["train_graph_only"] = args.saint_graph == "train"
    return options


def _method_settings(args: argparse.Namespace) -> dict | None:
    """What the ``--method`` sampler runs with: its defaults for ``--dataset`` updated by the
    command line's options (None for full batch)."""
    from ..sampling import paper_defaults

    return None if args.method == "full" else {**paper_defaults(args.method, args.dataset), **_sampler_options(args)}


def _sampler(args: argparse.Namespace, data, r):
    """``method(x, seed)`` making the ``--method`` sampler, or None for full batch."""
    from ..sampling import PAPER_DEFAULTS, make_method

    options = _sampler_options(args)
    if args.method == "full":
        if options or args.workers:
            first = next(iter(options), "workers")
            flag = "saint-graph" if first == "train_graph_only" else first.replace("_", "-")
            raise UsageError(f"--{flag}: a sampler option, but --method is full")
        return None
    if args.evaluation is not None and args.method in ("shadow", "shadow-ppr", "gas"):
        raise UsageError(f"--evaluation: for cluster, saint-* and neighbor, got --method {args.method} (shadow "
                         "evaluates each node on its own subgraph, gas layer by layer through its histories)")
    if args.saint_graph is not None and not args.method.startswith("saint"):
        raise UsageError(f"--saint-graph: for the saint-* methods, got --method {args.method}")
    if args.model not in SAMPLER_MODELS:
        raise UsageError(f"--method {args.method}: needs a message-passing model ({', '.join(SAMPLER_MODELS)}), "
                         f"got --model {args.model}")
    if args.method == "shadow" and "num_neighbors" in options:
        if len(options["num_neighbors"]) != 1:
            raise UsageError("--num-neighbors: shadow takes one fan-out (per node and hop)")
        options["num_neighbors"] = options["num_neighbors"][0]
    if args.method == "neighbor":
        hops = len(options.get("num_neighbors", PAPER_DEFAULTS["neighbor"]["num_neighbors"]))
        if hops != r.layers:
            raise UsageError(f"--num-neighbors: {hops} fan-out(s) for a {r.layers}-layer model (one per layer)")
        options["norm"] = None if args.model == "sage" else "gcn"  # SAGE: mean over the sampled entries

    def build(x, seed):
        try:
            return make_method(args.method, x, data.graph, data.y, data.train_mask, seed=seed,
                               dataset=args.dataset, num_workers=args.workers, **options)
        except ValueError as error:
            raise UsageError(f"--method {args.method}: {error}") from None

    return build


def _teacher(args: argparse.Namespace, data):
    """The ``--teacher`` checkpoint's outputs on ``data``, computed once for every seed, or None."""
    if (args.teacher is None) != (args.distill is None):
        raise UsageError("--teacher and --distill: give both (the checkpoint to distil from and the losses)")
    if args.teacher is None:
        return None
    from ..distill import TeacherCache, load_teacher
    from ..distill.method import LOSSES

    try:
        teacher, x = load_teacher(args.teacher, data, dataset=args.dataset)
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(f"--teacher {args.teacher}: {error}") from None
    return TeacherCache(teacher, x, data.graph, hidden=any(LOSSES[name].needs_hidden for name in args.distill))


def _fit(args: argparse.Namespace, data, r, seed: int, x, on_epoch, method, cache, checkpoint, **trainer_options):
    """One seed's run: the recipe's, or a student's distilled from ``cache``'s teacher."""
    from ..distill import fit_distilled
    from ..train import fit_recipe

    if cache is None:
        return fit_recipe(args.model, data, r, seed, x, on_epoch, method=method, checkpoint=checkpoint,
                          **trainer_options)
    try:
        return fit_distilled(args.model, data, r, seed, None, args.distill, x, cache, method, on_epoch,
                             checkpoint=checkpoint, **trainer_options)
    except ValueError as error:
        if checkpoint is not None and str(error).startswith(str(checkpoint)):
            raise  # a damaged or foreign checkpoint: the caller says so
        raise UsageError(f"--distill {','.join(args.distill)}: {error}") from None


def _quantization(args: argparse.Namespace):
    """``(prepare, trained)`` for ``--quant``, or ``(None, None)``: ``prepare`` makes the model
    QAT (and remembers it), ``trained(result, x, data)`` converts it at its selected epoch and
    returns the integer model's accuracy per split."""
    if args.quant is None:
        if args.degree_quant:
            raise UsageError("--degree-quant: needs --quant int8 or int4")
        return None, None
    if args.model not in QUANT_MODELS:
        raise UsageError(f"--quant: needs one of {', '.join(QUANT_MODELS)}, got --model {args.model}")
    from ..quant import QATRun, paper_config

    run = QATRun(paper_config(QUANT_BITS[args.quant], args.degree_quant))
    return run.prepare, run.converted_accuracy


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _checkpoint_dir(args: argparse.Namespace) -> Path | None:
    """Where the per-seed checkpoints go (``--resume`` implies writing there too)."""
    if args.resume and args.checkpoint and Path(args.resume) != Path(args.checkpoint):
        raise UsageError("--resume and --checkpoint: give one folder (--resume keeps writing to it)")
    if args.resume:
        folder = Path(args.resume)
        if not folder.is_dir() or not any(folder.glob("seed-*.ckpt")):
            raise UsageError(f"--resume {args.resume}: no checkpoint there (seed-*.ckpt)")
        return folder
    return Path(args.checkpoint) if args.checkpoint else None


def _identity(args: argparse.Namespace, data, r, seed: int) -> dict:
    """What a checkpoint belongs to: everything that changes the run's epochs (not --epochs,
    so a resumed run may go on for longer, nor --workers, which changes no batch)."""
    from ..sampling import graph_hash

    settings = {k: v for k, v in asdict(r).items() if k != "epochs"}
    return {"dataset": args.dataset, "graph_hash": graph_hash(data.graph), "num_nodes": data.num_nodes,
            "in_channels": data.num_features, "num_classes": data.num_classes, "model": args.model,
            "recipe": settings, "method": args.method, "options": _sampler_options(args), "seed": seed,
            **({"teacher": args.teacher, "distill": args.distill} if args.teacher else {})}


def _log_line(seed: int, record) -> str:
    acc = record.acc
    return (f"seed {seed} epoch {record.epoch:4d}  loss {record.loss:.4f}  train "
            f"{acc.get('train', float('nan')):5.1f}  val {acc.get('val', float('nan')):5.1f}  "
            f"test {acc.get('test', float('nan')):5.1f}  {1000 * record.epoch_time:7.1f} ms (sample "
            f"{1000 * record.sample_time:.1f}, compute {1000 * record.compute_time:.1f})  "
            f"RSS {record.peak_rss_mib:.0f} MiB")


def run(args: argparse.Namespace) -> int:
    from ..data import load_dataset
    from ..sampling import recipe_overrides
    from ..train import recipe
    from ..train.distributed import from_env, world_size

    try:  # the recipe checks its settings before any data is loaded
        r = recipe(args.model, **{**recipe_overrides(args.method), "epochs": args.epochs, "lr": args.lr,
                                  "weight_decay": args.weight_decay, "hidden": args.hidden, "layers": args.layers,
                                  "dropout": args.dropout})
    except ValueError as error:
        name, _, reason = str(error).partition(": ")
        raise UsageError(f"--{name.replace('_', '-')}: {reason}") from None
    if world_size() > 1 and args.method == "full":
        raise UsageError("--method full: torchrun needs a sampled --method (each rank trains on its share of batches)")
    folder = _checkpoint_dir(args)
    try:
        data = load_dataset(args.dataset)
    except (ValueError, FileNotFoundError) as error:
        raise UsageError(f"--dataset {args.dataset}: {error}") from None
    distributed = from_env()
    try:
        return _train(args, data, r, folder, distributed)
    finally:
        if distributed is not None:
            distributed.close()


def _train(args: argparse.Namespace, data, r, folder: Path | None, distributed) -> int:
    """The seeds' runs, the table, the JSON and the plot (on rank 0)."""
    import torch

    from ..profile.machine import environment
    from ..train import model_inputs
    from ..train.distributed import threads_per_rank, world_size

    main_rank = distributed is None or distributed.is_main
    torch.set_num_threads(args.threads or threads_per_rank(world_size()))
    say = print if main_rank else (lambda *a, **k: None)
    say(f"{args.dataset}: {data.num_nodes} nodes, {data.num_edges} edges, {data.num_features} "
        f"features, {data.num_classes} classes; model {args.model} {r}; method {args.method} "
        f"{_method_settings(args) or ''}" + (f"; {distributed.world} ranks" if distributed else ""), flush=True)
    x = model_inputs(args.model, data.x, data.graph, r)
    method = _sampler(args, data, r)
    cache = _teacher(args, data)
    prepare, trained = _quantization(args)
    bar = _progress_bar(args.seeds * r.epochs, args.progress if main_rank else False)
    if bar is not None:
        say = bar.write
    per_seed, epochs = [], []
    for seed in range(args.seeds):
        def on_epoch(record, seed=seed):
            epochs.append({"seed": seed, **record.as_dict()})
            if bar is not None:
                bar.update(1)
            if not args.quiet:
                say(_log_line(seed, record))

        start = time.perf_counter()
        checkpoint = folder / f"seed-{seed}.ckpt" if folder is not None else None
        try:
            result = _fit(args, data, r, seed, x, on_epoch, method, cache, checkpoint=checkpoint,
                          resume=bool(args.resume), identity=_identity(args, data, r, seed),
                          distributed=distributed, prepare=prepare)
        except ValueError as error:
            if checkpoint is not None and str(error).startswith(str(checkpoint)):
                raise UsageError(str(error)) from None  # a damaged or foreign checkpoint
            raise
        converted = {} if trained is None else trained(result, x, data)
        times = [rec.epoch_time for rec in result.records]
        per_seed.append({
            "seed": seed,
            "best_epoch": result.best_epoch,
            **{f"{s}_acc": a for s, a in result.acc.items()},
            **{f"converted_{s}_acc": a for s, a in converted.items()},
            "epoch_time_mean": statistics.mean(times),
            "sample_time_mean": statistics.mean(rec.sample_time for rec in result.records),
            "compute_time_mean": statistics.mean(rec.compute_time for rec in result.records),
            "seconds": time.perf_counter() - start,
            "peak_rss_mib": max(rec.peak_rss_mib for rec in result.records),
        })
    if bar is not None:
        bar.close()
    if not main_rank:
        return 0
    test_mean, test_std = _mean_std([s["test_acc"] for s in per_seed])
    val_mean, _ = _mean_std([s["val_acc"] for s in per_seed])
    quant = "converted_test_acc" in per_seed[0]
    print(f"\n{'seed':>4}  {'best epoch':>10}  {'val %':>6}  {'test %':>6}  {'epoch ms':>8}  {'peak RSS MiB':>12}"
          + (f"  {'converted test %':>16}" if quant else ""))
    for s in per_seed:
        print(f"{s['seed']:>4}  {s['best_epoch']:>10}  {s['val_acc']:6.2f}  {s['test_acc']:6.2f}  "
              f"{1000 * s['epoch_time_mean']:8.1f}  {s['peak_rss_mib']:12.0f}"
              + (f"  {s['converted_test_acc']:16.2f}" if quant else ""))
    print(f"{args.model} on {args.dataset}, {args.seeds} seed(s): test {test_mean:.2f} +- {test_std:.2f} "
          f"(val {val_mean:.2f}), epoch {1000 * statistics.mean(s['epoch_time_mean'] for s in per_seed):.1f} ms, "
          f"peak RSS {max(s['peak_rss_mib'] for s in per_seed):.0f} MiB")
    converted_mean, converted_std = _mean_std([s["converted_test_acc"] for s in per_seed]) if quant else (None, None)
    if quant:
        print(f"{args.quant}{' Degree-Quant' if args.degree_quant else ' QAT'}: fake-quant test {test_mean:.2f} +- "
              f"{test_std:.2f}, converted integer model test {converted_mean:.2f} +- {converted_std:.2f}")
    if args.json:
        payload = {
            "schema": SCHEMA,
            "test_acc_mean": test_mean,
            "test_acc_std": test_std,
            "val_acc_mean": val_mean,
            **({"converted_test_acc_mean": converted_mean, "converted_test_acc_std": converted_std} if quant else {}),
            "per_seed": per_seed,
            "epochs": epochs,
            "config": {"dataset": args.dataset, "model": args.model, "seeds": args.seeds,
                       "method": args.method, "quant": args.quant, "degree_quant": args.degree_quant,
                       **_sampler_options(args), "workers": args.workers,
                       "method_settings": _method_settings(args),
                       "ranks": distributed.world if distributed else 1, **asdict(r),
                       "teacher": args.teacher, "distill": args.distill},
            "env": environment(),
        }
        Path(args.json).write_text(json.dumps(payload, indent=1))
        print(f"wrote {args.json}")
    if args.plot:
        from ..profile.plots import training_curves

        print(f"wrote {training_curves(epochs, args.plot, f'{args.model} on {args.dataset}, --method {args.method}')}")
    return 0
