"""Triton kernels of sparsegnn (installed as ``sparsegnn.kernels``).

One op per module, each with private ``@triton.jit`` kernels and a plain-Python launcher:

=====================  ==========================================================
module                 launcher
=====================  ==========================================================
``spmm``               ``spmm(rowptr, col, value, x, reduce) -> (out, arg)``
``segment_reduce``     ``segment_reduce(src, rowptr, reduce) -> (out, arg)``
``sddmm``              ``sddmm(rowptr, col, a, b) -> out [nnz]``
``spmm_arg_backward``  ``spmm_arg_backward(col, value, arg, grad_out, num_cols)``
``spmm_int8``          ``spmm_int8(rowptr, col, value_q, xq, row_scale, col_scale)``
``bsr_spmm``           ``bsr_spmm(block_rowptr, block_col, tiles, x, num_rows)``
=====================  ==========================================================

``utils`` holds the shared launch helpers (autotune wrapper, ``last_config``), ``aot`` compiles
every kernel and config for sm_80 and sm_90 without a GPU (``python -m sparsegnn.kernels.aot
--report``).

Interpreter mode. In triton 3.9 ``@triton.jit`` decides at *decoration* time whether it builds a
compiled ``JITFunction`` or an ``InterpretedFunction``, from ``triton.knobs.runtime.interpret``
(the ``TRITON_INTERPRET`` environment variable, read at that moment). Two consequences:

- triton's own library functions (``tl.sum``, ``tl.max``, ``tl.zeros``...) are decorated once,
  when triton is imported, and a compiled one cannot be called from an interpreted kernel. The
  kernels here therefore use builtins only, plus combine functions for ``tl.reduce`` that each
  kernel module decorates itself (``utils.combiners``), so they run interpreted whatever mode
  triton was imported in (by torch, by another test file, by anything).
- our kernel modules are imported lazily, and :func:`ensure_mode` re-imports those built under
  the other setting. The backends call it before every launch, so import order never matters.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType

KERNEL_MODULES = ("spmm", "segment_reduce", "sddmm", "spmm_arg_backward", "spmm_int8", "bsr_spmm")


def ensure_mode() -> None:
    """Re-import the kernel modules whose interpreter mode differs from the current setting."""
    from . import utils

    want = utils.interpreting()
    for name in KERNEL_MODULES:
        mod = sys.modules.get(f"{__name__}.{name}")
        if mod is not None and getattr(mod, "INTERPRETED", want) != want:
            importlib.reload(mod)


def __getattr__(name: str) -> ModuleType:
    if name in KERNEL_MODULES or name in ("utils", "aot"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def last_config(kernel_name: str):
    """The config kernel ``kernel_name`` last launched with (see ``utils.last_config``)."""
    from . import utils

    return utils.last_config(kernel_name)
