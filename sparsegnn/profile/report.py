"""Output of a sweep: the terminal table, the JSON document and the long-format CSV.

JSON (``schema`` ``"sparsegnn-bench/1"``)::

    {"schema": ..., "environment": {date, cpu, threads, versions, ...},
     "roofs": {"cpu/2": {bandwidth_gbps, peak_gflops, bandwidth_method, ...}},
     "graphs": {spec: {num_nodes, num_cols, nnz, avg_degree, max_degree, degree_cv}},
     "interrupted": false,
     "results": [Record.to_dict(), ...]}          # every run, raw times in ``times_ms``

CSV: one row per implementation and case with :data:`CSV_COLUMNS`; :func:`write_csv` upserts:
rows already in the file with the same :data:`CSV_KEY` (same machine, case and implementation)
are replaced, all others kept, so repeated runs build one table to plot from.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path

from ..graph import Graph
from .runner import Record

SCHEMA = "sparsegnn-bench/1"

CSV_COLUMNS = (
    "kernel",
    "impl",
    "kind",
    "graph",
    "num_nodes",
    "nnz",
    "F",
    "dtype",
    "reduce",
    "status",
    "median_ms",
    "p25_ms",
    "p75_ms",
    "repeats",
    "gflops",
    "gbps",
    "roofline",
    "speedup",
    "baseline",
    "device",
    "threads",
    "machine",
    "timestamp",
)
CSV_KEY = ("kernel", "impl", "graph", "F", "dtype", "reduce", "device", "threads", "machine")


def graph_info(graph: Graph) -> dict:
    stats = graph.degree_stats()
    return {
        "num_nodes": graph.num_nodes,
        "num_cols": graph.num_cols,
        "nnz": graph.nnz,
        "avg_degree": stats["mean"],
        "max_degree": stats["max"],
        "degree_cv": stats["cv"],
    }


def payload(
    records: list[Record],
    environment: dict,
    roofs: dict,
    graphs: dict[str, Graph],
    interrupted: bool = False,
) -> dict:
    """The JSON document of a sweep."""
    return {
        "schema": SCHEMA,
        "environment": environment,
        "roofs": {key: r.to_dict() for key, r in roofs.items()},
        "graphs": {spec: graph_info(g) for spec, g in graphs.items()},
        "interrupted": interrupted,
        "results": [r.to_dict() for r in records],
    }


def write_json(path: str | os.PathLike, document: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as out:
        json.dump(document, out, indent=2)


def read_json(path: str | os.PathLike) -> tuple[list[Record], dict]:
    """``(records, roofs)`` back from a JSON document written by :func:`write_json`."""
    from .machine import Roofs

    with open(path) as handle:
        document = json.load(handle)
    if document.get("schema") != SCHEMA:
        raise ValueError(f"{path}: expected schema {SCHEMA!r}, got {document.get('schema')!r}")
    records = [Record(**r) for r in document["results"]]
    roofs = {key: Roofs(**value) for key, value in document.get("roofs", {}).items()}
    return records, roofs


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def csv_rows(records: Iterable[Record], machine: str) -> list[dict]:
    rows = []
    for r in records:
        rows.append(
            {
                "kernel": r.kernel,
                "impl": r.impl,
                "kind": r.kind,
                "graph": r.graph,
                "num_nodes": r.num_nodes,
                "nnz": r.nnz,
                "F": r.feat,
                "dtype": r.dtype,
                "reduce": r.reduce,
                "status": r.status,
                "median_ms": _fmt(r.median_ms, 6),
                "p25_ms": _fmt(r.p25_ms, 6),
                "p75_ms": _fmt(r.p75_ms, 6),
                "repeats": r.repeats,
                "gflops": _fmt(r.gflops),
                "gbps": _fmt(r.gbps),
                "roofline": _fmt(r.roofline, 4),
                "speedup": _fmt(r.speedup),
                "baseline": r.baseline,
                "device": r.device,
                "threads": r.threads,
                "machine": machine,
                "timestamp": r.timestamp,
            }
        )
    return rows


def write_csv(path: str | os.PathLike, records: Iterable[Record], machine: str) -> int:
    """Upsert ``records`` into the long-format CSV at ``path``; returns the number of rows now in it."""
    path = Path(path)
    new = csv_rows(records, machine)
    keys = {tuple(str(row[k]) for k in CSV_KEY) for row in new}
    kept: list[dict] = []
    if path.exists() and path.stat().st_size:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                if tuple(str(row.get(k, "")) for k in CSV_KEY) not in keys:
                    kept.append({c: row.get(c, "") for c in CSV_COLUMNS})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(kept + new)
    return len(kept) + len(new)


TABLE_HEADER = ("impl", "kind", "median ms", "IQR ms", "GFLOP/s", "GB/s", "% BW", "speed-up")


def format_table(records: list[Record]) -> str:
    """Aligned text: one block per case (a header line, then its implementations fastest first,
    then those that did not run with the reason)."""
    blocks: dict[tuple, list[Record]] = {}
    for r in records:
        blocks.setdefault(r.case_key(), []).append(r)
    ran = [r for r in records if r.ok]
    widths = [len(h) for h in TABLE_HEADER]
    for r in records:
        widths[0] = max(widths[0], len(r.impl))
        widths[1] = max(widths[1], len(r.kind))
    for r in ran:
        for i, cell in enumerate(_cells(r)[2:], start=2):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for key, group in blocks.items():
        kernel, graph, feat, dtype, reduce, device, threads = key
        base = group[0].baseline
        lines.append(
            f"== {kernel}  {graph}  F={feat}  {dtype}  reduce={reduce}  {device}  threads={threads}"
            f"  (speed-up vs {base})"
        )
        lines.append(
            "  ".join(
                h.ljust(w) if i < 2 else h.rjust(w)
                for i, (h, w) in enumerate(zip(TABLE_HEADER, widths))
            )
        )
        for r in sorted((r for r in group if r.ok), key=lambda r: r.median_ms):
            lines.append(
                "  ".join(
                    c.ljust(w) if i < 2 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(_cells(r), widths))
                )
            )
        for r in group:
            if not r.ok:
                lines.append(f"{r.impl.ljust(widths[0])}  {r.kind.ljust(widths[1])}  {r.status}")
        lines.append("")
    return "\n".join(lines).rstrip()


def _cells(r: Record) -> tuple[str, ...]:
    return (
        r.impl,
        r.kind,
        f"{r.median_ms:.2f}",
        f"{(r.p75_ms or 0) - (r.p25_ms or 0):.2f}",
        f"{r.gflops:.2f}" if r.gflops is not None else "-",
        f"{r.gbps:.2f}" if r.gbps is not None else "-",
        f"{100 * r.roofline:.0f}%" if r.roofline is not None else "-",
        f"{r.speedup:.2f}x" if r.speedup is not None else "-",
    )
