"""Graph specs of the profiler: ``--graph`` strings to :class:`~sparsegnn.Graph` objects.

Accepted specs:

- ``synthetic:power_law,N,E[,EXP]``, ``synthetic:rmat,SCALE[,EF]``, ``synthetic:sbm,N,C,DEG[,H]``
  and the plain generator forms ``power_law:N,E``, ``rmat:S,EF``, ``sbm:N,C,DEG``
  (:func:`sparsegnn.data.make_synthetic`);
- ``planetoid:cora`` / ``citeseer`` / ``pubmed`` (raw files under ``find_data_root()``);
- ``file:PATH``: an edge list (``.txt``/``.csv``/``.tsv``/``.el``, optionally ``.gz``; two integer
  columns ``source target`` separated by whitespace or commas, an optional third weight column,
  ``#``/``%`` comment lines and one non-numeric header line skipped) or an ``.npz`` (either a
  scipy sparse matrix saved by ``scipy.sparse.save_npz``, or arrays ``edge_index`` [2, E] /
  ``row`` + ``col``, optional ``edge_weight``/``value`` and ``num_nodes``).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import torch

from ..graph import Graph

GENERATORS = ("power_law", "rmat", "sbm")


def load_graph(spec: str, seed: int = 0) -> Graph:
    """The graph ``spec`` names (see the module docstring); ValueError for a bad spec,
    FileNotFoundError for a missing file or dataset."""
    spec = spec.strip()
    kind, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise ValueError(
            f"graph: expected KIND:ARGS (synthetic:power_law,N,E | rmat:S,EF | planetoid:cora | file:PATH), got {spec!r}"
        )
    if kind == "synthetic":
        name, _, args = rest.partition(",")
        return _synthetic(f"{name}:{args}", seed)
    if kind in GENERATORS:
        return _synthetic(spec, seed)
    if kind == "planetoid":
        from ..data import Planetoid

        return Planetoid(None, rest, features="none").graph
    if kind == "file":
        return load_file(rest)
    raise ValueError(
        f"graph: unknown kind {kind!r} in {spec!r}; expected synthetic, {', '.join(GENERATORS)}, planetoid or file"
    )


def _synthetic(spec: str, seed: int) -> Graph:
    from ..data import make_synthetic

    return make_synthetic(spec, seed=seed).graph


def load_file(path: str | Path) -> Graph:
    """A graph from an edge-list text file (optionally gzipped) or an ``.npz``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"graph: no such file {str(path)!r}")
    if path.suffix == ".npz":
        return _load_npz(path)
    return _load_edge_list(path)


def _load_npz(path: Path) -> Graph:
    with np.load(path, allow_pickle=False) as data:
        keys = set(data.files)
        if {"indptr", "indices", "shape"} <= keys or {"row", "col", "shape", "format"} <= keys:
            import scipy.sparse as sp

            return Graph.from_scipy(sp.load_npz(path))
        if "edge_index" in keys:
            edge_index = np.asarray(data["edge_index"])
        elif {"row", "col"} <= keys:
            edge_index = np.stack([np.asarray(data["row"]), np.asarray(data["col"])])
        else:
            raise ValueError(
                f"graph: {path} holds {sorted(keys)}; expected a scipy sparse matrix, 'edge_index' or 'row' + 'col'"
            )
        weight = next(
            (np.asarray(data[k]) for k in ("edge_weight", "value", "weight") if k in keys), None
        )
        num_nodes = int(data["num_nodes"]) if "num_nodes" in keys else None
    if edge_index.ndim != 2 or edge_index.shape[0] != 2:
        raise ValueError(
            f"graph: {path}: edge_index must have shape [2, E], got {edge_index.shape}"
        )
    return Graph.from_edge_index(
        torch.from_numpy(edge_index.astype(np.int64)),
        num_nodes,
        torch.from_numpy(weight.astype(np.float32)) if weight is not None else None,
    )


def _load_edge_list(path: Path) -> Graph:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        lines = [
            line for line in handle if line.strip() and not line.lstrip().startswith(("#", "%"))
        ]
    if lines and not lines[0].replace(",", " ").split()[0].lstrip("-").isdigit():
        lines = lines[1:]  # one header line
    if not lines:
        raise ValueError(f"graph: {path} has no edges")
    text = "".join(lines).replace(",", " ").replace("\t", " ")
    try:
        table = np.loadtxt(io.StringIO(text), dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise ValueError(
            f"graph: {path}: expected 'source target [weight]' per line ({error})"
        ) from None
    if table.shape[1] < 2:
        raise ValueError(f"graph: {path}: expected at least two columns, got {table.shape[1]}")
    edge_index = torch.from_numpy(table[:, :2].T.astype(np.int64))
    weight = torch.from_numpy(table[:, 2].astype(np.float32)) if table.shape[1] > 2 else None
    return Graph.from_edge_index(edge_index, None, weight)


def graph_label(spec: str) -> str:
    """A short, file-name-safe label for ``spec`` (plots, traces, CSV)."""
    kind, _, rest = spec.strip().partition(":")
    if kind == "file":
        rest = Path(rest).name
    label = f"{kind}-{rest}" if kind != "synthetic" else rest
    return "".join(
        c if c.isalnum() or c in "-_." else "-" for c in label.replace(",", "_").replace(":", "-")
    )
