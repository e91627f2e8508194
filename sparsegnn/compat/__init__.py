"""Drop-in replacements for other libraries' APIs, running on sparsegnn kernels.

- :mod:`sparsegnn.compat.torch_scatter`: ``import sparsegnn.compat.torch_scatter as torch_scatter``.
"""

from . import torch_scatter

__all__ = ["torch_scatter"]
