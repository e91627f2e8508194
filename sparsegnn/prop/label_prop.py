"""Label Propagation and Correct & Smooth on sparsegnn kernels, with PyG's interface."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import ops
from ..graph import Graph
from ..nn.norm import as_graph, gcn_norm, is_sparse_tensor


def propagation_graph(edge_index: Any, num_nodes: int, edge_weight: Tensor | None = None) -> Graph:
    """The graph label propagation runs on, as PyG decides it: an unweighted ``edge_index`` /
    Graph / SparseTensor is normalised ``D^-1/2 A D^-1/2`` (no self loops); given edge weights,
    a weighted Graph or a torch sparse tensor are used as they are."""
    if isinstance(edge_index, Tensor) and not is_sparse_tensor(edge_index):
        if edge_weight is None:
            return gcn_norm(edge_index, None, num_nodes, add_self_loops=False)
        return as_graph(edge_index, num_nodes, edge_weight)
    graph = as_graph(edge_index, num_nodes)
    if isinstance(edge_index, Graph) and graph.value is None:
        return graph.gcn_norm(add_self_loops=False)
    return graph


def _one_hot(
    y: Tensor, num_classes: int | None = None, dtype: torch.dtype = torch.float32
) -> Tensor:
    return F.one_hot(y.view(-1), num_classes if num_classes is not None else -1).to(dtype)


class LabelPropagation(torch.nn.Module):
    r"""Label propagation of Zhu & Ghahramani (2002), as in `"Learning from Labeled and Unlabeled
    Data with Label Propagation" <http://mlg.eng.cam.ac.uk/zoubin/papers/CMU-CALD-02-107.pdf>`_
    and PyG's ``LabelPropagation``:

    .. math::
        \mathbf{Y}^{(\ell + 1)} = \alpha \, \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}
        \mathbf{Y}^{(\ell)} + (1 - \alpha) \mathbf{Y}^{(0)}

    where :math:`\mathbf{Y}^{(0)}` holds the one-hot labels of the masked (training) nodes and
    zeros elsewhere. Each step is one :func:`sparsegnn.ops.spmm`; after each, the result is
    clamped to ``[0, 1]`` (or passed to ``post_step``).

    Args:
        num_layers (int): number of propagations :math:`L`.
        alpha (float): the coefficient :math:`\alpha`.

    Shapes:
        - **input:** labels :math:`(|\mathcal{V}|)` (long) or :math:`(|\mathcal{V}|, C)`,
          ``edge_index`` :math:`(2, |\mathcal{E}|)` (or a Graph / sparse ``adj_t``), mask
          :math:`(|\mathcal{V}|)` *(optional)*, edge weights :math:`(|\mathcal{E}|)` *(optional)*
        - **output:** :math:`(|\mathcal{V}|, C)`
    """

    def __init__(self, num_layers: int, alpha: float) -> None:
        super().__init__()
        if num_layers < 0:
            raise ValueError(f"num_layers: expected >= 0, got {num_layers}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha: expected a value in [0, 1], got {alpha}")
        self.num_layers = num_layers
        self.alpha = alpha

    @torch.no_grad()
    def forward(
        self,
        y: Tensor,
        edge_index: Any,
        mask: Tensor | None = None,
        edge_weight: Tensor | None = None,
        post_step: Callable[[Tensor], Tensor] | None = None,
    ) -> Tensor:
        if y.dtype == torch.long and y.size(0) == y.numel():
            y = _one_hot(y)
        out = y
        if mask is not None:
            out = torch.zeros_like(y)
            out[mask] = y[mask]
        graph = propagation_graph(edge_index, y.size(0), edge_weight)
        res = (1 - self.alpha) * out
        for _ in range(self.num_layers):
            out = ops.spmm(graph, out, "sum")
            out.mul_(self.alpha).add_(res)
            out = post_step(out) if post_step is not None else out.clamp_(0.0, 1.0)
        return out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_layers={self.num_layers}, alpha={self.alpha})"


class CorrectAndSmooth(torch.nn.Module):
    r"""Correct and Smooth of Huang et al., `"Combining Label Propagation and Simple Models
    Out-performs Graph Neural Networks" <https://arxiv.org/abs/2010.13993>`_ (ICLR 2021), with
    PyG's interface: a base predictor's soft output :math:`\mathbf{Z}` is corrected by propagating
    the training residuals :math:`\mathbf{E}` (autoscaled, or scaled by ``scale``),

    .. math::
        \mathbf{E}^{(\ell+1)} = \alpha_1 \mathbf{S}\mathbf{E}^{(\ell)} + (1-\alpha_1)
        \mathbf{E}^{(0)}, \qquad \hat{\mathbf{Z}} = \mathbf{Z} + \gamma \, \mathbf{E}^{(L_1)}

    then smoothed by label propagation from :math:`\hat{\mathbf{Z}}` with the training labels
    written in (:math:`\alpha_2`, :math:`L_2` steps), :math:`\mathbf{S} =
    \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}`. The paper's ogbn-arxiv setting is
    :math:`\alpha_1 = 0.979`, :math:`\alpha_2 = 0.756`, 50 propagations each.

    Args:
        num_correction_layers (int): :math:`L_1`.
        correction_alpha (float): :math:`\alpha_1`.
        num_smoothing_layers (int): :math:`L_2`.
        smoothing_alpha (float): :math:`\alpha_2`.
        autoscale (bool): scale the residual by the training error's average magnitude
            (default: ``True``).
        scale (float): fixed scale :math:`\gamma` when ``autoscale=False`` (default: 1.0).

    Shapes: ``y_soft`` :math:`(|\mathcal{V}|, C)`, ``y_true`` :math:`(|\mathcal{V}_{train}|)` or
    one-hot, ``mask`` bool :math:`(|\mathcal{V}|)` or an index; outputs :math:`(|\mathcal{V}|, C)`.
    """

    def __init__(
        self,
        num_correction_layers: int,
        correction_alpha: float,
        num_smoothing_layers: int,
        smoothing_alpha: float,
        autoscale: bool = True,
        scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.autoscale = autoscale
        self.scale = scale
        self.prop1 = LabelPropagation(num_correction_layers, correction_alpha)
        self.prop2 = LabelPropagation(num_smoothing_layers, smoothing_alpha)

    @staticmethod
    def _targets(y_soft: Tensor, y_true: Tensor, mask: Tensor) -> tuple[int, Tensor]:
        numel = int(mask.sum()) if mask.dtype == torch.bool else mask.size(0)
        if y_true.size(0) != numel:
            raise ValueError(
                f"y_true: expected {numel} rows (one per masked node), got {y_true.size(0)}"
            )
        if y_true.dtype == torch.long and y_true.size(0) == y_true.numel():
            y_true = _one_hot(y_true, y_soft.size(-1), y_soft.dtype)
        return numel, y_true

    @torch.no_grad()
    def correct(
        self,
        y_soft: Tensor,
        y_true: Tensor,
        mask: Tensor,
        edge_index: Any,
        edge_weight: Tensor | None = None,
    ) -> Tensor:
        """The correct step: :math:`\\mathbf{Z} + \\gamma \\mathbf{E}^{(L_1)}`."""
        numel, y_true = self._targets(y_soft, y_true, mask)
        error = torch.zeros_like(y_soft)
        error[mask] = y_true - y_soft[mask]
        if self.autoscale:
            smoothed = self.prop1(
                error, edge_index, edge_weight=edge_weight, post_step=lambda x: x.clamp_(-1.0, 1.0)
            )
            sigma = error[mask].abs().sum() / numel
            scale = sigma / smoothed.abs().sum(dim=1, keepdim=True)
            scale[scale.isinf() | (scale > 1000)] = 1.0
            return y_soft + scale * smoothed

        def fix_input(x: Tensor) -> Tensor:
            x[mask] = error[mask]
            return x

        smoothed = self.prop1(error, edge_index, edge_weight=edge_weight, post_step=fix_input)
        return y_soft + self.scale * smoothed

    @torch.no_grad()
    def smooth(
        self,
        y_soft: Tensor,
        y_true: Tensor,
        mask: Tensor,
        edge_index: Any,
        edge_weight: Tensor | None = None,
    ) -> Tensor:
        """The smooth step: label propagation from the corrected predictions."""
        _, y_true = self._targets(y_soft, y_true, mask)
        y_soft = y_soft.clone()
        y_soft[mask] = y_true
        return self.prop2(y_soft, edge_index, edge_weight=edge_weight)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(correct: L={self.prop1.num_layers}, alpha={self.prop1.alpha}; "
            f"smooth: L={self.prop2.num_layers}, alpha={self.prop2.alpha}; autoscale={self.autoscale}, "
            f"scale={self.scale})"
        )
