"""G-CRD: graph contrastive representation distillation (Joshi et al., "On Representation
Knowledge Distillation for Graph Neural Networks", IEEE TNNLS 2022)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import DistillBatch, DistillLoss, check_positive, sample_rows


def projection_head(in_dim: int, width: int) -> torch.nn.Sequential:
    """``Linear(in_dim, width) -> BatchNorm1d(width) -> ReLU``."""
    return torch.nn.Sequential(torch.nn.Linear(in_dim, width), torch.nn.BatchNorm1d(width), torch.nn.ReLU())


class GCRD(DistillLoss):
    r"""Contrastive distillation: student and teacher embeddings are projected by their own
    heads ``h_s``, ``h_t`` (:func:`projection_head`, trained with the student; the teacher stays
    frozen), L2-normalised, and each sampled node's student vector is pulled to its own teacher
    vector and pushed from the other sampled nodes' (InfoNCE):

    .. math::
        \mathcal{L} = \beta \, \frac{1}{|S|} \sum_{i \in S} -\log
        \frac{\exp(u_i^\top v_i / \tau)}{\sum_{j \in S} \exp(u_i^\top v_j / \tau)},
        \quad u = \frac{h_s(z^s)}{\lVert h_s(z^s) \rVert}, \; v = \frac{h_t(z^t)}{\lVert h_t(z^t) \rVert}

    over a random sample ``S`` of the batch's nodes (at most ``max_samples``: up to
    ``max_samples - 1`` negatives each).

    Args:
        student_dim, teacher_dim: the widths of the compared hidden layers.
        width: the heads' output width (default 256).
        tau: the temperature (default 0.075).
        beta: the weight (default 0.1).
        max_samples: the sample size cap (default 16384).
        projection: learn the heads (default). ``False`` compares the L2-normalised
            embeddings themselves, which needs ``student_dim == teacher_dim``.
        layer: the hidden layer compared (default the last before the logits).

    Shapes: hidden float ``[n, student_dim]`` and ``[n, teacher_dim]``.
    """

    name = "gcrd"
    needs_hidden = True

    def __init__(
        self,
        student_dim: int,
        teacher_dim: int,
        width: int = 256,
        tau: float = 0.075,
        beta: float = 0.1,
        max_samples: int = 16384,
        projection: bool = True,
        layer: int = -2,
    ) -> None:
        super().__init__(layer)
        for name, value in (("student_dim", student_dim), ("teacher_dim", teacher_dim), ("width", width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
        if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 2:
            raise ValueError(f"max_samples: expected an int >= 2, got {max_samples!r}")
        if not projection and student_dim != teacher_dim:
            raise ValueError(
                f"projection: student width {student_dim} and teacher width {teacher_dim} differ; "
                "G-CRD without projection heads needs equal widths"
            )
        self.tau, self.beta = check_positive("tau", tau), check_positive("beta", beta)
        self.max_samples = max_samples
        self.student_head = projection_head(student_dim, width) if projection else torch.nn.Identity()
        self.teacher_head = projection_head(teacher_dim, width) if projection else torch.nn.Identity()
        self.dims = (student_dim, teacher_dim)

    @classmethod
    def create(cls, student_dim: int | None, teacher_dim: int | None, **options: Any) -> GCRD:
        if student_dim is None or teacher_dim is None:
            raise ValueError("gcrd: needs the student's and the teacher's hidden widths")
        return cls(student_dim, teacher_dim, **options)

    def term(self, batch: DistillBatch) -> Tensor:
        s, t = self.embeddings(batch)
        if (s.size(1), t.size(1)) != self.dims:
            raise ValueError(f"gcrd: built for widths {self.dims}, got student {s.size(1)} and teacher {t.size(1)}")
        rows = sample_rows(s.size(0), self.max_samples, s.device)
        if rows is not None:
            s, t = s[rows], t[rows]
        u = F.normalize(self.student_head(s), dim=1)
        v = F.normalize(self.teacher_head(t), dim=1)
        scores = u @ v.t() / self.tau
        return self.beta * F.cross_entropy(scores, torch.arange(s.size(0), device=s.device))
