"""``sparsegnn.ops``: the one public door to the kernels.

``spmm``, ``segment_reduce``, ``sddmm`` and ``multi_aggregate`` (autograd, torch.compile),
``spmm_int8`` with its quantization helpers (inference), ``dropout`` (one-pass CPU kernel),
and the backend controls ``available_backends``, ``set_backend`` and ``use_backend``;
``release_cached_outputs`` frees the CPU kernels' cached output blocks.
"""

from . import backends  # noqa: F401  (registers every backend)
from .backends.native import release_cached_outputs
from .dispatch import (
    Backend,
    available_backends,
    current_backend,
    get_backend,
    register_backend,
    registered_backends,
    set_backend,
    use_backend,
)
from .dropout import dropout
from .int8 import quantize_edge_weights, quantize_per_channel, quantize_per_tensor, requantize, spmm_int8
from .multi import multi_aggregate
from .sddmm import sddmm
from .segment import segment_log_softmax, segment_reduce, segment_softmax
from .spmm import spmm

__all__ = [
    "Backend",
    "available_backends",
    "current_backend",
    "dropout",
    "get_backend",
    "multi_aggregate",
    "quantize_edge_weights",
    "quantize_per_channel",
    "quantize_per_tensor",
    "register_backend",
    "registered_backends",
    "release_cached_outputs",
    "requantize",
    "sddmm",
    "segment_log_softmax",
    "segment_reduce",
    "segment_softmax",
    "set_backend",
    "spmm",
    "spmm_int8",
    "use_backend",
]
