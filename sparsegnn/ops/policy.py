"""How ``backend="auto"`` picks a backend.

The choice goes by device, op, reduce, graph density and feature width. On CUDA the hand-written
kernels come first, then Triton; on the CPU the C++ kernels, then numba and plain torch when the
extension is not built. The dense-masked backend (a BLAS GEMM on ``A`` as a dense matrix) is
chosen for small, dense adjacencies only in front of those fallbacks: measured on the development
machine (bench/RESULTS.md, "Dense-masked policy"), the C++ kernels beat it 4-34x at every density
up to 57% for N <= 2048, F = 64, because materialising ``A`` costs more than the GEMM saves; it
breaks even with numba from about 30% density. A tuned policy (``sparsegnn tune``) that measured
dense winning on a machine overrides this.

A tuned policy file written by ``sparsegnn tune`` (see ``ops/tuned.py``: ``$SPARSEGNN_POLICY`` or
``~/.cache/sparsegnn/policy.json``) overrides both: its dense limits replace the two constants
below and its per-bucket rules (op, reduce, feature width, average degree) come before
``_PREFERENCE``. A tuned backend that cannot run the call is skipped; without a file the
built-in defaults apply unchanged.
"""

from __future__ import annotations

import torch

from . import tuned
from .dispatch import Backend, capable, current_backend, get_backend, require

# Dense-masked sum/mean wins on the CPU when the adjacency has at most this many cells ...
DENSE_MAX_CELLS = 1 << 22
# ... and at least this fraction of them stored.
DENSE_MIN_DENSITY = 0.3

_PREFERENCE = {"cuda": ("cuda", "triton", "torch"), "cpu": ("cpu", "numba", "torch")}


def dense_wins(
    num_rows: int,
    num_cols: int,
    nnz: int,
    reduce: str | None,
    max_cells: int | None = None,
    min_density: float | None = None,
) -> bool:
    """Whether the dense-masked backend is expected to beat the sparse kernels (limits default
    to :data:`DENSE_MAX_CELLS` and :data:`DENSE_MIN_DENSITY`)."""
    max_cells = DENSE_MAX_CELLS if max_cells is None else max_cells
    min_density = DENSE_MIN_DENSITY if min_density is None else min_density
    cells = num_rows * num_cols
    return reduce in (None, "sum", "mean") and 0 < cells <= max_cells and nnz >= min_density * cells


def choose(
    op: str,
    device: torch.device,
    dtype: torch.dtype,
    num_rows: int,
    num_cols: int,
    nnz: int,
    reduce: str | None = None,
    *,
    feat: int | None = None,
) -> str:
    """The backend name ``auto`` resolves to for this call (``feat``: the feature width when the
    caller knows it; the tuned policy's rules are bucketed by it, ``tuned.DEFAULT_FEAT`` otherwise)."""
    able = set(capable(op, device, dtype))
    policy = tuned.load()
    max_cells, min_density, dense_measured = DENSE_MAX_CELLS, DENSE_MIN_DENSITY, False
    if policy is not None:  # (dense_limits with no policy would look for the file again)
        max_cells, min_density = tuned.dense_limits(device.type, (DENSE_MAX_CELLS, DENSE_MIN_DENSITY), policy)
        dense_measured = tuned.dense_limits(device.type, (0, 0.0), policy) != (0, 0.0)
    native = _PREFERENCE.get(device.type, ("torch",))[0]
    if (
        "dense" in able
        and (dense_measured or native not in able)
        and dense_wins(num_rows, num_cols, nnz, reduce, max_cells, min_density)
    ):
        return "dense"
    if policy is not None:
        name = tuned.pick(op, device.type, reduce, nnz / max(num_rows, 1), feat, policy)
        if name in able and name != "dense":
            return name
    for name in _PREFERENCE.get(device.type, ("torch",)):
        if name in able:
            return name
    if able:
        return sorted(able)[0]
    raise ValueError(f"backend: no registered backend can run {op} on {device.type} tensors of {dtype}")


def resolve(
    op: str,
    backend: str,
    device: torch.device,
    dtype: torch.dtype,
    num_rows: int,
    num_cols: int,
    nnz: int,
    reduce: str | None = None,
    strict: bool = True,
    *,
    feat: int | None = None,
) -> Backend:
    """The backend that runs ``op``: ``backend`` itself, or the thread's override / the policy
    for ``"auto"``. With ``strict=False`` (internal steps such as a backward pass), a backend that
    cannot run ``op`` is replaced by the policy's choice instead of raising. ``feat`` (the feature
    width, when known) selects the tuned policy's F bucket."""
    name = current_backend() if backend == "auto" else backend
    if name == "auto":
        name = choose(op, device, dtype, num_rows, num_cols, nnz, reduce, feat=feat)
    if not strict and not get_backend(name).supports(op, device, dtype):
        name = choose(op, device, dtype, num_rows, num_cols, nnz, reduce, feat=feat)
    return require(name, op, device, dtype)
