"""The sweep: every case (kernel x graph x F x dtype x reduce x threads), every sparsegnn backend
and every peer on it, timed, with a progress bar, optional Chrome traces, and Ctrl-C keeping what
has finished."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

import torch

from ..graph import Graph
from .cases import Case, Inputs
from .graphs import graph_label
from .kernels import KERNELS, Kernel, backend_rows
from .machine import Roofs
from .peers import PeerAbsent
from .timing import benchmark

DTYPES = {
    "fp32": torch.float32,
    "fp64": torch.float64,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


@dataclass
class Record:
    """One implementation on one case. ``status`` is ``"ok"`` or ``"absent: why"`` (cannot run
    here), ``"skipped: why"`` (refused this input or left out) or ``"failed: error"``."""

    kernel: str
    impl: str
    kind: str  # "sparsegnn" or "peer"
    graph: str
    num_nodes: int
    nnz: int
    feat: int
    dtype: str
    reduce: str
    device: str
    threads: int
    status: str = "ok"
    baseline: str = ""
    median_ms: float | None = None
    p25_ms: float | None = None
    p75_ms: float | None = None
    repeats: int = 0
    flops: float = 0.0
    bytes: float = 0.0
    gflops: float | None = None
    gbps: float | None = None
    roofline: float | None = None  # achieved GB/s / measured bandwidth roof
    speedup: float | None = None  # baseline median / this median
    timestamp: str = ""
    times_ms: list[float] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def case_key(self) -> tuple:
        """The values of this record's :class:`Case` fields, in Case's order."""
        return tuple(getattr(self, f.name) for f in fields(Case))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Sweep:
    """What a sweep produced: records (finished cases only when interrupted), trace files."""

    records: list[Record] = field(default_factory=list)
    traces: list[str] = field(default_factory=list)
    interrupted: bool = False


def plan(
    kernels: Iterable[str],
    graphs: Iterable[str],
    feats: Iterable[int],
    dtypes: Iterable[str],
    reduces: Iterable[str],
    device: str,
    threads: Iterable[int],
) -> list[Case]:
    """The cases of a sweep, in run order; reduces/dtypes a kernel does not have collapse."""
    cases: list[Case] = []
    for threads_ in threads:
        for spec in graphs:
            for name in kernels:
                kernel = KERNELS[name]
                kernel_reduces = [r for r in reduces if r in kernel.reduces] or [kernel.reduces[0]]
                kernel_dtypes = [kernel.dtype] if kernel.dtype else list(dtypes)
                for feat in feats:
                    for dtype in dict.fromkeys(kernel_dtypes):
                        for reduce in dict.fromkeys(kernel_reduces):
                            cases.append(Case(name, spec, feat, dtype, reduce, device, threads_))
    return cases


def _status(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}" if not str(error) else str(error)
    line = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    line = line[:240]
    if isinstance(error, PeerAbsent):
        return f"absent: {line}"
    if isinstance(error, (ValueError, TypeError, NotImplementedError)):
        return f"skipped: {line}"
    return f"failed: {line}"


def set_threads(threads: int) -> None:
    """Use ``threads`` threads in torch (and OpenMP) and in numba's pool."""
    torch.set_num_threads(threads)
    with contextlib.suppress(
        Exception
    ):  # numba absent or its pool fixed: torch threads still apply
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def _finish_case(records: list[Record], baseline: str, roofs: Roofs | None) -> None:
    base = next((r for r in records if r.impl == baseline and r.kind == "peer" and r.ok), None)
    for r in records:
        r.baseline = baseline
        if not r.ok or not r.median_ms:
            continue
        seconds = r.median_ms / 1e3
        r.gflops = r.flops / seconds / 1e9
        r.gbps = r.bytes / seconds / 1e9
        if roofs is not None and roofs.bandwidth_gbps > 0:
            r.roofline = r.gbps / roofs.bandwidth_gbps
        if base is not None:
            r.speedup = base.median_ms / r.median_ms


def run_case(
    case: Case,
    graph: Graph,
    backends: list[str] | None = None,
    peers: list[str] | None = None,
    repeat: int = 10,
    warmup: int = 2,
    max_time: float | None = 10.0,
    roofs: Roofs | None = None,
    seed: int = 0,
    trace_dir: str | Path | None = None,
    on_impl=None,
) -> tuple[list[Record], str | None]:
    """Time every implementation of ``case``: ``backends`` (None: every available one except the
    slow reference) and ``peers`` (None: all of the kernel's, absent ones reported). Returns the
    records and the trace file written (or None)."""
    kernel: Kernel = KERNELS[case.kernel]
    dtype = torch.int8 if case.dtype == "int8" else DTYPES[case.dtype]
    inputs = Inputs(
        graph, case.feat, DTYPES["fp32"] if case.dtype == "int8" else dtype, case.reduce, seed
    )
    cost = kernel.cost(graph, case.feat, dtype, case.reduce)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    device = torch.device(case.device)
    candidates: list[tuple[str, str, str | None]] = [
        (name, "sparsegnn", why) for name, why in backend_rows(kernel, device, backends)
    ]
    peer_names = list(kernel.peers) if peers is None else [p for p in peers if p in kernel.peers]
    candidates += [(name, "peer", None) for name in peer_names]
    records: list[Record] = []
    timed: list[tuple[str, object]] = []
    for name, kind, why in candidates:
        record = Record(
            case.kernel,
            name,
            kind,
            case.graph,
            graph.num_nodes,
            graph.nnz,
            case.feat,
            case.dtype,
            case.reduce,
            case.device,
            case.threads,
            flops=cost.flops,
            bytes=cost.bytes,
            timestamp=stamp,
        )
        if why is not None:
            record.status = why
        else:
            try:
                fn = kernel.run(inputs, name) if kind == "sparsegnn" else kernel.peers[name](inputs)
                stats = benchmark(
                    fn, warmup=warmup, repeat=repeat, device=device, max_time=max_time
                )
            except KeyboardInterrupt:
                raise
            except Exception as error:  # noqa: BLE001 - any failure of one impl is reported, not fatal
                record.status = _status(error)
            else:
                record.median_ms, record.p25_ms, record.p75_ms = stats.median, stats.p25, stats.p75
                record.times_ms, record.repeats = list(stats.times), len(stats.times)
                timed.append((name if kind == "sparsegnn" else f"peer:{name}", fn))
        records.append(record)
        if on_impl is not None:
            on_impl(record)
    _finish_case(records, kernel.baseline, roofs)
    trace = _trace(case, timed, device, trace_dir) if trace_dir is not None and timed else None
    return records, trace


def trace_name(case: Case) -> str:
    return (
        f"{case.kernel}_{graph_label(case.graph)}_F{case.feat}_{case.dtype}_{case.reduce}_"
        f"{case.device}_t{case.threads}.json"
    )


def _trace(
    case: Case, timed: list[tuple[str, object]], device: torch.device, trace_dir: str | Path
) -> str:
    """A torch.profiler Chrome trace of one case: each implementation twice, under its name."""
    from torch.profiler import ProfilerActivity, profile, record_function

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    path = Path(trace_dir) / trace_name(case)
    path.parent.mkdir(parents=True, exist_ok=True)
    with profile(activities=activities, record_shapes=True) as prof:
        for name, fn in timed:
            for _ in range(2):
                with record_function(name):
                    fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
    prof.export_chrome_trace(str(path))
    return str(path)


def sweep(
    cases: list[Case],
    graphs: dict[str, Graph],
    backends: list[str] | None = None,
    peers: list[str] | None = None,
    repeat: int = 10,
    warmup: int = 2,
    max_time: float | None = 10.0,
    roofs: dict[str, Roofs] | None = None,
    seed: int = 0,
    trace_dir: str | Path | None = None,
    progress: bool | None = None,
) -> Sweep:
    """Run ``cases`` (see :func:`plan`) on the loaded ``graphs`` (spec -> Graph, on the case's
    device). ``roofs`` maps ``"{device}/{threads}"`` (or ``device``) to measured roofs. A progress
    bar shows on a terminal (``progress=None``) or when asked. Ctrl-C stops the sweep and keeps
    every finished case (``Sweep.interrupted``)."""
    result = Sweep()
    show = sys.stderr.isatty() if progress is None else progress
    bar = _bar(len(cases), show)
    current_threads = None
    partial: list[Record] = []
    case_roofs = None
    try:
        for case in cases:
            if case.threads != current_threads:
                set_threads(case.threads)
                current_threads = case.threads
            bar.set_postfix_str(
                f"{case.kernel} F={case.feat} {case.dtype} {case.reduce}", refresh=False
            )
            case_roofs = (roofs or {}).get(f"{case.device}/{case.threads}") or (roofs or {}).get(
                case.device
            )
            partial = []
            records, trace = run_case(
                case,
                graphs[case.graph],
                backends,
                peers,
                repeat,
                warmup,
                max_time,
                case_roofs,
                seed,
                trace_dir,
                on_impl=partial.append,
            )
            partial = []
            result.records.extend(records)
            if trace:
                result.traces.append(trace)
            bar.update(1)
    except KeyboardInterrupt:
        result.interrupted = True
        if partial:  # the implementations of the interrupted case that had finished
            _finish_case(partial, KERNELS[partial[0].kernel].baseline, case_roofs)
            result.records.extend(partial)
    finally:
        bar.close()
    return result


class _NoBar:
    def set_postfix_str(self, *args, **kwargs) -> None:
        pass

    def update(self, *args) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, show: bool):
    if not show or total <= 1:
        return _NoBar()
    with contextlib.suppress(ImportError):
        from tqdm import tqdm

        return tqdm(total=total, unit="case", desc="sparsegnn bench", leave=False, file=sys.stderr)
    return _NoBar()
