"""LSP: local structure preserving distillation (Yang et al., "Distilling Knowledge from Graph
Convolutional Networks", CVPR 2020)."""

from __future__ import annotations

from torch import Tensor

from ..nn.norm import as_graph
from ..ops import segment_log_softmax, segment_reduce
from .base import DistillBatch, DistillLoss, check_positive
from .kernels import check_kernel, edge_kernel


class LSP(DistillLoss):
    r"""Each node's local structure, a distribution over its incoming edges,

    .. math::
        LS_{ij} = \frac{\exp k(z_i, z_j)}{\sum_{l \in \mathcal{N}(i)} \exp k(z_i, z_l)},
        \qquad j \in \mathcal{N}(i),

    computed for the student and the teacher on the same graph, and matched by

    .. math::
        \mathcal{L} = \beta \, \frac{1}{|\mathcal{V}'|} \sum_{i \in \mathcal{V}'}
        \mathrm{KL}(LS^t_i \,\|\, LS^s_i),

    the sum over each node's edges, the mean over the nodes ``V'`` with at least one incoming
    edge (the paper's ``1/N``). The kernels are :mod:`sparsegnn.distill.kernels` on one
    :func:`sparsegnn.ops.sddmm` per model and the softmax is
    :func:`sparsegnn.ops.segment_log_softmax` over the CSR rows: no ``E x F`` tensor. The
    student's and teacher's widths may differ (each kernel stays in its own space).

    Args:
        kernel: ``"linear"``, ``"poly"``, ``"rbf"`` (default) or ``"cosine"``.
        beta: the weight (default 100).
        layer: the hidden layer compared (default the last before the logits).

    Shapes: hidden float ``[n, F_s]`` and ``[n, F_t]``; the batch's graph has ``n`` columns.
    """

    name = "lsp"
    needs_hidden = True

    def __init__(self, kernel: str = "rbf", beta: float = 100.0, layer: int = -2) -> None:
        super().__init__(layer)
        self.kernel = check_kernel(kernel)
        self.beta = check_positive("beta", beta)

    def term(self, batch: DistillBatch) -> Tensor:
        s, t = self.embeddings(batch)
        graph = as_graph(batch.graph)
        if graph.num_cols != s.size(0):
            raise ValueError(f"graph: {graph.num_cols} columns for {s.size(0)} hidden rows")
        log_s = segment_log_softmax(edge_kernel(self.kernel, graph, s), graph.rowptr)
        log_t = segment_log_softmax(edge_kernel(self.kernel, graph, t), graph.rowptr)
        per_node = segment_reduce(log_t.exp() * (log_t - log_s), graph.rowptr, "sum")
        has_edges = graph.rowptr.diff() > 0
        return self.beta * per_node[has_edges].sum() / has_edges.sum().clamp(min=1)
