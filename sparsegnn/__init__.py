"""sparsegnn: hand-written sparse kernels for graph neural networks, and the toolbox on them.

``sparsegnn.Graph`` holds a CSR adjacency; ``sparsegnn.ops`` runs SpMM, segment reductions,
SDDMM and INT8 SpMM on it with autograd and ``torch.compile`` support, on the best backend for
the device (C++ CPU kernels, CUDA, Triton, numba, dense-masked, or plain torch).
"""

from . import ops
from .graph import Graph

__version__ = "0.1.0"
__all__ = ["Graph", "ops", "__version__"]
