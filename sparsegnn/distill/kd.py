"""Logit distillation (Hinton et al., "Distilling the Knowledge in a Neural Network", 2015)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import DistillBatch, DistillLoss, check_fraction, check_positive

NODES = ("all", "labelled")


class LogitKD(DistillLoss):
    r"""Hinton et al.'s knowledge distillation on the logits:

    .. math::
        \mathcal{L} = \alpha \, T^2 \, \frac{1}{n} \sum_{v} \mathrm{KL}\big(
        \operatorname{softmax}(t_v / T) \,\|\, \operatorname{softmax}(s_v / T)\big)
        + (1 - \alpha) \, \mathrm{CE}

    with the KL averaged over the ``n`` nodes (``reduction="batchmean"``: torch's default
    ``"mean"`` divides by ``n * C``, a ``C`` times smaller term than the paper's), the ``T^2``
    keeping the soft term's gradient on the scale of the CE's, and ``CE`` the batch's
    cross-entropy on its labelled rows.

    Args:
        alpha: the soft term's weight, in [0, 1] (default 0.9).
        temperature: ``T > 0`` (default 4).
        nodes: the transfer set: ``"all"`` rows of the batch (default; transductive: the
            teacher labels every node) or the ``"labelled"`` rows only.

    Shapes: student and teacher logits float ``[n, C]``.
    """

    name = "kd"
    includes_ce = True

    def __init__(self, alpha: float = 0.9, temperature: float = 4.0, nodes: str = "all") -> None:
        super().__init__()
        self.alpha = check_fraction("alpha", alpha)
        self.temperature = check_positive("temperature", temperature)
        if nodes not in NODES:
            raise ValueError(f"nodes: expected one of {NODES}, got {nodes!r}")
        self.nodes = nodes

    def soft_term(self, batch: DistillBatch) -> Tensor:
        """``T^2 * KL(teacher_T || student_T)``, the mean over the transfer set."""
        s, t = batch.student.logits.float(), batch.teacher.logits.float()
        if self.nodes == "labelled" and batch.loss_rows is not None:
            s, t = s[batch.loss_rows], t[batch.loss_rows]
        T = self.temperature
        kl = F.kl_div(F.log_softmax(s / T, -1), F.log_softmax(t / T, -1), reduction="batchmean", log_target=True)
        return T * T * kl

    def term(self, batch: DistillBatch) -> Tensor:
        return self.alpha * self.soft_term(batch) + (1.0 - self.alpha) * batch.ce
