"""Backend registry and selection for ``sparsegnn.ops``.

A backend is a :class:`Backend` record of kernel functions; each backend module registers one
with :func:`register_backend` when it is imported. Kernel functions receive validated,
contiguous tensors and follow the contract written in ``csrc/ops.cpp``:

- ``spmm(rowptr, col, value, x, reduce, need_arg) -> (out [N, F], arg [N, F] int64 or empty)``;
  ``need_arg=False`` (a forward-only call) lets a backend skip the max/min arg (the op drops it
  either way)
- ``segment_reduce(src, rowptr, reduce) -> (out [N, F], arg)``
- ``sddmm(rowptr, col, a, b) -> out [nnz]``
- ``spmm_arg_backward(col, value, arg, grad_out, num_cols) -> grad_x [num_cols, F]``
- ``spmm_int8(rowptr, col, value_q, xq, row_scale, col_scale) -> out float32 [N, F]``

A backend leaves an op it cannot do as ``None``; ``resolve`` then names the backends that can.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch

OPS = ("spmm", "segment_reduce", "sddmm", "spmm_arg_backward", "spmm_int8")
REDUCES = ("sum", "mean", "max", "min")
FLOAT_DTYPES = frozenset({torch.float16, torch.bfloat16, torch.float32, torch.float64})


@dataclass(frozen=True)
class Backend:
    """One implementation of the sparse ops.

    Attributes:
        name: the string users pass as ``backend=``.
        devices: device types it runs on (``{"cpu"}``, ``{"cuda"}`` or both).
        spmm, segment_reduce, sddmm, spmm_arg_backward, spmm_int8: kernel functions, or None.
        unavailable: returns None when the backend can run here, else the reason it cannot.
        dtypes: floating dtypes it accepts.
    """

    name: str
    devices: frozenset[str]
    spmm: Callable | None = None
    segment_reduce: Callable | None = None
    sddmm: Callable | None = None
    spmm_arg_backward: Callable | None = None
    spmm_int8: Callable | None = None
    unavailable: Callable[[], str | None] = field(default=lambda: None)
    dtypes: frozenset[torch.dtype] = FLOAT_DTYPES

    def supports(self, op: str, device: torch.device, dtype: torch.dtype | None = None) -> bool:
        if getattr(self, op) is None or device.type not in self.devices:
            return False
        if dtype is not None and dtype.is_floating_point and dtype not in self.dtypes:
            return False
        return self.unavailable() is None


_REGISTRY: dict[str, Backend] = {}
_override = threading.local()


def register_backend(backend: Backend) -> Backend:
    """Add ``backend`` to the registry (replacing one of the same name) and return it."""
    _REGISTRY[backend.name] = backend
    return backend


def get_backend(name: str) -> Backend:
    """The registered backend called ``name``; ValueError naming the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"backend: unknown backend {name!r}; known backends are {sorted(_REGISTRY)}"
        ) from None


def registered_backends() -> list[str]:
    """Names of every registered backend, usable here or not."""
    return sorted(_REGISTRY)


def available_backends(device: str | torch.device = "cpu", op: str = "spmm") -> list[str]:
    """Names of the backends that can run ``op`` on ``device`` on this machine."""
    device = torch.device(device)
    return sorted(n for n, b in _REGISTRY.items() if b.supports(op, device))


def set_backend(name: str | None) -> None:
    """Make ``name`` the default for every op call of this thread (``None``: back to ``auto``)."""
    if name is not None and name != "auto":
        get_backend(name)
    _override.name = None if name == "auto" else name


def current_backend() -> str:
    """The backend that ``backend="auto"`` resolves through: an override, or ``"auto"``."""
    return getattr(_override, "name", None) or "auto"


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Context manager: ``with use_backend("numba"): ...`` runs the block's ops on ``name``."""
    previous = getattr(_override, "name", None)
    set_backend(name)
    try:
        yield
    finally:
        _override.name = previous


def capable(op: str, device: torch.device, dtype: torch.dtype | None = None) -> list[str]:
    """Backends that can run ``op`` for tensors on ``device`` of ``dtype``."""
    return sorted(n for n, b in _REGISTRY.items() if b.supports(op, device, dtype))


def require(name: str, op: str, device: torch.device, dtype: torch.dtype | None = None) -> Backend:
    """The backend ``name``, checked to run ``op`` here; a ValueError naming those that can."""
    backend = get_backend(name)
    if backend.supports(op, device, dtype):
        return backend
    reason = backend.unavailable()
    why = f" ({reason})" if reason else ""
    raise ValueError(
        f"backend: {name!r} cannot run {op} on {device.type} tensors of {dtype}{why}; "
        f"backends that can: {capable(op, device, dtype)}"
    )
