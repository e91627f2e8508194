"""``sparsegnn tune``: a short sweep on this machine that writes the policy file ``auto`` reads.

For each device it measures, per op (spmm sum, spmm max, sddmm, segment_reduce), every
available backend (but the slow plain-torch reference unless ``include_reference``) on synthetic power-law graphs of a few average degrees and at a few feature
widths, and keeps the fastest per (F bucket, degree bucket) cell. Bucket edges sit at the
geometric midpoints between the measured values, so a measured point is the centre of its
bucket and the outer buckets are open. It then finds the density from which the dense-masked
backend beats the best sparse kernel (spmm sum, F = 64 by default) on small square graphs.

The file format and where it goes are documented in ``sparsegnn/ops/tuned.py``.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch

from .. import ops
from ..graph import Graph
from ..ops import tuned
from ..ops.policy import DENSE_MAX_CELLS, DENSE_MIN_DENSITY
from .cases import Inputs
from .kernels import KERNELS, REFERENCE_BACKEND
from .machine import environment
from .timing import benchmark

# (op name in the policy, kernel, reduce group): the reduce group is what the rule matches.
TUNED_OPS = {
    "spmm": ("spmm", "sum", ["sum", "mean"]),
    "spmm-max": ("spmm", "max", ["max", "min"]),
    "sddmm": ("sddmm", "sum", None),
    "segment_reduce": ("segment", "sum", None),
}


@dataclass
class TuneConfig:
    """What ``tune`` sweeps. ``degrees``: average degrees of the power-law graphs, each with
    about ``nnz`` stored entries; ``densities``: of the square ``dense_nodes`` graphs for the
    dense threshold (at ``dense_feat``)."""

    device: str = "cpu"
    feats: list[int] = field(default_factory=lambda: [16, 64, 256])
    degrees: list[int] = field(default_factory=lambda: [4, 16, 64])
    nnz: int = 200_000
    ops: list[str] = field(default_factory=lambda: list(TUNED_OPS))
    densities: list[float] = field(default_factory=lambda: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4])
    dense_nodes: int = 1024
    dense_feat: int = 64
    repeat: int = 5
    warmup: int = 1
    max_time: float = 2.0
    seed: int = 0
    include_reference: bool = False  # also time the slow plain-torch reference backend

    @classmethod
    def quick(cls, device: str = "cpu") -> TuneConfig:
        """A tiny sweep (seconds): for tests and smoke runs."""
        return cls(
            device=device,
            feats=[8, 32],
            degrees=[2, 8],
            nnz=4000,
            densities=[0.05, 0.3],
            dense_nodes=64,
            dense_feat=8,
            repeat=1,
            warmup=1,
            max_time=0.5,
        )


def _edges(low: float | None, high: float | None) -> list:
    return [low, high]


def buckets(values: list[float]) -> list[list[float | None]]:
    """``[low, high)`` intervals around sorted ``values``, split at geometric midpoints, outer ones open."""
    values = sorted(values)
    cuts = [math.sqrt(a * b) for a, b in itertools.pairwise(values)]
    lows = [None] + cuts
    highs = cuts + [None]
    return [_edges(lo, hi) for lo, hi in zip(lows, highs)]


def _graph(num_nodes: int, num_edges: int, seed: int, device: str) -> Graph:
    from ..data import make_synthetic

    return make_synthetic(f"power_law:{num_nodes},{num_edges}", seed=seed).graph.to(device)


def _time_backends(
    kernel_name: str,
    graph: Graph,
    feat: int,
    reduce: str,
    config: TuneConfig,
    exclude: tuple[str, ...] = (),
) -> dict[str, float]:
    kernel = KERNELS[kernel_name]
    inputs = Inputs(graph, feat, torch.float32, reduce, config.seed)
    times = {}
    for name in ops.available_backends(config.device, kernel.op):
        if name in exclude:
            continue
        try:
            fn = kernel.run(inputs, name)
            stats = benchmark(
                fn,
                warmup=config.warmup,
                repeat=config.repeat,
                device=config.device,
                max_time=config.max_time,
            )
        except (ValueError, TypeError, NotImplementedError, RuntimeError):
            continue
        times[name] = stats.median
    return times


def _excluded(config: TuneConfig, *names: str) -> tuple[str, ...]:
    return names if config.include_reference else (*names, REFERENCE_BACKEND)


def tune(config: TuneConfig | None = None, progress=None) -> dict:
    """Run the sweep and return the policy (not written; see :func:`write_policy`)."""
    config = config or TuneConfig()
    rules = []
    feat_buckets = buckets(config.feats)
    degree_buckets = buckets(config.degrees)
    for degree, degree_bucket in zip(sorted(config.degrees), degree_buckets):
        num_nodes = max(2, config.nnz // degree)
        graph = _graph(num_nodes, num_nodes * degree, config.seed, config.device)
        stats = graph.degree_stats()
        for feat, feat_bucket in zip(sorted(config.feats), feat_buckets):
            for op in config.ops:
                kernel, reduce, reduces = TUNED_OPS[op]
                times = _time_backends(
                    kernel, graph, feat, reduce, config, exclude=_excluded(config, "dense")
                )
                if progress is not None:
                    progress(
                        f"{op} degree={degree} F={feat}: "
                        + ", ".join(
                            f"{k} {v:.2f} ms"
                            for k, v in sorted(times.items(), key=lambda kv: kv[1])
                        )
                    )
                if not times:
                    continue
                best = min(times, key=times.get)
                rules.append(
                    {
                        "op": KERNELS[kernel].op,
                        "reduce": reduces,
                        "feat": feat_bucket,
                        "avg_degree": degree_bucket,
                        "backend": best,
                        "ms": {k: round(v, 4) for k, v in times.items()},
                        "measured_at": {
                            "feat": feat,
                            "avg_degree": round(stats["mean"], 2),
                            "degree_cv": round(stats["cv"], 3),
                            "max_degree": stats["max"],
                            "nnz": graph.nnz,
                        },
                    }
                )
    dense = _dense_threshold(config, progress)
    return {
        "schema": tuned.SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(),
        "config": {k: v for k, v in config.__dict__.items()},
        "devices": {config.device: {"rules": rules, "dense": dense}},
    }


def _dense_threshold(config: TuneConfig, progress=None) -> dict:
    """The smallest measured density from which dense wins at every denser point (None: never)."""
    n = config.dense_nodes
    measured = []
    for density in sorted(config.densities):
        gen = torch.Generator().manual_seed(config.seed)
        mask = (torch.rand(n, n, generator=gen) < density).float()
        pattern = Graph.from_dense(mask)
        graph = Graph(pattern.rowptr, pattern.col, None, n).to(
            config.device
        )  # unweighted, as the sweep
        times = _time_backends(
            "spmm", graph, config.dense_feat, "sum", config, exclude=_excluded(config)
        )
        dense_ms = times.pop("dense", None)
        sparse_ms = min(times.values()) if times else None
        measured.append([round(graph.nnz / (n * n), 5), dense_ms, sparse_ms])
        if progress is not None:
            progress(f"dense density={density}: dense {dense_ms} ms, best sparse {sparse_ms} ms")
    threshold = None
    for density, dense_ms, sparse_ms in reversed(measured):
        if dense_ms is None or sparse_ms is None or dense_ms >= sparse_ms:
            break
        threshold = density
    max_cells = DENSE_MAX_CELLS
    return {
        "min_density": threshold,
        "max_cells": max_cells,
        "feat": config.dense_feat,
        "nodes": n,
        "measured": measured,
        "builtin": {"min_density": DENSE_MIN_DENSITY, "max_cells": DENSE_MAX_CELLS},
    }


def write_policy(policy: dict, path: str | os.PathLike | None = None, merge: bool = True) -> Path:
    """Write ``policy`` to ``path`` (default: ``tuned.policy_path()``). With ``merge``, devices
    already in an existing valid file and not re-tuned now are kept."""
    target = Path(path) if path is not None else tuned.policy_path()
    if target is None:
        raise ValueError("path: $SPARSEGNN_POLICY disables the policy file; pass --out PATH")
    tuned.validate(policy)
    if merge and target.exists():
        try:
            old = tuned.validate(json.loads(target.read_text()))
        except (OSError, ValueError):
            old = None
        if old:
            policy = {**policy, "devices": {**old["devices"], **policy["devices"]}}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(json.dumps(policy, indent=2))
    os.replace(tmp, target)
    return target


def show(path: str | os.PathLike | None = None) -> str:
    """A readable summary of the policy file (or why there is none)."""
    target = Path(path) if path is not None else tuned.policy_path()
    if target is None:
        return "policy file disabled ($SPARSEGNN_POLICY is empty/none/off): built-in defaults apply"
    if not target.exists():
        return f"no policy file at {target}: built-in defaults apply (run `sparsegnn tune`)"
    policy = tuned.validate(json.loads(target.read_text()))
    env = policy.get("environment", {})
    lines = [
        f"policy file {target}",
        f"created {policy.get('created')} on {env.get('cpu')} ({env.get('threads')} threads)",
    ]
    for device, entry in policy["devices"].items():
        lines.append(f"[{device}]")
        dense = entry.get("dense") or {}
        if dense:
            threshold = dense.get("min_density")
            lines.append(
                f"  dense wins from density {threshold if threshold is not None else 'never (not measured to win)'}"
                f" up to {dense.get('max_cells')} cells (F={dense.get('feat')}, {dense.get('nodes')} nodes)"
            )
        header = ("op", "reduce", "F", "avg degree", "backend", "measured ms")
        rows = [header]
        for rule in entry.get("rules", []):
            rows.append(
                (
                    rule["op"],
                    ",".join(rule.get("reduce") or ["*"]),
                    _interval(rule.get("feat")),
                    _interval(rule.get("avg_degree")),
                    rule["backend"],
                    " ".join(
                        f"{k}={v:.2f}"
                        for k, v in sorted(rule.get("ms", {}).items(), key=lambda kv: kv[1])
                    ),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def _interval(bounds) -> str:
    if not bounds:
        return "*"
    lo, hi = bounds
    fmt = lambda v: f"{v:.3g}"
    return f"[{fmt(lo) if lo is not None else '0'}, {fmt(hi) if hi is not None else 'inf'})"
