"""Reader for the raw Planetoid citation datasets (Cora, CiteSeer, PubMed).

The raw files are those of Yang et al., "Revisiting Semi-Supervised Learning with Graph
Embeddings" (ICML 2016): ``ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}``. The result is
the same graph, features, labels and public split that
``torch_geometric.datasets.Planetoid(root, name)`` builds, without importing torch_geometric.
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from . import safe_pickle
from .dataset import GraphData, find_data_root, index_to_mask

NAMES = ("cora", "citeseer", "pubmed")
_PYG_DIRS = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
Features = Literal["file", "random", "none"]


class Planetoid(GraphData):
    """A Planetoid dataset with its standard public split.

    Args:
        root: folder holding the raw files ``ind.<name>.*``, either directly, or in
            ``root/<name>/raw`` (PyG's layout, name as ``Cora`` or ``cora``), or in
            ``root/planetoid``. None: :func:`find_data_root`.
        name: ``"cora"``, ``"citeseer"`` or ``"pubmed"``, any case.
        features: ``"file"`` (default) reads ``x``/``tx``/``allx``; ``"random"`` makes
            standard-normal features of the file's width from ``seed`` instead (for when
            ``allx`` is missing, as for our PubMed copy); ``"none"`` sets ``x = None``.
        seed: seed of the random features (``features="random"`` only).

    Attributes (beyond :class:`GraphData`):
        x: float32 ``[N, F]`` (None with ``features="none"``).
        y: int64 ``[N]``.
        edge_index: int64 ``[2, E]``, undirected (both directions present), self loops and
            duplicates removed, sorted by (target, source) as PyG's ``coalesce`` leaves it.
        train_mask: the first ``len(ind.<name>.y)`` nodes (20 per class).
        val_mask: the next 500 nodes.
        test_mask: the nodes of ``ind.<name>.test.index``.

    CiteSeer has test indices that are absent from the graph file's test set; as in PyG, they
    are filled with zero features and zero label rows (label 0) and are in no mask.

    Raises:
        ValueError: unknown name or ``features`` value; a raw file that is truncated or
            damaged, or whose pickle references anything but numpy / scipy.sparse / builtin
            types (it is refused unrun; named in the message).
        FileNotFoundError: no folder with the raw files, or a needed raw file is missing
            (named in the message).
    """

    def __init__(
        self,
        root: str | Path | None,
        name: str,
        features: Features = "file",
        seed: int = 0,
    ) -> None:
        key = name.lower()
        if key not in NAMES:
            raise ValueError(f"name must be one of {NAMES} (any case), got {name!r}")
        if features not in ("file", "random", "none"):
            raise ValueError(f"features must be 'file', 'random' or 'none', got {features!r}")
        folder = _find_raw_folder(root, key)

        y_train, ty, ally = (_read(folder, key, part) for part in ("y", "ty", "ally"))
        test_index = _read(folder, key, "test.index")
        sorted_test = np.sort(test_index)
        if key == "citeseer":
            # Isolated CiteSeer nodes leave gaps in the test indices: pad with zero rows.
            ty = _pad_test_rows(ty, test_index, sorted_test)
        labels = np.concatenate([ally, ty]).argmax(axis=1)
        labels[test_index] = labels[sorted_test]
        y = torch.from_numpy(labels.astype(np.int64))
        num_nodes = y.numel()

        x = None
        if features == "file":
            try:
                tx, allx = _read(folder, key, "tx"), _read(folder, key, "allx")
            except FileNotFoundError as err:
                raise FileNotFoundError(
                    f"{err}; pass features='random' or features='none' to load the graph and "
                    "labels without the feature files"
                ) from None
            if key == "citeseer":
                tx = _pad_test_rows(tx, test_index, sorted_test)
            feats = np.concatenate([allx, tx]).astype(np.float32)
            feats[test_index] = feats[sorted_test]
            x = torch.from_numpy(feats)
        elif features == "random":
            width = _read(folder, key, "x").shape[1]
            gen = torch.Generator().manual_seed(seed)
            x = torch.randn(num_nodes, width, generator=gen, dtype=torch.float32)

        num_train = y_train.shape[0]
        super().__init__(
            edge_index=_edge_index_from_dict(_read(folder, key, "graph"), num_nodes),
            num_nodes=num_nodes,
            x=x,
            y=y,
            train_mask=index_to_mask(np.arange(num_train), num_nodes),
            val_mask=index_to_mask(np.arange(num_train, num_train + 500), num_nodes),
            test_mask=index_to_mask(test_index, num_nodes),
            num_classes=ally.shape[1],
            name=key,
        )


def _find_raw_folder(root: str | Path | None, key: str) -> Path:
    """The first of the candidate folders under ``root`` that holds ``ind.<key>.graph``."""
    if root is None:
        root = find_data_root()
        if root is None:
            raise FileNotFoundError(
                "no data root: pass root= or set $SPARSEGNN_DATA to a folder with the "
                f"Planetoid raw files (ind.{key}.*)"
            )
    root = Path(root)
    candidates = [
        root,
        root / key / "raw",
        root / _PYG_DIRS[key] / "raw",
        root / "planetoid",
    ]
    for folder in candidates:
        if (folder / f"ind.{key}.graph").is_file():
            return folder
    raise FileNotFoundError(
        f"ind.{key}.graph not found in any of: " + ", ".join(str(c) for c in candidates)
    )


def _read(folder: Path, key: str, part: str) -> Any:
    """One raw file: ``test.index`` as int64 ``[T]``, ``graph`` as the dict of adjacency lists,
    anything else (scipy sparse or numpy) as a dense numpy array. Pickles are read through
    :func:`safe_pickle.load` (numpy / scipy / builtin types only); a file of another kind, or
    a damaged one, raises a ValueError naming it."""
    path = folder / f"ind.{key}.{part}"
    if not path.is_file():
        raise FileNotFoundError(f"missing Planetoid raw file {path}")
    if part == "test.index":
        try:
            return np.loadtxt(path, dtype=np.int64, ndmin=1)
        except ValueError as err:
            raise ValueError(f"{path}: not a list of integer node ids ({err})") from None
    out = safe_pickle.load(path)
    if part == "graph":
        if not isinstance(out, dict):
            kind = type(out).__name__
            raise ValueError(f"{path}: expected a dict of adjacency lists, got {kind}")
        return out
    if hasattr(out, "todense"):
        out = out.todense()
    if not isinstance(out, np.ndarray) or out.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D numpy array or scipy sparse matrix")
    return np.asarray(out)


def _pad_test_rows(rows: np.ndarray, test_index: np.ndarray, sorted_test: np.ndarray) -> np.ndarray:
    """Spread ``rows`` (one per test node, in sorted order) over the full index range
    ``[min(test_index), max(test_index)]``, zeros where no test node is."""
    lo = int(test_index.min())
    out = np.zeros((int(test_index.max()) - lo + 1, rows.shape[1]), dtype=rows.dtype)
    out[sorted_test - lo] = rows
    return out


def _edge_index_from_dict(graph: dict[int, list[int]], num_nodes: int) -> torch.Tensor:
    """int64 ``[2, E]`` from adjacency lists: both directions, no self loops, no duplicates,
    sorted by (target, source)."""
    keys = np.fromiter(graph.keys(), dtype=np.int64, count=len(graph))
    lengths = np.fromiter((len(v) for v in graph.values()), dtype=np.int64, count=len(graph))
    src = np.repeat(keys, lengths)
    dst = np.fromiter(chain.from_iterable(graph.values()), dtype=np.int64,
                      count=int(lengths.sum()))
    src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    keep = src != dst
    key = np.unique(dst[keep] * num_nodes + src[keep])
    return torch.from_numpy(np.stack([key % num_nodes, key // num_nodes]))
