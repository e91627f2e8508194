"""Training datasets from a short spec string (``sparsegnn train --dataset``).

- ``cora`` / ``citeseer`` / ``pubmed``: Planetoid with its public split (PubMed's feature file
  is absent here: its features are random normal, so only its structure and labels are real);
- ``sbm:N,C,DEG[,H]``: the block model with class-correlated features and its split;
- ``rmat:S[,EF]`` / ``power_law:N,E[,EXP]``: speed workloads: random features (64 wide), random
  labels (8 classes) and a random 60 / 20 / 20 split, so accuracy is chance;
- ``file:PATH``: an ``.npz`` with ``edge_index`` int ``[2, E]``, ``x`` float ``[N, F]``, ``y``
  int ``[N]`` and optionally bool ``train_mask`` / ``val_mask`` / ``test_mask`` (else a random
  60 / 20 / 20 split).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .dataset import GraphData
from .planetoid import NAMES, Planetoid
from .synthetic import make_synthetic

_RANDOM_FEATURES, _RANDOM_CLASSES = 64, 8


def random_split(num_nodes: int, seed: int, fractions: tuple[float, float] = (0.6, 0.2)) -> tuple[torch.Tensor, ...]:
    """bool ``[N]`` train / val / test masks of a random ``fractions`` split."""
    order = torch.randperm(num_nodes, generator=torch.Generator().manual_seed(seed))
    a, b = int(fractions[0] * num_nodes), int((fractions[0] + fractions[1]) * num_nodes)
    masks = []
    for part in (order[:a], order[a:b], order[b:]):
        mask = torch.zeros(num_nodes, dtype=torch.bool)
        mask[part] = True
        masks.append(mask)
    return tuple(masks)


def load_dataset(spec: str, seed: int = 0) -> GraphData:
    """The dataset ``spec`` names (module docstring). ValueError for a bad spec,
    FileNotFoundError for missing files."""
    spec = spec.strip()
    if spec.lower() in NAMES:
        name = spec.lower()
        return Planetoid(None, name, features="random" if name == "pubmed" else "file")
    kind, _, rest = spec.partition(":")
    if kind == "file":
        return _load_npz(Path(rest), seed)
    if kind not in ("sbm", "rmat", "power_law"):
        raise ValueError(
            f"dataset: expected cora, citeseer, pubmed, sbm:N,C,DEG, rmat:S,EF, power_law:N,E or file:PATH, got {spec!r}"
        )
    data = make_synthetic(spec, seed=seed)
    if data.x is None:
        gen = torch.Generator().manual_seed(seed)
        data.x = torch.randn(data.num_nodes, _RANDOM_FEATURES, generator=gen)
        data.y = torch.randint(0, _RANDOM_CLASSES, (data.num_nodes,), generator=gen)
        data.train_mask, data.val_mask, data.test_mask = random_split(data.num_nodes, seed)
    return data


def _load_npz(path: Path, seed: int) -> GraphData:
    if not path.is_file():
        raise FileNotFoundError(f"dataset: no such file {str(path)!r}")
    try:
        arrays = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise ValueError(f"dataset: {path} is not a readable .npz ({err})") from None
    missing = [k for k in ("edge_index", "x", "y") if k not in arrays]
    if missing:
        raise ValueError(f"dataset: {path} lacks the arrays {missing} (needs edge_index, x, y)")
    x = torch.from_numpy(arrays["x"].astype(np.float32))
    edge_index = torch.from_numpy(arrays["edge_index"].astype(np.int64))
    masks = [torch.from_numpy(arrays[k].astype(bool)) if k in arrays else None
             for k in ("train_mask", "val_mask", "test_mask")]
    if any(m is None for m in masks):
        masks = list(random_split(x.size(0), seed))
    return GraphData(edge_index, x.size(0), x=x, y=torch.from_numpy(arrays["y"].astype(np.int64)),
                     train_mask=masks[0], val_mask=masks[1], test_mask=masks[2], name=path.stem)
