"""``sparsegnn.gas``: GNNAutoScale (Fey et al., "GNNAutoScale: Scalable and Expressive Graph
Neural Networks via Historical Embeddings", ICML 2021).

- :class:`History` (``history.py``): ``[N, C]`` historical embeddings in float32, float16,
  bfloat16 or per-row int8, pulled / pushed by ids or by contiguous chunks.
- :class:`Transfers` (``transfer.py``): history I/O on a worker thread (and a CUDA side
  stream), overlapping the layers' compute.
- :class:`HaloBatcher` (``halo.py``): a batch of METIS parts with its 1-hop halo, cut from the
  full-graph-normalised adjacency.
- :class:`GASModel` (``model.py``): a GCN / SAGE / EGC run through the histories, and its
  layer-wise :meth:`~GASModel.inference`.
- :class:`GAS` (``method.py``): the training method (``sparsegnn train --method gas``).
"""

from .halo import GASBatch, HaloBatch, HaloBatcher, halo_graph
from .history import DTYPES, History, quantize_rows, storage_dtype
from .method import DEFAULTS, GAS, PYGAS, PYGAS_RECIPE
from .model import GASModel
from .transfer import Transfers

__all__ = [
    "DEFAULTS",
    "DTYPES",
    "GAS",
    "GASBatch",
    "GASModel",
    "HaloBatch",
    "HaloBatcher",
    "History",
    "PYGAS",
    "PYGAS_RECIPE",
    "Transfers",
    "halo_graph",
    "quantize_rows",
    "storage_dtype",
]
