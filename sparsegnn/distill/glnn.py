"""GLNN (Zhang et al., "Graph-less Neural Networks: Teaching Old MLPs New Tricks via
Distillation", ICLR 2022): a GNN teacher's soft labels on every node taught to an MLP (or any
graph-free student: node features only, or SIGN features)."""

from __future__ import annotations

from .base import check_fraction
from .kd import LogitKD


class GLNN(LogitKD):
    r"""GLNN's objective:

    .. math::
        \mathcal{L} = \lambda \, \mathrm{CE} + (1 - \lambda) \, \frac{1}{n} \sum_{v}
        \mathrm{KL}\big(\operatorname{softmax}(t_v) \,\|\, \operatorname{softmax}(s_v)\big)

    with the soft labels on all ``n`` nodes of the batch and no temperature: :class:`LogitKD`
    with ``alpha = 1 - lam``, ``T = 1``, ``nodes="all"``.

    Args:
        lam: the cross-entropy's weight ``lambda`` in [0, 1] (default 0: soft labels only; the
            paper tunes it in [0, 1]).
    """

    name = "glnn"

    def __init__(self, lam: float = 0.0) -> None:
        super().__init__(alpha=1.0 - check_fraction("lam", lam), temperature=1.0, nodes="all")
        self.lam = lam
