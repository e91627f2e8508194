"""GPU SpMM benchmark: our `cuda` backend against the peers a user would otherwise pick, in one run.

Peers (each only where importable / supported): `triton` (sparsegnn.ops.spmm(..., backend="triton")),
cuSPARSE (`torch.sparse.mm` on a CUDA CSR tensor), PyG's default path (index_select + index_add_),
torch_scatter (gather + segment_csr) and torch_sparse (SparseTensor @ x).

Graphs: an ogbn-arxiv-size Chung-Lu power-law graph (169,343 nodes, ~2.3M nonzeros), an R-MAT
of similar size, a uniform-degree graph with the power-law graph's nnz (the skew test), a
block-diagonal clustered graph of the same node count (31% tile fill: the block-sparse `triton_bsr`
case, timed there only), and an R-MAT of 10^8 edges (skipped by --quick). F in {16, 32, 64, 128, 256, 512}, float32 and bfloat16,
reduce="sum" (unweighted). Timing: CUDA events around each call, `--warmup` then `--repeat` calls,
median (p20 / p80 kept in the JSON). The device-to-device copy bandwidth is measured in the same run
and every row reports the fraction of it reached (bytes = the minimum traffic: gathered feature
rows + output + CSR arrays).

Summary targets (issue 4, CUDA): geomean >= 1.2x cuSPARSE over F in {32, 64, 128, 256}; >= 2x PyG's
default path; >= 60% of the copy bandwidth at F >= 64; power-law within 1.5x the uniform graph.
(issue 5, Triton): within 1.25x of the CUDA kernel in every case; at least cuSPARSE at F >= 64;
block-sparse at least 2x the row-wise Triton kernel on the clustered graph (tile fill >= 25%).
The JSON's "targets" lists each figure beside its target.

    python bench/spmm_gpu.py                 # full run (needs a CUDA GPU)
    python bench/spmm_gpu.py --quick         # small F set, no 10^8-edge graph, fewer repeats
    python bench/spmm_gpu.py --dry-run       # on a CPU: builds scaled-down graphs, checks the
                                             # plan, the timing harness and the JSON writer
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout: import sparsegnn

ARXIV_NODES = 169_343
ARXIV_NNZ = 2_300_000
BIG_EDGES = 100_000_000
F_ALL = (16, 32, 64, 128, 256, 512)
F_QUICK = (32, 128, 512)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
CLUSTER, CLUSTER_DEG = 64, 20  # the clustered graph: cluster size, in-cluster degree
TILE = 32  # the block-sparse kernel's default tile (SPARSEGNN_BSR_BLOCK)


# ---------------------------------------------------------------------------------------------
# graphs


@dataclass
class CSR:
    name: str
    rowptr: torch.Tensor  # int64 [N + 1]
    col: torch.Tensor  # int32 or int64 [nnz]
    num_cols: int
    notes: str = ""

    @property
    def num_nodes(self) -> int:
        return self.rowptr.numel() - 1

    @property
    def nnz(self) -> int:
        return self.col.numel()

    def max_degree(self) -> int:
        return int((self.rowptr[1:] - self.rowptr[:-1]).max()) if self.num_nodes else 0

    def to(self, device) -> CSR:
        return CSR(self.name, self.rowptr.to(device), self.col.to(device), self.num_cols, self.notes)


def csr_from_edges(name: str, src: np.ndarray, dst: np.ndarray, n: int, notes: str = "") -> CSR:
    """CSR with row = target (PyG: messages flow source -> target); int32 col where it fits."""
    order = np.lexsort((src, dst))
    dst, src = dst[order], src[order]
    rowptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(dst, minlength=n), out=rowptr[1:])
    col = torch.from_numpy(src.astype(np.int32 if n < 2**31 else np.int64))
    return CSR(name, torch.from_numpy(rowptr), col, n, notes)


def _np_chung_lu(n: int, e: int, exponent: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    w = np.arange(1, n + 1, dtype=np.float64) ** (-1.0 / (exponent - 1.0))
    p = w / w.sum()
    perm = rng.permutation(n)
    src = perm[rng.choice(n, size=e, p=p)]
    dst = perm[rng.choice(n, size=e, p=p)]
    return src, dst


def _np_rmat(scale: int, e: int, rng: np.random.Generator, a=0.57, b=0.19, c=0.19, chunk=1 << 24):
    n = 1 << scale
    srcs, dsts = [], []
    for start in range(0, e, chunk):
        k = min(chunk, e - start)
        s = np.zeros(k, dtype=np.int64)
        d = np.zeros(k, dtype=np.int64)
        for _ in range(scale):
            u = rng.random(k)
            right = (u >= a) & (u < a + b) | (u >= a + b + c)
            down = u >= a + b
            s = (s << 1) | down
            d = (d << 1) | right
        srcs.append(s)
        dsts.append(d)
    perm = rng.permutation(n)
    return perm[np.concatenate(srcs)], perm[np.concatenate(dsts)]


def make_rmat_torch(scale: int, edges: int, seed: int, name: str, device: str, chunk: int = 1 << 24) -> CSR:
    """R-MAT generated and sorted into CSR with torch on `device` (the 10^8-edge graph: seconds on
    a GPU instead of minutes in numpy). Repeated edges are kept (as duplicates in the CSR)."""
    n = 1 << scale
    g = torch.Generator(device=device).manual_seed(seed)
    a, b, c = 0.57, 0.19, 0.19
    keys = []
    for start in range(0, edges, chunk):
        k = min(chunk, edges - start)
        s = torch.zeros(k, dtype=torch.int64, device=device)
        d = torch.zeros(k, dtype=torch.int64, device=device)
        for _ in range(scale):
            u = torch.rand(k, generator=g, device=device)
            right = ((u >= a) & (u < a + b)) | (u >= a + b + c)
            s = (s << 1) | (u >= a + b).long()
            d = (d << 1) | right.long()
        keys.append(d * n + s)  # row = target (d), col = source (s)
    perm = torch.randperm(n, generator=g, device=device)
    key = torch.cat(keys)
    del keys
    row, col = perm[key // n], perm[key % n]
    key = torch.sort(row * n + col).values
    row, col = key // n, key % n
    rowptr = torch.zeros(n + 1, dtype=torch.int64, device=device)
    rowptr[1:] = torch.cumsum(torch.bincount(row, minlength=n), 0)
    return CSR(name, rowptr.cpu(), col.to(torch.int32).cpu(), n, f"torch R-MAT scale {scale} on {device} (with repeats)")


def make_power_law(n: int, nnz: int, seed: int) -> CSR:
    try:
        from sparsegnn.data import power_law

        ei = power_law(n, nnz, seed=seed).edge_index.numpy()
        return csr_from_edges("powerlaw", ei[0], ei[1], n, "sparsegnn.data.power_law (Chung-Lu)")
    except ImportError:
        src, dst = _np_chung_lu(n, nnz, 2.1, np.random.default_rng(seed))
        return csr_from_edges("powerlaw", src, dst, n, "bench numpy Chung-Lu (with repeats)")


def make_rmat(scale: int, edges: int, seed: int, name: str, use_package: bool = True) -> CSR:
    n = 1 << scale
    if use_package:
        try:
            from sparsegnn.data import rmat

            factor = max(1, round(edges / n))
            ei = rmat(scale, factor, seed=seed).edge_index.numpy()
            return csr_from_edges(name, ei[0], ei[1], n, f"sparsegnn.data.rmat(scale={scale}, edge_factor={factor})")
        except ImportError:
            pass
    src, dst = _np_rmat(scale, edges, np.random.default_rng(seed))
    return csr_from_edges(name, src, dst, n, f"bench numpy R-MAT scale {scale} (with repeats)")


def make_uniform(n: int, nnz: int, seed: int) -> CSR:
    rng = np.random.default_rng(seed)
    deg = np.full(n, nnz // n, dtype=np.int64)
    deg[rng.choice(n, nnz - int(deg.sum()), replace=False)] += 1
    dst = np.repeat(np.arange(n), deg)
    src = rng.integers(0, n, size=nnz)
    return csr_from_edges("uniform", src, dst, n, "uniform degree, same nnz as powerlaw")


def make_clustered(n: int, seed: int) -> CSR:
    """Block-diagonal: clusters of CLUSTER consecutive nodes, each node with CLUSTER_DEG distinct
    in-cluster neighbours, so every TILE x TILE tile on the diagonal blocks is CLUSTER_DEG / CLUSTER full."""
    rng = np.random.default_rng(seed)
    n = max(n // CLUSTER, 1) * CLUSTER
    offsets = np.argsort(rng.random((n, CLUSTER)), axis=1)[:, :CLUSTER_DEG]
    dst = np.repeat(np.arange(n), CLUSTER_DEG)
    src = dst // CLUSTER * CLUSTER + offsets.ravel()
    tiles = np.unique(dst // TILE * (n // TILE + 1) + src // TILE).size
    fill = dst.size / (tiles * TILE * TILE)
    return csr_from_edges("clustered", src, dst, n, f"block diagonal, {CLUSTER}-node clusters, "
                          f"{CLUSTER_DEG} neighbours each: tile fill {fill:.1%} in {TILE}x{TILE} tiles")


def build_graphs(scale_down: int, quick: bool, big: bool, seed: int = 0, device: str = "cpu") -> list[CSR]:
    n = max(ARXIV_NODES // scale_down, 64)
    nnz = max(ARXIV_NNZ // scale_down, 256)
    graphs = [make_power_law(n, nnz, seed)]
    graphs.append(make_uniform(n, graphs[0].nnz, seed))
    rmat_scale = max(int(round(math.log2(n))), 6)
    graphs.append(make_rmat(rmat_scale, nnz, seed, "rmat"))
    graphs.append(make_clustered(n, seed))
    if big and not quick:
        big_edges = max(BIG_EDGES // scale_down, 1024)
        big_scale = max(int(round(math.log2(big_edges / 12))), 8)
        # 10^8 edges: generated and sorted with torch on the benchmark device
        graphs.append(make_rmat_torch(big_scale, big_edges, seed, "rmat_1e8", device))
    return graphs


# ---------------------------------------------------------------------------------------------
# providers


@dataclass
class Provider:
    name: str
    make: Callable[[CSR, torch.Tensor], Callable[[], torch.Tensor] | None]  # None: unsupported
    temp_bytes: Callable[[CSR, torch.Tensor], int] = lambda g, x: 0
    note: str = ""


def _graph_api():
    try:
        import sparsegnn
        import sparsegnn.ops as ops

        return sparsegnn, ops
    except ImportError:
        return None, None


def provider_cuda() -> Provider:
    def make(g: CSR, x: torch.Tensor):
        try:
            import sparsegnn._C  # noqa: F401  registers torch.ops.sparsegnn_C
        except ImportError:
            return None

        if x.is_cuda and not sparsegnn._C.has_cuda():
            return None  # on the CPU (dry run) the same op runs the CPU kernel
        op = torch.ops.sparsegnn_C.spmm
        return lambda: op(g.rowptr, g.col, None, x, "sum")[0]

    return Provider("cuda", make, note="torch.ops.sparsegnn_C.spmm (the cuda backend's kernel)")


def provider_triton() -> Provider:
    def make(g: CSR, x: torch.Tensor):
        sg, ops = _graph_api()
        if ops is None or "triton" not in getattr(ops, "registered_backends", lambda: [])():
            return None
        graph = sg.Graph(g.rowptr, g.col, None, g.num_cols, validate=False)
        return lambda: ops.spmm(graph, x, "sum", backend="triton")

    return Provider("triton", make, note="sparsegnn.ops.spmm(backend='triton')")


def provider_triton_bsr() -> Provider:
    def make(g: CSR, x: torch.Tensor):
        sg, ops = _graph_api()
        if g.name != "clustered" or ops is None or "triton_bsr" not in ops.registered_backends():
            return None
        graph = sg.Graph(g.rowptr, g.col, None, g.num_cols, validate=False)
        return lambda: ops.spmm(graph, x, "sum", backend="triton_bsr")

    return Provider("triton_bsr", make, note="sparsegnn.ops.spmm(backend='triton_bsr'), clustered graph only")


def provider_cusparse() -> Provider:
    def make(g: CSR, x: torch.Tensor):
        values = torch.ones(g.nnz, dtype=x.dtype, device=x.device)
        a = torch.sparse_csr_tensor(g.rowptr, g.col.long(), values, (g.num_nodes, g.num_cols))
        fn = lambda: torch.sparse.mm(a, x)  # noqa: E731
        fn()  # raises where the dtype is unsupported
        return fn

    return Provider("cusparse", make, note="torch.sparse.mm on a CUDA CSR tensor")


def provider_pyg() -> Provider:
    def make(g: CSR, x: torch.Tensor):
        row = torch.repeat_interleave(torch.arange(g.num_nodes, device=x.device), g.rowptr.diff())
        col = g.col.long()

        def fn():
            out = torch.zeros(g.num_nodes, x.size(1), dtype=x.dtype, device=x.device)
            return out.index_add_(0, row, x.index_select(0, col))

        return fn

    return Provider("pyg_index_add", make, lambda g, x: g.nnz * x.size(1) * x.element_size(),
                    "index_select + index_add_ (PyG's default scatter path)")


def provider_torch_scatter() -> Provider:
    def make(g: CSR, x: torch.Tensor):
        try:
            from torch_scatter import segment_csr
        except ImportError:
            return None
        col = g.col.long()
        return lambda: segment_csr(x.index_select(0, col), g.rowptr, reduce="sum")

    return Provider("torch_scatter", make, lambda g, x: g.nnz * x.size(1) * x.element_size(),
                    "gather + torch_scatter.segment_csr")


def provider_torch_sparse() -> Provider:
    def make(g: CSR, x: torch.Tensor):
        try:
            from torch_sparse import SparseTensor
        except ImportError:
            return None
        a = SparseTensor(rowptr=g.rowptr, col=g.col.long(), sparse_sizes=(g.num_nodes, g.num_cols), is_sorted=True)
        return lambda: a.matmul(x, reduce="sum")

    return Provider("torch_sparse", make, note="torch_sparse.SparseTensor.matmul")


PROVIDERS = {p.name: p for p in (provider_cuda(), provider_triton(), provider_triton_bsr(), provider_cusparse(),
                                 provider_pyg(), provider_torch_scatter(), provider_torch_sparse())}


# ---------------------------------------------------------------------------------------------
# timing


def time_fn(fn: Callable[[], object], warmup: int, repeat: int, device: str) -> list[float]:
    """Milliseconds per call: CUDA events on a GPU, perf_counter on the CPU (dry runs)."""
    for _ in range(warmup):
        fn()
    times = []
    if device == "cuda":
        torch.cuda.synchronize()
        for _ in range(repeat):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            fn()
            e.record()
            e.synchronize()
            times.append(s.elapsed_time(e))
    else:
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
    return times


def copy_bandwidth(device: str, nbytes: int, warmup: int, repeat: int) -> float:
    """Device-to-device copy bandwidth in GB/s (read + write bytes per second)."""
    n = nbytes // 4
    src = torch.empty(n, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    ms = statistics.median(time_fn(lambda: dst.copy_(src), warmup, repeat, device))
    return 2 * n * 4 / (ms * 1e-3) / 1e9


def min_bytes(g: CSR, F: int, elem: int) -> int:
    return g.nnz * F * elem + g.num_nodes * F * elem + g.nnz * g.col.element_size() + (g.num_nodes + 1) * 8


@dataclass
class Row:
    graph: str
    nodes: int
    nnz: int
    max_degree: int
    F: int
    dtype: str
    provider: str
    status: str = "ok"
    median_ms: float = float("nan")
    p20_ms: float = float("nan")
    p80_ms: float = float("nan")
    gflops: float = float("nan")
    gbps: float = float("nan")
    copy_fraction: float = float("nan")
    extra: dict = field(default_factory=dict)


def run(args) -> dict:
    device = "cpu" if args.dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("spmm_gpu.py: no CUDA device (use --dry-run to check the CPU-side logic)")
    scale_down = args.scale_down if args.dry_run else 1
    fs = tuple(args.F) if args.F else (F_QUICK if args.quick else F_ALL)
    warmup, repeat = (2, 10) if args.quick else (args.warmup, args.repeat)
    if args.dry_run:
        warmup, repeat = 1, 3

    t0 = time.time()
    graphs = build_graphs(scale_down, args.quick, not args.no_big, device=device)
    print(f"graphs built in {time.time() - t0:.1f} s:")
    for g in graphs:
        print(f"  {g.name:10s} N={g.num_nodes:>11,d} nnz={g.nnz:>12,d} max_deg={g.max_degree():>9,d}  {g.notes}")

    bw = copy_bandwidth(device, (16 << 20) if args.dry_run else (1 << 30), warmup, repeat)
    print(f"device-to-device copy bandwidth: {bw:.1f} GB/s ({'CPU, dry run' if args.dry_run else 'measured'})")

    providers = [PROVIDERS[p] for p in args.providers] if args.providers else list(PROVIDERS.values())
    if args.dry_run:  # the harness on the CPU: our op's CPU kernel, the pure-torch peer, torch.sparse (MKL)
        providers = [PROVIDERS["cuda"], PROVIDERS["pyg_index_add"], PROVIDERS["cusparse"]]
    rows: list[Row] = []
    for g_host in graphs:
        g = g_host.to(device)
        for dname in args.dtypes:
            dtype = DTYPES[dname]
            for F in fs:
                if g.name == "rmat_1e8" and F > args.big_max_f:
                    continue
                x = torch.randn(g.num_cols, F, device=device).to(dtype)
                for p in providers:
                    row = Row(g.name, g.num_nodes, g.nnz, g_host.max_degree(), F, dname, p.name)
                    rows.append(row)
                    if device == "cuda":
                        free, _ = torch.cuda.mem_get_info()
                        if p.temp_bytes(g, x) + g.num_nodes * F * x.element_size() > 0.8 * free:
                            row.status = "skipped: would not fit in device memory"
                            continue
                    try:
                        fn = p.make(g, x)
                        if fn is None:
                            row.status = "unavailable"
                            continue
                        ts = time_fn(fn, warmup, repeat, device)
                    except torch.cuda.OutOfMemoryError:
                        row.status = "oom"
                        torch.cuda.empty_cache()
                        continue
                    except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:
                        row.status = "error: " + str(exc).splitlines()[0][:80]
                        continue
                    q = np.percentile(ts, [20, 50, 80])
                    row.p20_ms, row.median_ms, row.p80_ms = map(float, q)
                    row.gflops = 2 * g.nnz * F / (row.median_ms * 1e-3) / 1e9
                    row.gbps = min_bytes(g, F, x.element_size()) / (row.median_ms * 1e-3) / 1e9
                    row.copy_fraction = row.gbps / bw
                del x
                if device == "cuda":
                    torch.cuda.empty_cache()
    summary = summarize(rows)
    print_table(rows, summary)
    checked = targets(summary)
    meta = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name() if device == "cuda" else f"CPU dry run ({platform.processor()})",
        "torch": torch.__version__,
        "copy_bandwidth_gbps": bw,
        "dry_run": bool(args.dry_run),  # dry run: every row ran on the CPU, figures mean nothing
        "warmup": warmup,
        "repeat": repeat,
        "providers": {p.name: p.note for p in providers},
    }
    result = {"meta": meta, "summary": summary, "targets": checked, "rows": [asdict(r) for r in rows]}
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=float))
    print(f"wrote {out}")
    return result


def _geomean(xs: list[float]) -> float:
    xs = [x for x in xs if x > 0 and math.isfinite(x)]
    return math.exp(sum(map(math.log, xs)) / len(xs)) if xs else float("nan")


def summarize(rows: list[Row]) -> dict:
    t = {(r.graph, r.dtype, r.F, r.provider): r.median_ms for r in rows if r.status == "ok"}
    s: dict = {}
    for graph, dtype in sorted({(r.graph, r.dtype) for r in rows}):
        key = f"{graph}/{dtype}"
        for peer, fset in (("cusparse", (32, 64, 128, 256)), ("pyg_index_add", F_ALL)):
            ratios = [t[(graph, dtype, F, peer)] / t[(graph, dtype, F, "cuda")] for F in fset
                      if (graph, dtype, F, peer) in t and (graph, dtype, F, "cuda") in t]
            s[f"{key} speedup vs {peer} (geomean)"] = _geomean(ratios)
        fr = [r.copy_fraction for r in rows if r.graph == graph and r.dtype == dtype and r.provider == "cuda"
              and r.F >= 64 and r.status == "ok"]
        s[f"{key} min copy-bandwidth fraction at F>=64"] = min(fr) if fr else float("nan")
        ratios = [t[(graph, dtype, F, "triton")] / t[(graph, dtype, F, "cuda")] for F in F_ALL
                  if (graph, dtype, F, "triton") in t and (graph, dtype, F, "cuda") in t]
        s[f"{key} triton/cuda time ratio (max over F)"] = max(ratios) if ratios else float("nan")
        ratios = [t[(graph, dtype, F, "cusparse")] / t[(graph, dtype, F, "triton")] for F in F_ALL
                  if F >= 64 and (graph, dtype, F, "cusparse") in t and (graph, dtype, F, "triton") in t]
        s[f"{key} triton speedup vs cusparse at F>=64 (min over F)"] = min(ratios) if ratios else float("nan")
    for dtype in sorted({r.dtype for r in rows}):
        ratios = [t[("clustered", dtype, F, "triton")] / t[("clustered", dtype, F, "triton_bsr")] for F in F_ALL
                  if ("clustered", dtype, F, "triton") in t and ("clustered", dtype, F, "triton_bsr") in t]
        s[f"clustered/{dtype} triton_bsr speedup vs triton (geomean)"] = _geomean(ratios)
        ratios = [t[("powerlaw", dtype, F, "cuda")] / t[("uniform", dtype, F, "cuda")] for F in F_ALL
                  if ("powerlaw", dtype, F, "cuda") in t and ("uniform", dtype, F, "cuda") in t]
        s[f"powerlaw/uniform time ratio, cuda, {dtype} (max over F)"] = max(ratios) if ratios else float("nan")
    return s


# (what a summary key contains, ">=" or "<=", bound, issue): the kernel issues' targets
TARGETS = (
    ("speedup vs cusparse (geomean)", ">=", 1.2, 4),
    ("speedup vs pyg_index_add (geomean)", ">=", 2.0, 4),
    ("min copy-bandwidth fraction at F>=64", ">=", 0.6, 4),
    ("powerlaw/uniform time ratio", "<=", 1.5, 4),
    ("triton/cuda time ratio", "<=", 1.25, 5),
    ("triton speedup vs cusparse at F>=64", ">=", 1.0, 5),
    ("triton_bsr speedup vs triton", ">=", 2.0, 5),
)


def targets(summary: dict) -> list[dict]:
    """Each summary figure beside its target: ``met`` is None where the figure was not measured."""
    out = []
    for key, value in summary.items():
        _, op, bound, issue = next(t for t in TARGETS if t[0] in key)
        met = None if not math.isfinite(value) else (value >= bound if op == ">=" else value <= bound)
        out.append({"figure": key, "value": value, "target": f"{op} {bound:g}", "met": met, "issue": issue})
    return out


def print_table(rows: list[Row], summary: dict) -> None:
    print()
    print(f"{'graph':10s} {'dtype':5s} {'F':>4s} {'provider':15s} {'median ms':>10s} {'GFLOP/s':>9s} "
          f"{'GB/s':>8s} {'% copy':>7s}  status")
    for r in rows:
        if r.status == "ok":
            print(f"{r.graph:10s} {r.dtype:5s} {r.F:4d} {r.provider:15s} {r.median_ms:10.3f} {r.gflops:9.1f} "
                  f"{r.gbps:8.1f} {100 * r.copy_fraction:6.1f}%")
        else:
            print(f"{r.graph:10s} {r.dtype:5s} {r.F:4d} {r.provider:15s} {'':>10s} {'':>9s} {'':>8s} {'':>7s}  {r.status}")
    print("\nsummary:")
    for k, v in summary.items():
        print(f"  {k:60s} {v:.3f}")


def main(argv: list[str] | None = None) -> dict:
    warnings.filterwarnings("ignore", message="Sparse (CSR tensor support|invariant checks)")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="F in {32, 128, 512}, no 10^8-edge graph, 10 repeats")
    ap.add_argument("--dry-run", action="store_true", help="CPU only: scaled-down graphs, harness and JSON check")
    ap.add_argument("--scale-down", type=int, default=1000, help="dry run: divide graph sizes by this")
    ap.add_argument("--F", type=int, nargs="+", help="feature widths (default 16..512)")
    ap.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    ap.add_argument("--providers", nargs="+", choices=list(PROVIDERS))
    ap.add_argument("--no-big", action="store_true", help="skip the 10^8-edge R-MAT")
    ap.add_argument("--big-max-f", type=int, default=128, help="largest F run on the 10^8-edge graph")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--json", default="bench/spmm_gpu.json", help="where to write the results")
    return run(ap.parse_args(argv))


if __name__ == "__main__":
    main()
