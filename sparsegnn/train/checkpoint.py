"""Training checkpoints: everything :class:`~sparsegnn.train.Trainer` needs to continue a run as
if it had never stopped, in one :mod:`sparsegnn.durable` record (atomic, sha256-checked).

A checkpoint holds, after epoch ``epoch``: the model's and the optimizer's ``state_dict``, the
method's state (:meth:`Method.state_dict`: the samplers draw from ``(seed, epoch)`` streams and
keep nothing; GAS keeps its histories), the python / numpy / torch RNG states of every rank, the
epoch records so far, the selection state (best epoch, its accuracies, its ``state_dict``, the
epochs without improvement) and whether the run finished.

Its meta says what it belongs to: the caller's identity (dataset, graph hash, model, recipe,
method and its options, seed) plus the model's parameter names and shapes. :func:`load` refuses a
checkpoint whose identity differs from the run's with one :class:`CheckpointMismatch` naming the
file and each field that differs; a truncated or damaged file raises
:class:`~sparsegnn.durable.DamagedFileError`. Both are ValueErrors.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..durable import mismatches, read_record, write_record

KIND = "sparsegnn-checkpoint/1"


class CheckpointMismatch(ValueError):
    """A checkpoint written by another run (other model, dataset, method or seed)."""


def model_signature(model: torch.nn.Module) -> dict[str, list[int]]:
    """``{name: shape}`` of the model's parameters and buffers (its ``state_dict``)."""
    return {name: list(value.shape) for name, value in model.state_dict().items() if hasattr(value, "shape")}


def rng_state() -> dict[str, Any]:
    """The python, numpy and torch (CPU, and CUDA where present) RNG states, as plain data."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: str | os.PathLike, identity: dict[str, Any], model: torch.nn.Module, state: dict[str, Any]) -> None:
    """Write the checkpoint ``state`` of ``model``'s run (``identity``: JSON-able) to ``path``."""
    write_record(path, KIND, {**identity, "model_signature": model_signature(model)}, state)


def load(path: str | os.PathLike, identity: dict[str, Any], model: torch.nn.Module) -> dict[str, Any]:
    """The checkpoint state at ``path``, checked to belong to this run (see the module docstring)."""
    meta, state = read_record(path, KIND)
    differ = mismatches(meta, {**identity, "model_signature": model_signature(model)})
    if differ:
        raise CheckpointMismatch(f"{Path(path)}: written by another run; " + "; ".join(differ))
    return state
