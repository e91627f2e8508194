"""METIS partitions cached on disk, keyed by the graph's structure hash and the part count, so a
run on a large graph partitions it once.

A cache file ``partition-<hash16>-<num_parts>[-rb].pt`` holds the format tag, the full graph
hash, ``num_parts``, ``num_nodes``, ``recursive``, the part of every node and a checksum of it. It
is written atomically (temporary file in the same folder, fsync, rename, fsync of the folder), so
a kill at any instant leaves either no file or a whole one. Reading checks every field: a
damaged or foreign file raises one ValueError naming the file and what is wrong; it is never
silently recomputed over.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import torch

from ..graph import Graph, Partition, partition

FORMAT = "sparsegnn-partition/1"


def graph_hash(graph: Graph) -> str:
    """sha256 (hex) of the graph's structure: node count, ``rowptr`` and ``col`` (as int64)."""

    def compute() -> str:
        digest = hashlib.sha256(str(graph.num_nodes).encode())
        digest.update(graph.rowptr.cpu().numpy().tobytes())
        digest.update(graph.col.long().cpu().numpy().tobytes())
        return digest.hexdigest()

    return graph.memo("structure_sha256", compute)


def _part_checksum(part: torch.Tensor) -> str:
    return hashlib.sha256(part.cpu().numpy().tobytes()).hexdigest()


def cache_path(cache_dir: str | os.PathLike, graph: Graph, num_parts: int, recursive: bool = False) -> Path:
    """Where the partition of ``graph`` into ``num_parts`` parts is cached in ``cache_dir``."""
    suffix = "-rb" if recursive else ""
    return Path(cache_dir) / f"partition-{graph_hash(graph)[:16]}-{num_parts}{suffix}.pt"


def write_atomic(path: Path, payload: dict) -> None:
    """``torch.save(payload)`` to ``path`` through a fsynced temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def read_partition(path: Path, graph: Graph, num_parts: int, recursive: bool = False) -> Partition:
    """The partition stored in ``path``, checked against ``graph`` and the settings."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means a damaged file
        raise ValueError(f"{path}: damaged partition cache, cannot be read ({type(error).__name__}: {error}); "
                         "delete it to partition again") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path}: not a sparsegnn partition cache (expected format {FORMAT!r})")
    expected = {"graph_hash": graph_hash(graph), "num_parts": num_parts, "num_nodes": graph.num_nodes,
                "recursive": bool(recursive)}
    for key, want in expected.items():
        if payload.get(key) != want:
            raise ValueError(f"{path}: a partition of another graph or setting ({key} is "
                             f"{payload.get(key)!r}, expected {want!r})")
    part = payload.get("part")
    if (not isinstance(part, torch.Tensor) or part.dtype != torch.int64 or part.shape != (graph.num_nodes,)
            or _part_checksum(part) != payload.get("checksum")
            or (part.numel() and (int(part.min()) < 0 or int(part.max()) >= num_parts))):
        raise ValueError(f"{path}: damaged partition cache (part array fails its checksum or range); "
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
    write_atomic(path, {"format": FORMAT, "graph_hash": graph_hash(graph), "num_parts": num_parts,
                        "num_nodes": graph.num_nodes, "recursive": bool(recursive), "part": part,
                        "checksum": _part_checksum(part)})
    return result
