"""The ``cpu`` and ``cuda`` backends: the hand-written kernels of the extension ``sparsegnn._C``.

Both call the same ``torch.ops.sparsegnn_C`` ops; torch's dispatcher sends CPU tensors to
csrc/cpu and CUDA tensors to csrc/cuda. The CPU kernels are always built; the CUDA ones only
where the extension was compiled with a CUDA toolkit.
"""

from __future__ import annotations

import torch

from ..dispatch import Backend, register_backend

try:
    from ... import _C

    _IMPORT_ERROR = None
except ImportError as error:
    _C, _IMPORT_ERROR = None, f"the extension sparsegnn._C is not built ({error})"


def _cpu_unavailable() -> str | None:
    return _IMPORT_ERROR


def _cuda_unavailable() -> str | None:
    if _C is None:
        return _IMPORT_ERROR
    if not _C.has_cuda():
        return "sparsegnn._C was built without CUDA kernels"
    if not torch.cuda.is_available():
        return "no CUDA device"
    return None


def _native_ops() -> dict:
    if _C is None:
        return {}
    ops = torch.ops.sparsegnn_C
    return {
        "spmm": ops.spmm.default,
        "segment_reduce": ops.segment_reduce.default,
        "sddmm": ops.sddmm.default,
        "spmm_arg_backward": ops.spmm_arg_backward.default,
        "spmm_int8": ops.spmm_int8.default,
    }


_OPS = _native_ops()
CPU = register_backend(Backend(name="cpu", devices=frozenset({"cpu"}), unavailable=_cpu_unavailable, **_OPS))
CUDA = register_backend(Backend(name="cuda", devices=frozenset({"cuda"}), unavailable=_cuda_unavailable, **_OPS))


def release_cached_outputs() -> int:
    """Frees the output blocks the CPU kernels keep for reuse; returns the bytes freed.

    Outputs of 32 MiB or more are huge-page blocks, and a freed one is kept (at most 8 blocks,
    1 GiB) for the next output of the same size, so that a training loop's repeated shapes cost no
    page faults. Call this to hand that memory back, like ``torch.cuda.empty_cache``.
    """
    if _C is None:
        return 0
    held = _C.cpu_cached_output_bytes()
    _C.cpu_release_cached_outputs()
    return held
