"""Benchmark of the C++ CPU kernels (``torch.ops.sparsegnn_C``) against the CPU peers.

All figures come from one run, on one machine, as medians of repeats:

- forward sum SpMM vs ``torch.sparse.mm`` (CSR, MKL), PyG's default path (index_select +
  index_add_), scipy CSR @ dense, torch_scatter / torch_sparse (when importable);
- forward + backward w.r.t. x (ours: SpMM over the transpose CSR) vs torch.sparse.mm with autograd;
- max vs ``torch.sparse.mm(A, x, reduce="amax")`` (ours forward-only, without the arg, as amax; and
  with the arg that training needs);
- INT8 SpMM (VNNI where available) vs our float32 SpMM at F = 128;
- achieved bandwidth (compulsory bytes / time) as a fraction of a streaming-read bandwidth
  measured in the same run;
- gather roofs: our forward sum on the graph's own columns against the same rowptr with columns
  that always hit cache and columns that always miss (``gather_roofs``), which bound what any
  kernel with this loop can reach on this machine;
- node order: our forward sum before and after ``Graph.permute`` by ``Graph.rcm_order()`` and
  ``Graph.metis_order()`` (when pymetis is importable) on both graphs and on a stochastic block
  model of the same size (communities, ids at random);
- SIMD paths (``--only isa``): ours forced onto each of ``--isa`` (``SPARSEGNN_ISA``, set around
  each call) next to each other and to torch in one round-robin (sum, max, max+arg, forward +
  backward, INT8), and the gather roofs of each path;
- max backward (``--only argbwd``): max forward + backward against torch.sparse.mm(reduce="amax")
  with autograd, and ``spmm_arg_backward`` in its schedule and in the one it replaced.

Graphs: a Chung-Lu power-law graph of ogbn-arxiv's size (169,343 nodes, ~2.3M nonzeros) and an
R-MAT graph of similar size (scale 17, ~2.2M nonzeros), from ``sparsegnn.data`` when importable
(local numpy generators otherwise).

torch_scatter and torch_sparse have no wheels for torch 2.13; build them from source into a folder
(``pip install --no-deps --no-build-isolation --target DIR torch-scatter torch-sparse``) and run
with ``PYTHONPATH=DIR`` to add them to the same run.

Usage: ``python bench/spmm_cpu.py [--quick] [--threads 2 1] [--only table roofs order isa argbwd]
[--isa avx512 avx2] [--write]``; ``--write`` puts the tables into bench/RESULTS.md under "CPU
kernels", "CPU kernels: gather roofs", "CPU kernels: node order", "CPU kernels: SIMD paths" and
"CPU kernels: max/min backward".
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sparsegnn._C  # noqa: E402,F401  (registers torch.ops.sparsegnn_C)

OPS = torch.ops.sparsegnn_C
RESULTS = ROOT / "bench" / "RESULTS.md"


# ----------------------------------------------------------------------------- graphs
def _local_power_law(n: int, e: int, exponent: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = (np.arange(1, n + 1) + 10.0) ** (-1.0 / (exponent - 1.0))
    p = w / w.sum()
    src = rng.choice(n, size=int(e * 1.05), p=p)
    dst = rng.choice(n, size=int(e * 1.05), p=p)
    perm = rng.permutation(n)
    key = np.unique(perm[dst].astype(np.int64) * n + perm[src])[:e]
    return np.stack([key % n, key // n])


def _local_rmat(scale: int, edge_factor: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n, e = 1 << scale, edge_factor << scale
    a, b, c = 0.57, 0.19, 0.19
    src = np.zeros(int(e * 1.1), np.int64)
    dst = np.zeros_like(src)
    for lvl in range(scale):
        u = rng.random(src.size)
        s_bit = u >= a + b
        d_bit = ((u >= a) & (u < a + b)) | (u >= a + b + c)
        src |= s_bit.astype(np.int64) << lvl
        dst |= d_bit.astype(np.int64) << lvl
    perm = rng.permutation(n)
    key = np.unique(perm[dst] * n + perm[src])[:e]
    return np.stack([key % n, key // n])


def make_graphs(quick: bool) -> dict[str, tuple[torch.Tensor, int]]:
    n, e = (20_000, 270_000) if quick else (169_343, 2_300_000)
    scale, ef = (14, 16) if quick else (17, 17)
    try:
        from sparsegnn.data import power_law, rmat

        pl = power_law(n, e, exponent=2.1, seed=0).edge_index
        rm = rmat(scale, ef, seed=0).edge_index
        src = "sparsegnn.data"
    except Exception as exc:  # pragma: no cover - fallback when the data package is absent
        print(f"# sparsegnn.data unavailable ({exc}); local generators")
        pl = torch.from_numpy(_local_power_law(n, e, 2.1, 0))
        rm = torch.from_numpy(_local_rmat(scale, ef, 0))
        src = "local"
    print(f"# graphs from {src}")
    return {"power-law": (pl, n), "rmat": (rm, 1 << scale)}


class CSR:
    """CSR (row = target) plus its transpose and the peers' formats."""

    def __init__(self, edge_index: torch.Tensor, n: int) -> None:
        src, dst = edge_index[0].long(), edge_index[1].long()
        self.n, self.nnz = n, src.numel()
        order = torch.argsort(dst * n + src)
        self.row, self.col64 = dst[order], src[order]
        self.rowptr = torch.zeros(n + 1, dtype=torch.long)
        self.rowptr[1:] = torch.bincount(self.row, minlength=n).cumsum(0)
        self.col = self.col64.int()
        order_t = torch.argsort(self.col64 * n + self.row)
        self.t_rowptr = torch.zeros(n + 1, dtype=torch.long)
        self.t_rowptr[1:] = torch.bincount(self.col64, minlength=n).cumsum(0)
        self.t_col = self.row[order_t].int()
        ones = torch.ones(self.nnz)
        self.torch_csr = torch.sparse_csr_tensor(self.rowptr, self.col64, ones, (n, n), check_invariants=False)
        import scipy.sparse as sp

        self.scipy = sp.csr_matrix((ones.numpy(), self.col64.numpy(), self.rowptr.numpy()), shape=(n, n))
        deg = self.rowptr.diff()
        self.max_deg = int(deg.max()) if n else 0


# ----------------------------------------------------------------------------- timing
def bench(fn, repeats: int, min_time: float = 0.0) -> float:
    """Median wall time in ms of ``fn()`` after one warm-up call."""
    fn()
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < repeats or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 5 * repeats:
            break
    return statistics.median(times) * 1e3


def bench_group(fns: dict, repeats: int) -> dict:
    """Median ms of each function, timed round-robin (ours and peers alternate, so machine noise
    hits them alike); one warm-up call each first."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def stream_bandwidth(repeats: int) -> float:
    """Streaming-read bandwidth in GB/s: sum over a 1 GiB float32 buffer (>> LLC)."""
    buf = torch.ones(1 << 28)
    ms = bench(lambda: buf.sum(), repeats)
    return buf.numel() * 4 / (ms * 1e-3) / 1e9


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ----------------------------------------------------------------------------- peers
def pyg_path(g: CSR, x: torch.Tensor) -> torch.Tensor:
    msg = x.index_select(0, g.col64)
    return torch.zeros(g.n, x.shape[1], dtype=x.dtype).index_add_(0, g.row, msg)


def peers_available() -> dict[str, bool]:
    out = {}
    for mod in ("torch_scatter", "torch_sparse"):
        try:
            __import__(mod)
            out[mod] = True
        except Exception:
            out[mod] = False
    return out


def source_built_peers(g: CSR, x: torch.Tensor, peers: dict[str, bool]) -> dict:
    """torch_scatter's fastest SpMM route (gather + segment_csr) and torch_sparse's CSR SpMM
    (``torch_sparse.matmul``, sum and max), where importable."""
    fns = {}
    if peers["torch_scatter"]:
        import torch_scatter

        fns["ts_sum"] = lambda: torch_scatter.segment_csr(x.index_select(0, g.col64), g.rowptr, reduce="sum")
    if peers["torch_sparse"]:
        import torch_sparse

        if not hasattr(g, "sparse_tensor"):
            g.sparse_tensor = torch_sparse.SparseTensor(rowptr=g.rowptr, col=g.col64, sparse_sizes=(g.n, g.n))
        fns["tsp_sum"] = lambda: torch_sparse.matmul(g.sparse_tensor, x, reduce="sum")
        fns["tsp_max"] = lambda: torch_sparse.matmul(g.sparse_tensor, x, reduce="max")
    return fns


def run(args) -> list[dict]:
    rows = []
    graphs = make_graphs(args.quick)
    feats = [16, 64, 128] if args.quick else [16, 32, 64, 128, 256]
    reps = 3 if args.quick else args.repeats
    peers = peers_available()
    for name, (ei, n) in graphs.items():
        g = CSR(ei, n)
        print(f"# {name}: {g.n} nodes, {g.nnz} nonzeros, max in-degree {g.max_deg}")
        for threads in args.threads:
            torch.set_num_threads(threads)
            for F in feats:
                torch.manual_seed(0)
                x = torch.randn(g.n, F)
                r = {"graph": name, "threads": threads, "F": F}
                ours = lambda: OPS.spmm(g.rowptr, g.col, None, x, "sum")  # noqa: E731

                def ours_cold():  # no cached output block to reuse: pays the page faults
                    sparsegnn._C.cpu_release_cached_outputs()
                    ours()

                group = {
                    "ours_sum": ours,
                    "ours_cold": ours_cold,
                    "torch_sum": lambda: torch.sparse.mm(g.torch_csr, x),
                    # forward only, like amax (what ops.spmm runs when nothing needs a gradient)
                    "ours_max": lambda: OPS.spmm(g.rowptr, g.col, None, x, "max", need_arg=False),
                    # with the int64 arg that the backward pass needs (training)
                    "ours_max_arg": lambda: OPS.spmm(g.rowptr, g.col, None, x, "max"),
                    "torch_max": lambda: torch.sparse.mm(g.torch_csr, x, reduce="amax"),
                }
                gout = torch.randn(g.n, F)

                def ours_fb():
                    OPS.spmm(g.rowptr, g.col, None, x, "sum")
                    OPS.spmm(g.t_rowptr, g.t_col, None, gout, "sum")

                xr = x.clone().requires_grad_()

                def torch_fb():
                    xr.grad = None
                    torch.sparse.mm(g.torch_csr, xr).backward(gout)

                group["ours_fb"] = ours_fb
                group["torch_fb"] = torch_fb
                group.update(source_built_peers(g, x, peers))
                if F == 128:
                    scale = x.abs().max() / 127
                    xq = torch.clamp(torch.round(x / scale), -127, 127).to(torch.int8)
                    rs = torch.ones(g.n)
                    cs = torch.full((F,), float(scale))
                    group["ours_int8"] = lambda: OPS.spmm_int8(g.rowptr, g.col, None, xq, rs, cs)
                r.update(bench_group(group, reps))
                if threads == args.threads[0] or F == 128:
                    xs = x.numpy()
                    r["scipy_sum"] = bench(lambda: g.scipy @ xs, max(1, reps // 2))
                if F in (16, 128) and not args.no_pyg:
                    r["pyg_sum"] = bench(lambda: pyg_path(g, x), max(1, reps // 3))
                # compulsory traffic of our forward sum: gathered rows + col + output + rowptr
                nbytes = g.nnz * F * 4 + g.nnz * 4 + g.n * F * 4 + (g.n + 1) * 8
                r["gbps"] = nbytes / (r["ours_sum"] * 1e-3) / 1e9
                rows.append(r)
                print(fmt_row(r, args.bw), flush=True)
    print(f"# torch_scatter: {'present' if peers['torch_scatter'] else 'absent'}; "
          f"torch_sparse: {'present' if peers['torch_sparse'] else 'absent'}")
    if any(peers.values()):
        print(PEER_HEADER)
        for r in rows:
            print(fmt_peer_row(r))
    return rows


def sep(header: str) -> str:
    """The markdown separator row under a table header."""
    return "|" + "---|" * (header.count("|") - 1)


# ----------------------------------------------------------------------------- gather roofs
HIT_ROWS = 2048  # x rows of the all-hit variant: 2048 * F * 4 bytes stay in L2 / L3 for F <= 128


def roof_inputs(g: CSR, F: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(col int32 [nnz], x [*, F]) of the three gather-roof variants over g's rowptr: the graph's
    own columns (``graph``); ``col % 2048`` over the same x, so every gathered row is in cache
    (``hit``); a random permutation of 0..nnz-1 over an [nnz, F] x, so every edge gathers a row
    never read before (``miss``)."""
    x = torch.randn(g.n, F)
    return {
        "graph": (g.col, x),
        "hit": ((g.col % min(HIT_ROWS, g.n)).int(), x),
        "miss": (torch.randperm(g.nnz, generator=torch.Generator().manual_seed(0)).int(), torch.randn(g.nnz, F)),
    }


def gather_roofs(g: CSR, F: int, repeats: int) -> dict:
    """Our forward sum on each of ``roof_inputs``, timed round-robin (ms). ``hit_share`` =
    (miss - graph) / (miss - hit): where the graph's time sits between the two, as a fraction of
    gathered rows served from cache; ``miss_gbps``: gathered bytes / time of the all-miss variant
    (the machine's random-row read bandwidth with this loop)."""
    inputs = roof_inputs(g, F)
    t = bench_group({k: (lambda c=c, x=x: OPS.spmm(g.rowptr, c, None, x, "sum")) for k, (c, x) in inputs.items()},
                    repeats)
    t["hit_share"] = (t["miss"] - t["graph"]) / max(t["miss"] - t["hit"], 1e-9)
    t["miss_gbps"] = g.nnz * F * 4 / (t["miss"] * 1e-3) / 1e9
    return t


ROOF_HEADER = ("| graph | thr | F | ours sum ms | all-hit ms | all-miss ms | hit share | all-miss GB/s "
               "| ours / all-hit |")


def fmt_roof_row(r: dict) -> str:
    cells = [r["graph"], str(r["threads"]), str(r["F"]), _f(r["graph_ms"]), _f(r["hit"]), _f(r["miss"]),
             _f(r["hit_share"], "{:.2f}"), _f(r["miss_gbps"]), _f(r["graph_ms"] / r["hit"], "{:.1f}x")]
    return "| " + " | ".join(cells) + " |"


def run_roofs(args) -> list[dict]:
    """Gather roofs at the largest thread count, F = 16 and 128, on both graphs."""
    rows = []
    threads = max(args.threads)
    torch.set_num_threads(threads)
    print(ROOF_HEADER)
    print(sep(ROOF_HEADER))
    for name, (ei, n) in make_graphs(args.quick).items():
        g = CSR(ei, n)
        for F in (16, 128):
            torch.manual_seed(0)
            t = gather_roofs(g, F, 3 if args.quick else args.repeats)
            r = {"graph": name, "threads": threads, "F": F, "graph_ms": t.pop("graph"), **t}
            rows.append(r)
            print(fmt_roof_row(r), flush=True)
    return rows


# ----------------------------------------------------------------------------- SIMD paths
def on_env(env: dict[str, str], fn):
    """fn run with the variables of env set (the kernels read them at each call), then restored."""

    def call():
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            return fn()
        finally:
            for k, v in old.items():
                if v is None:
                    del os.environ[k]
                else:
                    os.environ[k] = v

    return call


def on_isa(isa: str, fn):
    """fn run with SPARSEGNN_ISA=isa."""
    return on_env({"SPARSEGNN_ISA": isa}, fn)


def isa_group(g: CSR, x: torch.Tensor, isas: list[str]) -> dict:
    """torch's sum, amax and forward + backward, and ours on every path of ``isas`` (sum, max
    without and with the arg, forward + backward, INT8 at F = 128), for one round-robin."""
    F = x.shape[1]
    gout = torch.randn(g.n, F)
    xr = x.clone().requires_grad_()

    def torch_fb():
        xr.grad = None
        torch.sparse.mm(g.torch_csr, xr).backward(gout)

    def ours_fb():
        OPS.spmm(g.rowptr, g.col, None, x, "sum")
        OPS.spmm(g.t_rowptr, g.t_col, None, gout, "sum")

    fns = {"torch_sum": lambda: torch.sparse.mm(g.torch_csr, x),
           "torch_max": lambda: torch.sparse.mm(g.torch_csr, x, reduce="amax"),
           "torch_fb": torch_fb}
    scale = x.abs().max() / 127
    xq = torch.clamp(torch.round(x / scale), -127, 127).to(torch.int8)
    rs, cs = torch.ones(g.n), torch.full((F,), float(scale))
    for isa in isas:
        fns[f"sum@{isa}"] = on_isa(isa, lambda: OPS.spmm(g.rowptr, g.col, None, x, "sum"))
        fns[f"max@{isa}"] = on_isa(isa, lambda: OPS.spmm(g.rowptr, g.col, None, x, "max", need_arg=False))
        fns[f"max_arg@{isa}"] = on_isa(isa, lambda: OPS.spmm(g.rowptr, g.col, None, x, "max"))
        fns[f"fb@{isa}"] = on_isa(isa, ours_fb)
        if F == 128:
            fns[f"int8@{isa}"] = on_isa(isa, lambda: OPS.spmm_int8(g.rowptr, g.col, None, xq, rs, cs))
    return fns


def sweep(args) -> tuple[list[int], int]:
    """The feature widths and repeats of the SIMD-path and max-backward tables."""
    return ([16, 64, 128], 3) if args.quick else ([16, 32, 64, 128, 256], args.repeats)


def isa_header(isas: list[str]) -> str:
    cells = ["graph", "thr", "F", "torch.sparse.mm ms", "torch amax ms", "torch f+b ms"]
    for isa in isas:
        cells += [f"{isa} sum ms", "x torch", f"{isa} max ms", "x amax", "max / sum", f"{isa} max+arg ms",
                  f"{isa} f+b ms", "x torch f+b", f"{isa} int8 ms", "x fp32"]
    return "| " + " | ".join(cells) + " |"


def fmt_isa_row(r: dict, isas: list[str]) -> str:
    def ratio(a, b, fmt="{:.2f}x"):
        return _f(None if r.get(a) is None or r.get(b) is None else r[b] / r[a], fmt)

    cells = [r["graph"], str(r["threads"]), str(r["F"]), _f(r["torch_sum"]), _f(r["torch_max"]), _f(r["torch_fb"])]
    for isa in isas:
        s, m, fb, q = f"sum@{isa}", f"max@{isa}", f"fb@{isa}", f"int8@{isa}"
        cells += [_f(r[s]), ratio(s, "torch_sum"), _f(r[m]), ratio(m, "torch_max"), ratio(s, m, "{:.2f}"),
                  _f(r[f"max_arg@{isa}"]), _f(r[fb]), ratio(fb, "torch_fb"), _f(r.get(q)), ratio(q, s)]
    return "| " + " | ".join(cells) + " |"


ISA_ROOF_HEADER = ROOF_HEADER.replace("| graph | thr | F |", "| graph | path | thr | F |")


def run_isa(args) -> tuple[list[dict], list[dict]]:
    """The SIMD-path table (every thread count, every F) and each path's gather roofs (largest
    thread count, F = 16 and 128), on both graphs."""
    isas = args.isa
    for isa in isas:
        on_isa(isa, sparsegnn._C.cpu_isa)()  # an error now if the CPU lacks one
    header = isa_header(isas)
    print(header)
    print(sep(header))
    feats, reps = sweep(args)
    rows, roofs = [], []
    for name, (ei, n) in make_graphs(args.quick).items():
        g = CSR(ei, n)
        for threads in args.threads:
            torch.set_num_threads(threads)
            for F in feats:
                torch.manual_seed(0)
                r = {"graph": name, "threads": threads, "F": F}
                r.update(bench_group(isa_group(g, torch.randn(g.n, F), isas), reps))
                rows.append(r)
                print(fmt_isa_row(r, isas), flush=True)
        torch.set_num_threads(max(args.threads))
        for F in (16, 128):
            torch.manual_seed(0)
            inputs = roof_inputs(g, F)
            fns = {f"{k}@{isa}": on_isa(isa, lambda c=c, x=x: OPS.spmm(g.rowptr, c, None, x, "sum"))
                   for isa in isas for k, (c, x) in inputs.items()}
            t = bench_group(fns, reps)
            for isa in isas:
                hit, miss, own = t[f"hit@{isa}"], t[f"miss@{isa}"], t[f"graph@{isa}"]
                roofs.append({"graph": name, "isa": isa, "threads": max(args.threads), "F": F, "graph_ms": own,
                              "hit": hit, "miss": miss, "hit_share": (miss - own) / max(miss - hit, 1e-9),
                              "miss_gbps": g.nnz * F * 4 / (miss * 1e-3) / 1e9})
    print(ISA_ROOF_HEADER)
    print(sep(ISA_ROOF_HEADER))
    for r in roofs:
        print(fmt_isa_roof_row(r), flush=True)
    return rows, roofs


def fmt_isa_roof_row(r: dict) -> str:
    return fmt_roof_row(r).replace(f"| {r['graph']} |", f"| {r['graph']} | {r['isa']} |", 1)


def write_isa(rows: list[dict], roofs: list[dict], args, command: str) -> None:
    header = isa_header(args.isa)
    flags = " ".join(f for f in ("avx512f", "avx2", "fma", "f16c", "avx_vnni", "avx512_vnni") if f in _cpu_flags())
    _write_section("CPU kernels: SIMD paths", [
        "## CPU kernels: SIMD paths",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical CPUs visible; flags: {flags}); paths it runs:"
        f" {', '.join(sparsegnn._C.cpu_isa_paths())}; torch {torch.__version__}",
        f"- threads: {', '.join(map(str, args.threads))}; streaming-read bandwidth in the same run: {args.bw:.1f} GB/s",
        f"- command: `{command}`",
        "- ours forced onto each path with `SPARSEGNN_ISA` (read by the kernels at each call, set around"
        " each call), all paths and torch timed round-robin in one process, so they share the machine's"
        " noise (a shared 2-core VM); float32, unweighted CSR,"
        " medians in ms. `x torch` / `x amax` / `x torch f+b`: torch time / ours; `max / sum`: our max"
        " (forward-only, `need_arg=False`, as amax) over our sum; `max+arg`: with the int64 arg that"
        " training needs; f+b: forward sum + backward w.r.t. x (SpMM over the transpose) vs"
        " torch.sparse.mm with autograd; int8: unweighted `spmm_int8` at F = 128 (sign-extended int8"
        " added in int16, 512-bit on `avx512`, 256-bit on `avx2`), `x fp32`: our float32 sum on the same"
        " path / int8.",
        "",
        header,
        sep(header),
    ] + [fmt_isa_row(r, args.isa) for r in rows] + [
        "",
        "Gather roofs of each path (as in \"CPU kernels: gather roofs\": the graph's own columns,"
        " all-hit columns `col % 2048`, all-miss columns a permutation over an [nnz, F] x; every path"
        f" and variant in one round-robin, {max(args.threads)} threads):",
        "",
        ISA_ROOF_HEADER,
        sep(ISA_ROOF_HEADER),
    ] + [fmt_isa_roof_row(r) for r in roofs] + [""])


# ----------------------------------------------------------------------------- max backward
ARG_HEADER = ("| graph | thr | F | torch amax f+b ms | ours max f+b ms | x torch | ours arg bwd ms |"
              " 16-wide, no prefetch ms | x |")


def run_argbwd(args) -> list[dict]:
    """Max SpMM forward (with the arg) + backward w.r.t. x: ours (``spmm`` + ``spmm_arg_backward``)
    against torch.sparse.mm(reduce="amax") with autograd, and our backward alone in its own
    schedule and in the one it replaced (16-feature slices, no prefetch: ``SPARSEGNN_ARG_SLICE=16
    SPARSEGNN_PREFETCH=0``). Ours round-robin, torch after them on its own: interleaved, torch's
    backward slowed whatever ran next (R-MAT, F = 256: our f+b 137 ms alone, 959 ms after it)."""
    print(ARG_HEADER)
    print(sep(ARG_HEADER))
    feats, reps = sweep(args)
    rows = []
    for name, (ei, n) in make_graphs(args.quick).items():
        g = CSR(ei, n)
        for threads in args.threads:
            torch.set_num_threads(threads)
            for F in feats:
                torch.manual_seed(0)
                x, gout = torch.randn(g.n, F), torch.randn(g.n, F)
                _, arg = OPS.spmm(g.rowptr, g.col, None, x, "max")
                xr = x.clone().requires_grad_()

                def torch_fb():
                    xr.grad = None
                    torch.sparse.mm(g.torch_csr, xr, reduce="amax").backward(gout)

                def ours_fb():
                    _, a = OPS.spmm(g.rowptr, g.col, None, x, "max")
                    OPS.spmm_arg_backward(g.col, None, a, gout, g.n)

                bwd = lambda: OPS.spmm_arg_backward(g.col, None, arg, gout, g.n)  # noqa: E731
                r = {"graph": name, "threads": threads, "F": F}
                r.update(bench_group({"ours_fb": ours_fb, "ours_bwd": bwd,
                                      "old_bwd": on_env({"SPARSEGNN_ARG_SLICE": "16", "SPARSEGNN_PREFETCH": "0"},
                                                        bwd)}, reps))
                r.update(bench_group({"torch_fb": torch_fb}, reps))
                rows.append(r)
                print(fmt_arg_row(r), flush=True)
    return rows


def fmt_arg_row(r: dict) -> str:
    cells = [r["graph"], str(r["threads"]), str(r["F"]), _f(r["torch_fb"]), _f(r["ours_fb"]),
             _f(r["torch_fb"] / r["ours_fb"], "{:.2f}x"), _f(r["ours_bwd"]), _f(r["old_bwd"]),
             _f(r["old_bwd"] / r["ours_bwd"], "{:.2f}x")]
    return "| " + " | ".join(cells) + " |"


def write_argbwd(rows: list[dict], args, command: str) -> None:
    _write_section("CPU kernels: max/min backward", [
        "## CPU kernels: max/min backward",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu_model()}; torch {torch.__version__}; threads: {', '.join(map(str, args.threads))};"
        f" streaming-read bandwidth in the same run: {args.bw:.1f} GB/s",
        f"- command: `{command}`",
        "- float32, unweighted CSR, medians in ms, timed round-robin per row. f+b: max forward with the"
        " arg plus the backward w.r.t. x (ours: `spmm` + `spmm_arg_backward`; torch:"
        " `torch.sparse.mm(reduce=\"amax\")` with autograd, timed after ours, not interleaved: its backward"
        " slowed whatever ran next); `x torch`: torch / ours. The backward alone"
        " in its schedule (feature slices F / threads wide, scatter targets prefetched 4 rows ahead) and"
        " in the one it replaced (16-feature slices, no prefetch); `x`: old / new. Both sum every"
        " element in row order: the same bits.",
        "",
        ARG_HEADER,
        sep(ARG_HEADER),
    ] + [fmt_arg_row(r) for r in rows] + [""])


def _cpu_flags() -> set[str]:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# ----------------------------------------------------------------------------- node order
def run_order(args) -> list[dict]:
    """Our forward sum (F = 128, largest thread count) on each graph in its own node order and
    renumbered by ``Graph.rcm_order()`` and ``Graph.metis_order()`` (when pymetis is importable),
    x permuted alike, timed round-robin; the SBM graph has the arxiv-size graph's nodes and mean
    degree, 40 communities (edge homophily 0.8), ids at random."""
    from sparsegnn import Graph
    from sparsegnn.data import sbm

    threads = max(args.threads)
    torch.set_num_threads(threads)
    graphs = make_graphs(args.quick)
    n = graphs["power-law"][1]
    graphs["sbm"] = (sbm(n, 40, 13.6, homophily=0.8, num_features=1, seed=0).edge_index, n)
    methods = {"rcm": Graph.rcm_order}
    try:
        import pymetis  # noqa: F401

        methods["metis"] = Graph.metis_order
    except ImportError:
        print("# pymetis not importable: no METIS order")
    print(ORDER_HEADER)
    print(sep(ORDER_HEADER))
    rows = []
    for name, (ei, n) in graphs.items():
        graph = Graph.from_edge_index(ei, n).to_index_dtype(torch.int32)
        x = torch.randn(n, 128)
        fns = {"own": lambda g=graph, x=x: OPS.spmm(g.rowptr, g.col, None, x, "sum")}
        r = {"graph": name, "threads": threads, "nnz": graph.nnz}
        for method, order_of in methods.items():
            t0 = time.perf_counter()
            order = order_of(graph)
            r[f"{method}_s"] = time.perf_counter() - t0
            moved, x_moved = graph.permute(order), x[order]
            fns[method] = lambda g=moved, x=x_moved: OPS.spmm(g.rowptr, g.col, None, x, "sum")
        r.update(bench_group(fns, 3 if args.quick else args.repeats))
        rows.append(r)
        print(fmt_order_row(r), flush=True)
    return rows


ORDER_HEADER = ("| graph | thr | nnz | own order ms | RCM ms | x | rcm_order() s | METIS ms | x "
                "| metis_order() s |")


def fmt_order_row(r: dict) -> str:
    def gain(method):
        return [_f(r.get(method)), _f(r["own"] / r[method] if method in r else None, "{:.2f}x"),
                _f(r.get(f"{method}_s"), "{:.1f}")]

    cells = [r["graph"], str(r["threads"]), str(r["nnz"]), _f(r["own"])] + gain("rcm") + gain("metis")
    return "| " + " | ".join(cells) + " |"


HEADER = ("| graph | thr | F | ours sum ms | torch.sparse.mm ms | x | ours cold ms | x cold | scipy ms | PyG path ms | x PyG "
          "| ours f+b ms | torch f+b ms | x | ours max ms | torch amax ms | x | ours max+arg ms | int8 ms | x fp32 "
          "| GB/s | % of read BW |")
SEP = sep(HEADER)


def _f(v, fmt="{:.1f}"):
    return "-" if v is None else fmt.format(v)


def fmt_row(r: dict, bw: float) -> str:
    def ratio(a, b):
        return None if r.get(a) is None or r.get(b) is None else r[b] / r[a]

    cells = [r["graph"], str(r["threads"]), str(r["F"]), _f(r["ours_sum"]), _f(r["torch_sum"]),
             _f(ratio("ours_sum", "torch_sum"), "{:.2f}x"), _f(r["ours_cold"]),
             _f(ratio("ours_cold", "torch_sum"), "{:.2f}x"), _f(r.get("scipy_sum")), _f(r.get("pyg_sum")),
             _f(ratio("ours_sum", "pyg_sum"), "{:.1f}x"), _f(r["ours_fb"]), _f(r["torch_fb"]),
             _f(ratio("ours_fb", "torch_fb"), "{:.2f}x"), _f(r["ours_max"]), _f(r["torch_max"]),
             _f(ratio("ours_max", "torch_max"), "{:.2f}x"), _f(r.get("ours_max_arg")), _f(r.get("ours_int8")),
             _f(ratio("ours_int8", "ours_sum"), "{:.2f}x"), _f(r["gbps"]), _f(100 * r["gbps"] / bw, "{:.0f}%")]
    return "| " + " | ".join(cells) + " |"


PEER_HEADER = ("| graph | thr | F | ours sum ms | torch_scatter ms | x | torch_sparse ms | x | ours max+arg ms "
               "| torch_sparse max ms | x |")


def fmt_peer_row(r: dict) -> str:
    def ratio(a, b):
        return None if r.get(a) is None or r.get(b) is None else r[b] / r[a]

    cells = [r["graph"], str(r["threads"]), str(r["F"]), _f(r["ours_sum"]), _f(r.get("ts_sum")),
             _f(ratio("ours_sum", "ts_sum"), "{:.2f}x"), _f(r.get("tsp_sum")),
             _f(ratio("ours_sum", "tsp_sum"), "{:.2f}x"), _f(r["ours_max_arg"]), _f(r.get("tsp_max")),
             _f(ratio("ours_max_arg", "tsp_max"), "{:.2f}x")]
    return "| " + " | ".join(cells) + " |"


def write_results(rows: list[dict], args, bw: float, command: str) -> None:
    lines = [
        "## CPU kernels",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical CPUs visible; shared machine, expect noise)",
        f"- threads: {', '.join(map(str, args.threads))} (torch.set_num_threads); torch {torch.__version__}",
        f"- VNNI: {sparsegnn._C.cpu_has_vnni()}, AVX-512: {sparsegnn._C.cpu_has_avx512()}",
        f"- streaming-read bandwidth measured in the same run: {bw:.1f} GB/s (sum of a 1 GiB buffer)",
        f"- command: `{command}`",
        "- float32, unweighted CSR (col int32 for ours, int64 for torch/scipy), times are medians in ms;"
        " `x` columns are speed-ups of ours over the peer (peer time / our time). Outputs of >= 32 MiB"
        " (here F >= 64) are huge-page blocks that ours keeps for reuse once freed, as a training loop"
        " would reuse them; `ours cold` empties that cache before every call, so it pays the page"
        " faults that torch pays on every call. GB/s = compulsory"
        " bytes of our forward sum (nnz*F*4 gathered + col + output) / time; above 100% means cache"
        " reuse of hot rows. PyG path = index_select + index_add_ (run at F = 16 and 128 only)."
        " `ours max` is the forward-only call (`need_arg=False`, what `ops.spmm` runs when nothing"
        " needs a gradient), as `amax` is; `ours max+arg` also writes the int64 arg that training needs.",
        "",
        HEADER,
        SEP,
    ] + [fmt_row(r, bw) for r in rows] + [""]
    if any(k in r for r in rows for k in ("ts_sum", "tsp_sum")):
        lines += [
            "Source-built peers, timed in the same run and round-robin with ours: torch_scatter"
            " (gather + `segment_csr`, its fastest SpMM route) and torch_sparse (`matmul` of a"
            " `SparseTensor`, sum and max; its max returns the arg too, so ours is timed with it), built from their PyPI sources against this torch (no wheels"
            " exist for it): `pip install --no-deps --no-build-isolation --target DIR torch-scatter"
            " torch-sparse` (~15 min on 2 cores), then run with `PYTHONPATH=DIR`.",
            "",
            PEER_HEADER,
            sep(PEER_HEADER),
        ] + [fmt_peer_row(r) for r in rows] + [""]
    else:
        lines += ["torch_scatter / torch_sparse: not importable in this run, so absent.", ""]
    _write_section("CPU kernels", lines)


def _write_section(title: str, lines: list[str], path: Path = RESULTS) -> None:
    """Puts lines into path (bench/RESULTS.md) as the section ``## <title>`` (lines[0]): in place of
    the one there (up to the next ``## ``), or appended."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    block = "\n".join(lines)
    pattern = re.compile(r"## " + re.escape(title) + r"\n.*?(?=\n## |\Z)", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block.rstrip("\n") + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text.rstrip("\n") + "\n")
    print(f"# wrote {path}")


def _write_table(title: str, machine: str, command: str, about: str, header: str, rows: list[str]) -> None:
    """A RESULTS.md section: date and machine, command, what the table holds, the table."""
    _write_section(title, [
        f"## {title}",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; CPU: {cpu_model()}{machine}",
        f"- command: `{command}`",
        f"- {about}",
        "",
        header,
        sep(header),
    ] + rows + [""])


def write_roofs(rows: list[dict], bw: float, command: str) -> None:
    _write_table(
        "CPU kernels: gather roofs", f"; streaming-read bandwidth in the same run: {bw:.1f} GB/s", command,
        "Our forward sum (float32) with the graph's rowptr and three column arrays, timed round-robin:"
        " the graph's own columns; `col % 2048` over the same x (every gathered row is in cache:"
        " all-hit); a random permutation of 0..nnz-1 over an [nnz, F] x (every edge gathers a row"
        " never read before: all-miss). Hit share = (all-miss - ours) / (all-miss - all-hit), the"
        " fraction of gathered rows that the graph's time says came from cache. All-miss GB/s ="
        " gathered bytes / time: the machine's random-row read bandwidth with this loop.",
        ROOF_HEADER, [fmt_roof_row(r) for r in rows])


def write_order(rows: list[dict], command: str) -> None:
    _write_table(
        "CPU kernels: node order", "", command,
        "Our forward sum, float32, F = 128, on each graph in its own node order and renumbered by"
        " `Graph.permute` with `Graph.rcm_order()` (reverse Cuthill-McKee, scipy) and"
        " `Graph.metis_order()` (METIS parts of ~1,024 nodes, pymetis), x permuted alike; timed"
        " round-robin; the order's own time (once per graph) beside it. `sbm`: a stochastic block"
        " model with the power-law graph's node count and mean degree, 40 communities, edge"
        " homophily 0.8 and node ids at random, as a stand-in for real graphs with community"
        " structure.",
        ORDER_HEADER, [fmt_order_row(r) for r in rows])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small graphs, few repeats")
    p.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--no-pyg", action="store_true", help="skip the (slow) PyG path")
    p.add_argument("--only", nargs="+", choices=["table", "roofs", "order", "isa", "argbwd"],
                   default=["table", "roofs", "order"],
                   help="which parts to run: the peer table, the gather roofs, the node-order comparison, the"
                        " SIMD paths side by side and the max backward (these two not run by default)")
    p.add_argument("--isa", nargs="+", default=["avx512", "avx2"],
                   help="the paths (SPARSEGNN_ISA values) that --only isa compares")
    p.add_argument("--write", action="store_true", help="write the tables into bench/RESULTS.md")
    args = p.parse_args()
    torch.set_num_threads(max(args.threads))
    args.bw = stream_bandwidth(5)
    print(f"# CPU: {cpu_model()}; read bandwidth {args.bw:.1f} GB/s; VNNI {sparsegnn._C.cpu_has_vnni()}")
    command = "python bench/spmm_cpu.py " + " ".join(sys.argv[1:])
    if "table" in args.only:
        print(HEADER)
        print(SEP)
        rows = run(args)
        if args.write:
            write_results(rows, args, args.bw, command)
    if "roofs" in args.only:
        roofs = run_roofs(args)
        if args.write:
            write_roofs(roofs, args.bw, command)
    if "order" in args.only:
        orders = run_order(args)
        if args.write:
            write_order(orders, command)
    if "isa" in args.only:
        rows, roofs = run_isa(args)
        if args.write:
            write_isa(rows, roofs, args, command)
    if "argbwd" in args.only:
        rows = run_argbwd(args)
        if args.write:
            write_argbwd(rows, args, command)


if __name__ == "__main__":
    main()
