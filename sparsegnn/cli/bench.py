"""``sparsegnn bench``: time every sparsegnn backend against the peers a user would otherwise
pick (table, JSON, CSV, roofline / speed-up plots, Chrome traces)."""

from __future__ import annotations

import argparse
import time

import torch

from .args import UsageError, add_progress_flag, comma_list, positive_int

DEFAULT_GRAPH = "synthetic:power_law,100000,1000000"
KERNEL_NAMES = ("spmm", "segment", "sddmm", "int8", "layer", "qlayer", "step")
DTYPE_NAMES = ("fp32", "fp64", "bf16", "fp16")
REDUCE_NAMES = ("sum", "mean", "max", "min")
ORDER_NAMES = ("own", "rcm", "metis")


def add_parser(sub: argparse._SubParsersAction) -> None:
    bench = sub.add_parser("bench", help="profile kernels: every backend against every peer")
    bench.add_argument(
        "kernels",
        nargs="*",
        metavar="KERNEL",
        default=[],
        help=f"kernels to profile: {', '.join(KERNEL_NAMES)} (default spmm; qlayer = the converted INT8 GCN layer; step = one GCN training step)",
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
        type=comma_list("positive integers"),
        default=[64],
        help="feature widths, e.g. 16,64,256",
    )
    bench.add_argument(
        "--dtype", type=comma_list("dtypes", DTYPE_NAMES), default=["fp32"], help="e.g. fp32,bf16"
    )
    bench.add_argument(
        "--reduce", type=comma_list("reduces", REDUCE_NAMES), default=["sum"], help="e.g. sum,max"
    )
    bench.add_argument(
        "--backend",
        default="all",
        help="'all' (every available backend but the slow 'torch' reference), or names, "
        "e.g. cpu,numba or all,torch",
    )
    bench.add_argument(
        "--order",
        type=comma_list("node orders", ORDER_NAMES),
        default=["own"],
        help="node orders to time each graph in: own (as loaded), rcm (Graph.rcm_order), metis "
        "(Graph.metis_order, needs pymetis); e.g. own,metis. A renumbered graph is SPEC@ORDER",
    )
    bench.add_argument("--peers", default="all", help="'all', 'none' or comma-separated peer names")
    bench.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    bench.add_argument(
        "--threads",
        type=comma_list("positive integers"),
        default=None,
        help="torch (and numba) threads, a list sweeps them (default: torch's)",
    )
    bench.add_argument(
        "--repeat", type=positive_int, default=10, help="timed repeats (default 10)"
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
    add_progress_flag(bench)

    bench.set_defaults(run=run)


def parse_backends(text: str) -> list[str] | None:
    from .. import ops

    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return None
    if "all" in names:
        extra = [n for n in names if n != "all"]
        return list(dict.fromkeys([b for b in ops.registered_backends() if b != "torch"] + extra))
    return names


def parse_peers(text: str) -> list[str] | None:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return None
    return [] if names == ["none"] else names


def _quiet_torch_sparse_warnings() -> None:
    import warnings

    warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
    warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")


def run(args: argparse.Namespace) -> int:
    from ..profile import format_table
    from ..profile.graphs import load_graph
    from ..profile.machine import Roofs, environment, measure_peak_gflops, measure_roofs
    from ..profile.peers import PEERS
    from ..profile.report import payload, write_csv, write_json
    from ..profile.runner import plan, sweep

    _quiet_torch_sparse_warnings()
    kernels = list(dict.fromkeys(args.kernels)) or ["spmm"]
    unknown = [k for k in kernels if k not in KERNEL_NAMES]
    if unknown:
        raise UsageError(f"unknown kernel {unknown}; choose from {', '.join(KERNEL_NAMES)}")
    peers = parse_peers(args.peers)
    if peers:
        known = {p for k in kernels for p in PEERS[k]}
        bad = [p for p in peers if p not in known]
        if bad:
            raise UsageError(f"unknown peer {bad}; known for {kernels}: {sorted(known)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda but torch sees no CUDA device")
    threads = args.threads or [torch.get_num_threads()]
    specs = list(dict.fromkeys(args.graph or [DEFAULT_GRAPH]))
    graphs = {}
    for spec in specs:
        start = time.perf_counter()
        try:
            graphs[spec] = load_graph(spec, seed=args.seed).to(args.device)
        except (ValueError, FileNotFoundError) as error:
            raise UsageError(f"--graph {spec}: {error}") from None
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
                raise UsageError(f"--order {order} on {spec}: {error}") from None
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
    cases = plan(kernels, list(graphs), args.feat, args.dtype, args.reduce, args.device, threads)
    result = sweep(
        cases,
        graphs,
        parse_backends(args.backend),
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
        from ..profile.plots import write_plots

        for path in write_plots(result.records, roofs, args.plot):
            print(f"wrote {path}")
    for path in result.traces:
        print(f"wrote {path}")
    return 130 if result.interrupted else 0


