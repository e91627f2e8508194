"""METIS partitions cached on disk, keyed by the graph's structure hash and the part count, so a
run on a large graph partitions it once.

A cache file ``partition-<hash16>-<num_parts>[-rb].pt`` is a :mod:`sparsegnn.durable` record
(written atomically, sha256-checked on reading) whose meta holds the full graph hash,
``num_parts``, ``num_nodes`` and ``recursive`` and whose payload is the part of every node. A
damaged or foreign file raises one ValueError naming the file and what is wrong; it is never
silently recomputed over.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from ..durable import mismatches, read_record, write_record
from ..graph import Graph, Partition, partition

KIND = "partition"


def graph_hash(graph: Graph) -> str:
    """sha256 (hex) of the graph's structure: node count, ``rowptr`` and ``col`` (as int64)."""

    def compute() -> str:
        digest = hashlib.sha256(str(graph.num_nodes).encode())
        digest.update(graph.rowptr.cpu().numpy().tobytes())
        digest.update(graph.col.long().cpu().numpy().tobytes())
        return digest.hexdigest()

    return graph.memo("structure_sha256", compute)


def cache_path(cache_dir: str | os.PathLike, graph: Graph, num_parts: int, recursive: bool = False) -> Path:
    """Where the partition of ``graph`` into ``num_parts`` parts is cached in ``cache_dir``."""
    suffix = "-rb" if recursive else ""
    return Path(cache_dir) / f"partition-{graph_hash(graph)[:16]}-{num_parts}{suffix}.pt"


def _settings(graph: Graph, num_parts: int, recursive: bool) -> dict:
    return {"graph_hash": graph_hash(graph), "num_parts": num_parts, "num_nodes": graph.num_nodes,
            "recursive": bool(recursive)}


def read_partition(path: Path, graph: Graph, num_parts: int, recursive: bool = False) -> Partition:
    """The partition stored in ``path``, checked against ``graph`` and the settings."""
    meta, payload = read_record(path, KIND)
    differ = mismatches(meta, _settings(graph, num_parts, recursive))
    if differ:
        raise ValueError(f"{path}: a partition of another graph or setting ({'; '.join(differ)}); "
                         "delete it to partition again")
    part = payload.get("part")
    if (not isinstance(part, torch.Tensor) or part.dtype != torch.int64 or part.shape != (graph.num_nodes,)
            or (part.numel() and (int(part.min()) < 0 or int(part.max()) >= num_parts))):
        raise ValueError(f"{path}: damaged partition cache (the part array has the wrong type, shape or range); "
                         "delete it to partition again")
    return Partition.from_part(part.to(graph.device), num_parts)


def cached_partition(graph: Graph, num_parts: int, cache_dir: str | os.PathLike | None,
                     recursive: bool = False) -> Partition:
    """:func:`sparsegnn.graph.partition`, read from / written to ``cache_dir`` (``None``: in
    memory only)."""
    if cache_dir is None:
        return partition(graph, num_parts, recursive)
    path = cache_path(cache_dir, graph, num_parts, recursive)
    if path.exists():
        return read_partition(path, graph, num_parts, recursive)
    result = partition(graph, num_parts, recursive)
    part = result.part.cpu()
    write_record(path, KIND, _settings(graph, num_parts, recursive), {"part": part})
    return result
