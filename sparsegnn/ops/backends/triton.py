"""The Triton backends: ``triton`` (row-wise CSR kernels) and ``triton_bsr`` (block-sparse SpMM).

``triton`` runs every op with the kernels of :mod:`sparsegnn.kernels`: SpMM sum/mean/max/min
(row blocking, feature tiles, deterministic two-pass split of long rows), segment reduce, SDDMM,
the max/min backward (a deterministic gather over the transpose) and INT8 SpMM.

``triton_bsr`` runs ``spmm`` with ``reduce="sum"`` (and ``"mean"`` = sum / degree) as a
block-sparse product on tensor cores: the CSR is turned into dense ``block x block`` tiles
(:class:`sparsegnn.blocksparse.BlockSparse`, cached per graph tensor), then
``sparsegnn.kernels.bsr_spmm`` multiplies tile by tile with ``tl.dot``. max/min are refused with a
ValueError (a tile product cannot take a max). Its other ops are the row-wise ``triton`` kernels,
so autograd through ``backend="triton_bsr"`` works. :func:`bsr_recommended` states when it should
win (the FLOP/byte argument is in the docstring of ``sparsegnn.kernels.bsr_spmm``).

Where they run: triton must import, and either a CUDA device is present or ``TRITON_INTERPRET=1``
is set (the CPU interpreter; slow, for tests). Without the interpreter they accept CUDA tensors
only. The kernel modules are imported on first use and re-imported if the interpreter setting
changed since (``sparsegnn.kernels.ensure_mode``), so import order never matters; call
:func:`register` again after changing ``TRITON_INTERPRET`` to update the devices of the records.
"""

from __future__ import annotations

import os
import sys
import weakref
from collections import OrderedDict
from typing import Any

import torch
from torch import Tensor

from ..dispatch import Backend, register_backend

BSR_BLOCK = int(os.environ.get("SPARSEGNN_BSR_BLOCK", "32"))
BSR_MAX_TILE_BYTES = 2 << 30
_BSR_CACHE_SIZE = 8
_bsr_cache: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()


_IMPORT_ERROR: list[str | None] = []  # memo: [None] once triton and the kernels imported


def _triton_import_error() -> str | None:
    if not _IMPORT_ERROR or _IMPORT_ERROR[0] is not None:
        try:
            import triton  # noqa: F401

            import sparsegnn.kernels.utils  # noqa: F401
            _IMPORT_ERROR[:] = [None]
        except Exception as e:  # noqa: BLE001 - ImportError, or a broken install
            _IMPORT_ERROR[:] = [f"triton or sparsegnn.kernels is not importable "
                                f"({type(e).__name__}: {e})"]
    return _IMPORT_ERROR[0]


def _env_interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def interpreting() -> bool:
    """Whether Triton kernels run through the CPU interpreter (``TRITON_INTERPRET=1``)."""
    if "triton" not in sys.modules:  # cheap answer without importing triton
        return _env_interpret()
    if _triton_import_error() is not None:
        return False
    from sparsegnn.kernels import utils

    return utils.interpreting()


def unavailable() -> str | None:
    """None when the Triton kernels can run here, else why not."""
    err = _triton_import_error()
    if err:
        return err
    if interpreting() or torch.cuda.is_available():
        return None
    return ("no CUDA device, and TRITON_INTERPRET=1 is not set (set it to run the Triton kernels "
            "on the CPU through the interpreter)")


def _kernels():
    import sparsegnn.kernels as K

    K.ensure_mode()
    return K


def _check(*tensors: Tensor | None) -> None:
    for t in tensors:
        if t is not None and t.device.type != "cuda" and not interpreting():
            raise ValueError(
                f"backend: 'triton' needs CUDA tensors (got {t.device.type}); set "
                "TRITON_INTERPRET=1 to run it on the CPU through the interpreter"
            )


# ---------------------------------------------------------------- triton (row-wise) -----------


def spmm(rowptr: Tensor, col: Tensor, value: Tensor | None, x: Tensor, reduce: str, need_arg: bool = True
         ) -> tuple[Tensor, Tensor]:
    """Computes the max/min arg whatever ``need_arg`` says (spmm_op drops it when unneeded)."""
    _check(rowptr, col, value, x)
    return _kernels().spmm.spmm(rowptr, col, value, x, reduce)


def segment_reduce(src: Tensor, rowptr: Tensor, reduce: str) -> tuple[Tensor, Tensor]:
    _check(src, rowptr)
    return _kernels().segment_reduce.segment_reduce(src, rowptr, reduce)


def sddmm(rowptr: Tensor, col: Tensor, a: Tensor, b: Tensor) -> Tensor:
    _check(rowptr, col, a, b)
    return _kernels().sddmm.sddmm(rowptr, col, a, b)


def spmm_arg_backward(col: Tensor, value: Tensor | None, arg: Tensor, grad_out: Tensor,
                      num_cols: int) -> Tensor:
    _check(col, value, arg, grad_out)
    return _kernels().spmm_arg_backward.spmm_arg_backward(col, value, arg, grad_out, num_cols)


def spmm_int8(rowptr: Tensor, col: Tensor, value_q: Tensor | None, xq: Tensor, row_scale: Tensor,
              col_scale: Tensor) -> Tensor:
    _check(rowptr, col, value_q, xq, row_scale, col_scale)
    return _kernels().spmm_int8.spmm_int8(rowptr, col, value_q, xq, row_scale, col_scale)


# ---------------------------------------------------------------- triton_bsr ------------------


def bsr_break_even_fill(F: int, block: int, kappa: float = 1.0) -> float:
    """Predicted tile fill ratio above which block-sparse SpMM moves fewer bytes than row-wise.

    ``(B + F) / (kappa * F * B)``; ``kappa`` is the fraction of the row-wise kernel's gathered x
    rows that miss in L2 (1: no reuse). See ``sparsegnn.kernels.bsr_spmm``. Not measured.
    """
    return (block + F) / (kappa * max(F, 1) * block)


def bsr_recommended(fill_ratio: float, F: int, block: int = BSR_BLOCK) -> bool:
    """Whether ``triton_bsr`` is predicted to beat ``triton`` for this fill ratio and width.

    Uses kappa = 1/3 (a clustered graph lets the row-wise kernel hit L2 for ~2/3 of its
    gathers) and a 1.5x margin for the tile-walk overhead. A prediction to calibrate with
    bench/spmm_gpu.py, not a measurement.
    """
    return fill_ratio >= 1.5 * bsr_break_even_fill(F, block, kappa=1.0 / 3.0)


def _key_part(t: Tensor | None) -> tuple:
    if t is None:
        return (None,)
    return (t.data_ptr(), t._version, t.numel(), t.dtype, t.device)


def block_sparse_for(rowptr: Tensor, col: Tensor, value: Tensor | None, num_cols: int,
                     dtype: torch.dtype, block: int = BSR_BLOCK):
    """The cached :class:`BlockSparse` of this CSR (tiles of ``dtype``), built on first use.

    Cached by tensor identity (a weak reference plus data pointer and version counter), so an
    in-place change of the graph's tensors or a new graph rebuilds it.
    """
    from sparsegnn.blocksparse import BlockSparse

    key = (_key_part(rowptr), _key_part(col), _key_part(value), num_cols, dtype, block)
    hit = _bsr_cache.get(key)
    if hit is not None:
        refs, bs = hit
        if all(r() is t for r, t in zip(refs, (rowptr, col, value)) if t is not None):
            _bsr_cache.move_to_end(key)
            return bs
    bs = BlockSparse.from_csr(rowptr, col, value, rowptr.numel() - 1, num_cols, block=block,
                              dtype=dtype, max_tile_bytes=BSR_MAX_TILE_BYTES)
    refs = tuple(weakref.ref(t) for t in (rowptr, col, value) if t is not None)
    _bsr_cache[key] = (refs, bs)
    while len(_bsr_cache) > _BSR_CACHE_SIZE:
        _bsr_cache.popitem(last=False)
    return bs


def spmm_block_sparse(bs, x: Tensor, precision: str | None = None) -> Tensor:
    """``out [num_rows, F] = A @ x`` for a prebuilt :class:`BlockSparse` ``bs`` (sum reduce).

    ``precision`` applies to float32: "tf32x3" (default), "tf32" or "ieee".
    """
    _check(x, bs.tiles)
    if bs.num_cols != x.shape[0]:
        raise ValueError(f"x: expected {bs.num_cols} rows, got {x.shape[0]}")
    tiles = bs.tiles if bs.tiles.dtype == x.dtype else bs.tiles.to(x.dtype)
    return _kernels().bsr_spmm.bsr_spmm(bs.block_rowptr, bs.block_col, tiles, x, bs.num_rows,
                                        precision=precision)


def spmm_bsr(rowptr: Tensor, col: Tensor, value: Tensor | None, x: Tensor, reduce: str,
             need_arg: bool = True) -> tuple[Tensor, Tensor]:
    """Sum and mean only: there is never an arg, whatever ``need_arg`` says."""
    if reduce not in ("sum", "mean"):
        raise ValueError(
            f"reduce: backend 'triton_bsr' runs 'sum' and 'mean' only, got {reduce!r}; "
            "use backend='triton' for max/min"
        )
    _check(rowptr, col, value, x)
    bs = block_sparse_for(rowptr, col, value, x.shape[0], x.dtype)
    out = spmm_block_sparse(bs, x)
    if reduce == "mean":
        deg = (rowptr[1:] - rowptr[:-1]).clamp(min=1).unsqueeze(1)
        out = (out.to(torch.float64 if x.dtype == torch.float64 else torch.float32) / deg
               ).to(x.dtype)
    return out, torch.empty(0, dtype=torch.int64, device=x.device)


def _devices() -> frozenset[str]:
    return frozenset({"cuda", "cpu"}) if interpreting() else frozenset({"cuda"})


def register() -> tuple[Backend, Backend]:
    """(Re-)register both backends, with the devices the current interpreter setting allows."""
    devices = _devices()
    row = register_backend(Backend(
        name="triton", devices=devices, spmm=spmm, segment_reduce=segment_reduce, sddmm=sddmm,
        spmm_arg_backward=spmm_arg_backward, spmm_int8=spmm_int8, unavailable=unavailable,
    ))
    bsr = register_backend(Backend(
        name="triton_bsr", devices=devices, spmm=spmm_bsr, segment_reduce=segment_reduce,
        sddmm=sddmm, spmm_arg_backward=spmm_arg_backward, spmm_int8=spmm_int8,
        unavailable=unavailable,
    ))
    return row, bsr


register()
