"""The ``sparsegnn`` command line.

``sparsegnn bench [spmm|segment|sddmm|int8|layer|train ...]`` times every sparsegnn backend
against the peers a user would otherwise pick (table, JSON, CSV, roofline/speed-up plots, Chrome
traces); ``sparsegnn plot RESULTS.json`` redraws the plots from a JSON file; ``sparsegnn tune`` measures this machine and writes the policy file that
``backend="auto"`` reads; ``sparsegnn tune --show`` prints it.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

DEFAULT_GRAPH = "synthetic:power_law,100000,1000000"
KERNEL_NAMES = ("spmm", "segment", "sddmm", "int8", "layer", "train")
DTYPE_NAMES = ("fp32", "fp64", "bf16", "fp16")
REDUCE_NAMES = ("sum", "mean", "max", "min")
ORDER_NAMES = ("own", "rcm", "metis")


def _list(kind: str, choices: tuple[str, ...] | None = None):
    def parse(text: str) -> list:
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {kind}, got {text!r}"
            )
        if kind == "positive integers":
            try:
                values = [int(item) for item in items]
            except ValueError:
                raise argparse.ArgumentTypeError(
                    f"expected comma-separated integers, got {text!r}"
                ) from None
            if min(values) < 1:
                raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
            return values
        bad = [item for item in items if choices is not None and item not in choices]
        if bad:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {bad}; choose from {', '.join(choices)}"
            )
        return list(dict.fromkeys(items))

    return parse


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sparsegnn", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="profile kernels: every backend against every peer")
    bench.add_argument(
        "kernels",
        nargs="*",
        metavar="KERNEL",
        default=[],
        help=f"kernels to profile: {', '.join(KERNEL_NAMES)} (default spmm)",
    )
    bench.add_argument(
        "--graph",
        action="append",
        metavar="SPEC",
        help="synthetic:power_law,N,E | synthetic:rmat,S,EF | power_law:N,E | rmat:S,EF | "
        f"sbm:N,C,DEG | planetoid:cora | file:PATH (repeatable; default {DEFAULT_GRAPH})",
    )
    bench.add_argument(
        "--feat",
        type=_list("positive integers"),
        default=[64],
        help="feature widths, e.g. 16,64,256",
    )
    bench.add_argument(
        "--dtype", type=_list("dtypes", DTYPE_NAMES), default=["fp32"], help="e.g. fp32,bf16"
    )
    bench.add_argument(
        "--reduce", type=_list("reduces", REDUCE_NAMES), default=["sum"], help="e.g. sum,max"
    )
    bench.add_argument(
        "--backend",
        default="all",
        help="'all' (every available backend but the slow 'torch' reference), or names, "
        "e.g. cpu,numba or all,torch",
    )
    bench.add_argument(
        "--order",
        type=_list("node orders", ORDER_NAMES),
        default=["own"],
        help="node orders to time each graph in: own (as loaded), rcm (Graph.rcm_order), metis "
        "(Graph.metis_order, needs pymetis); e.g. own,metis. A renumbered graph is SPEC@ORDER",
    )
    bench.add_argument("--peers", default="all", help="'all', 'none' or comma-separated peer names")
    bench.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    bench.add_argument(
        "--threads",
        type=_list("positive integers"),
        default=None,
        help="torch (and numba) threads, a list sweeps them (default: torch's)",
    )
    bench.add_argument(
        "--repeat", type=_positive_int, default=10, help="timed repeats (default 10)"
    )
    bench.add_argument("--warmup", type=int, default=2, help="untimed warm-up calls (default 2)")
    bench.add_argument(
        "--max-time",
        type=float,
        default=5.0,
        help="seconds after which a slow implementation stops repeating (at least 3 runs; default 5)",
    )
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument(
        "--bandwidth",
        type=float,
        default=None,
        metavar="GBPS",
        help="use this bandwidth roof instead of measuring it at start",
    )
    bench.add_argument(
        "--json", metavar="PATH", help="write every run, raw times and the environment as JSON"
    )
    bench.add_argument(
        "--csv", metavar="PATH", help="upsert one row per run into a long-format CSV"
    )
    bench.add_argument(
        "--plot", metavar="DIR", help="write the roofline and speed-up PNGs into DIR"
    )
    bench.add_argument(
        "--trace", metavar="DIR", help="write a torch.profiler Chrome trace per case into DIR"
    )
    bench.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )

    plot = sub.add_parser(
        "plot", help="draw the roofline and speed-up PNGs from a `bench --json` file"
    )
    plot.add_argument("json", metavar="JSON", help="a file written by `sparsegnn bench --json`")
    plot.add_argument("--out", metavar="DIR", default=".", help="where the PNGs go (default: here)")

    tune = sub.add_parser(
        "tune", help="measure this machine and write the policy file backend='auto' reads"
    )
    tune.add_argument("--show", action="store_true", help="print the policy file and exit")
    tune.add_argument(
        "--out",
        metavar="PATH",
        help="policy file (default $SPARSEGNN_POLICY or ~/.cache/sparsegnn/policy.json)",
    )
    tune.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    tune.add_argument(
        "--feat", type=_list("positive integers"), default=None, help="F values (default 16,64,256)"
    )
    tune.add_argument(
        "--degrees",
        type=_list("positive integers"),
        default=None,
        help="average degrees (default 4,16,64)",
    )
    tune.add_argument(
        "--nnz", type=_positive_int, default=None, help="nonzeros per tuning graph (default 400000)"
    )
    tune.add_argument(
        "--repeat", type=_positive_int, default=None, help="timed repeats (default 5)"
    )
    tune.add_argument("--threads", type=_positive_int, default=None)
    tune.add_argument(
        "--quick", action="store_true", help="a tiny sweep (seconds), for smoke tests"
    )
    tune.add_argument(
        "--include-reference", action="store_true", help="also time the slow plain-torch reference"
    )
    tune.add_argument("--quiet", action="store_true")
    return parser


def _backends(text: str) -> list[str] | None:
    from . import ops

    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return None
    if "all" in names:
        extra = [n for n in names if n != "all"]
        return list(dict.fromkeys([b for b in ops.registered_backends() if b != "torch"] + extra))
    return names


def _peers(text: str) -> list[str] | None:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return None
    return [] if names == ["none"] else names


def _quiet_torch_sparse_warnings() -> None:
    import warnings

    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
    warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


def _prewarm(device: str) -> None:
    """One tiny op call: the first custom-op call imports torch._dynamo (seconds), outside any
    timing and before the progress bar starts."""
    from . import Graph, ops

    graph = Graph.from_edge_index(torch.tensor([[0, 1], [1, 0]]), 2).to(device)
    ops.spmm(graph, torch.ones(2, 1, device=device))


def cmd_bench(args: argparse.Namespace) -> int:
    from .profile import format_table
    from .profile.graphs import load_graph
    from .profile.machine import Roofs, environment, measure_peak_gflops, measure_roofs
    from .profile.peers import PEERS
    from .profile.report import payload, write_csv, write_json
    from .profile.runner import plan, sweep

    _quiet_torch_sparse_warnings()
    kernels = list(dict.fromkeys(args.kernels)) or ["spmm"]
    unknown = [k for k in kernels if k not in KERNEL_NAMES]
    if unknown:
        print(
            f"sparsegnn bench: error: unknown kernel {unknown}; choose from {', '.join(KERNEL_NAMES)}",
            file=sys.stderr,
        )
        return 2
    peers = _peers(args.peers)
    if peers:
        known = {p for k in kernels for p in PEERS[k]}
        bad = [p for p in peers if p not in known]
        if bad:
            print(
                f"sparsegnn bench: error: unknown peer {bad}; known for {kernels}: {sorted(known)}",
                file=sys.stderr,
            )
            return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            "sparsegnn bench: error: --device cuda but torch sees no CUDA device", file=sys.stderr
        )
        return 2
    threads = args.threads or [torch.get_num_threads()]
    specs = list(dict.fromkeys(args.graph or [DEFAULT_GRAPH]))
    graphs = {}
    for spec in specs:
        start = time.perf_counter()
        try:
            graphs[spec] = load_graph(spec, seed=args.seed).to(args.device)
        except (ValueError, FileNotFoundError) as error:
            print(f"sparsegnn bench: error: --graph {spec}: {error}", file=sys.stderr)
            return 2
        g = graphs[spec]
        stats = g.degree_stats()
        print(
            f"graph {spec}: {g.num_nodes} nodes, {g.nnz} nonzeros, degree mean {stats['mean']:.1f} "
            f"max {stats['max']:.0f} (built in {time.perf_counter() - start:.1f} s)"
        )
        for order in args.order:
            if order == "own":
                continue
            start = time.perf_counter()
            try:
                perm = g.rcm_order() if order == "rcm" else g.metis_order()
            except (ValueError, ImportError) as error:
                print(f"sparsegnn bench: error: --order {order} on {spec}: {error}", file=sys.stderr)
                return 2
            graphs[f"{spec}@{order}"] = g.permute(perm)
            print(f"graph {spec}@{order}: renumbered in {time.perf_counter() - start:.1f} s")
        if "own" not in args.order:
            del graphs[spec]
    roofs = {}
    for t in threads:
        torch.set_num_threads(t)
        if args.bandwidth:
            roofs[f"{args.device}/{t}"] = Roofs(
                args.device, args.bandwidth, measure_peak_gflops(args.device), "given", t
            )
        else:
            roofs[f"{args.device}/{t}"] = measure_roofs(args.device)
        r = roofs[f"{args.device}/{t}"]
        print(
            f"roofs on {args.device} with {t} threads: {r.bandwidth_gbps:.1f} GB/s ({r.bandwidth_method}), "
            f"{r.peak_gflops:.0f} GFLOP/s (fp32 GEMM)"
        )
    env = environment()
    print(f"{env['cpu']}, {env['cores']} cores; torch {env['versions']['torch']}")
    _prewarm(args.device)
    cases = plan(kernels, list(graphs), args.feat, args.dtype, args.reduce, args.device, threads)
    result = sweep(
        cases,
        graphs,
        _backends(args.backend),
        peers,
        args.repeat,
        args.warmup,
        args.max_time,
        roofs,
        args.seed,
        args.trace,
        args.progress,
    )
    print()
    print(format_table(result.records))
    if result.interrupted:
        print(
            f"\ninterrupted: what finished is shown ({len({r.case_key() for r in result.records})} of "
            f"{len(cases)} cases started; the last one may be partial)"
        )
    if args.json:
        write_json(args.json, payload(result.records, env, roofs, graphs, result.interrupted))
        print(f"wrote {args.json}")
    if args.csv:
        rows = write_csv(args.csv, result.records, f"{env['host']}|{env['cpu']}")
        print(f"wrote {args.csv} ({rows} rows)")
    if args.plot and result.records:
        from .profile.plots import write_plots

        for path in write_plots(result.records, roofs, args.plot):
            print(f"wrote {path}")
    for path in result.traces:
        print(f"wrote {path}")
    return 130 if result.interrupted else 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .profile.plots import write_plots
    from .profile.report import read_json

    try:
        records, roofs = read_json(args.json)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"sparsegnn plot: error: {error}", file=sys.stderr)
        return 2
    for path in write_plots(records, roofs, args.out):
        print(f"wrote {path}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from .profile import tune as tuning

    if args.show:
        try:
            print(tuning.show(args.out))
        except ValueError as error:
            print(f"sparsegnn tune: error: {error}", file=sys.stderr)
            return 1
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("sparsegnn tune: error: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    if args.threads:
        from .profile.runner import set_threads

        set_threads(args.threads)
    config = (
        tuning.TuneConfig.quick(args.device)
        if args.quick
        else tuning.TuneConfig(device=args.device)
    )
    config.include_reference = args.include_reference
    for name in ("feat", "degrees", "nnz", "repeat"):
        value = getattr(args, name)
        if value is not None:
            setattr(config, "feats" if name == "feat" else name, value)
    start = time.perf_counter()
    policy = tuning.tune(config, progress=None if args.quiet else print)
    path = tuning.write_policy(policy, args.out)
    print(f"wrote {path} in {time.perf_counter() - start:.1f} s")
    if not args.quiet:
        print(tuning.show(path))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"bench": cmd_bench, "plot": cmd_plot, "tune": cmd_tune}[args.command](args)
    except KeyboardInterrupt:  # before the sweep started (graph building, roofs) or in tune
        print(f"\nsparsegnn {args.command}: interrupted before anything finished", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
