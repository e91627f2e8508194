"""The one base class of the distillation losses, and what every loss is given.

A loss sees one batch through :class:`DistillBatch`: the student's and the teacher's outputs on
the same ``n`` rows (the student's with gradient, the teacher's cached and detached), the batch's
adjacency over those rows, and the batch's cross-entropy. Each loss returns one scalar term; a
loss that mixes in the cross-entropy itself (logit KD, GLNN: ``includes_ce``) replaces the plain
CE, the others (LSP, GSP, G-CRD) are added to it (:class:`~sparsegnn.distill.method.Distillation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor


@dataclass
class Outputs:
    """One model's outputs on a batch.

    Attributes:
        logits: float ``[n, C]``.
        hidden: every layer's output, each float ``[n, F_l]`` (after its activation; the last
            is the logits), as ``forward(x, graph, return_hidden=True)`` of a
            :class:`~sparsegnn.nn.LayerStack` returns it; empty when no loss reads it.
    """

    logits: Tensor
    hidden: list[Tensor]


@dataclass
class DistillBatch:
    """What a distillation loss is given for one batch.

    Attributes:
        student: the student's :class:`Outputs` (with gradient).
        teacher: the teacher's :class:`Outputs` on the same rows (no gradient).
        graph: the batch's adjacency (a :class:`sparsegnn.Graph`, row = target) whose columns
            are the ``n`` rows above (its rows the first ``graph.num_nodes`` of them).
        ce: the batch's cross-entropy on its labelled rows (a scalar).
        loss_rows: int64 ``[t]`` the labelled rows (``None``: every row).
    """

    student: Outputs
    teacher: Outputs
    graph: Any
    ce: Tensor
    loss_rows: Tensor | None = None


def check_positive(name: str, value: float) -> float:
    """``value`` as a float, or a ValueError naming ``name`` when it is not > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name}: expected a number > 0, got {value!r}")
    return float(value)


def check_fraction(name: str, value: float) -> float:
    """``value`` as a float, or a ValueError naming ``name`` when it is outside [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}: expected a number in [0, 1], got {value!r}")
    return float(value)


def sample_rows(n: int, max_samples: int, device: torch.device) -> Tensor | None:
    """At most ``max_samples`` distinct rows of ``n``, uniformly at random (torch's global
    generator, so :func:`~sparsegnn.train.seed_everything` fixes them); ``None``: all rows."""
    if n <= max_samples:
        return None
    return torch.randperm(n, device=device)[:max_samples]


class DistillLoss(torch.nn.Module):
    """Base of the distillation losses.

    Subclasses set ``name`` (the registry key), ``needs_hidden`` (the loss reads a hidden
    layer: :meth:`embeddings`), ``includes_ce`` (the term already contains the cross-entropy)
    and implement :meth:`term`. A loss with parameters (G-CRD's heads) is trained with the
    student; :meth:`create` builds a loss knowing the two hidden widths.

    Args:
        layer: the hidden layer read by :meth:`embeddings`, an index into both models'
            ``hidden`` lists (default ``-2``: the last layer before the logits).
    """

    name: ClassVar[str]
    needs_hidden: ClassVar[bool] = False
    includes_ce: ClassVar[bool] = False

    def __init__(self, layer: int = -2) -> None:
        super().__init__()
        if isinstance(layer, bool) or not isinstance(layer, int):
            raise TypeError(f"layer: expected an int index into the hidden layers, got {layer!r}")
        self.layer = layer

    @classmethod
    def create(cls, student_dim: int | None, teacher_dim: int | None, **options: Any) -> DistillLoss:
        """The loss with ``options``, for students and teachers whose :meth:`embeddings` are
        ``student_dim`` and ``teacher_dim`` wide (``None``: not known; only losses with
        parameters need them)."""
        return cls(**options)

    def embeddings(self, batch: DistillBatch) -> tuple[Tensor, Tensor]:
        """``(student [n, F_s], teacher [n, F_t])``: both models' layer ``self.layer``."""
        pair = []
        for who, out in (("student", batch.student), ("teacher", batch.teacher)):
            if not -len(out.hidden) <= self.layer < len(out.hidden) or len(out.hidden) < 2:
                raise ValueError(
                    f"layer: {self.name} reads hidden layer {self.layer}, but the {who} has "
                    f"{len(out.hidden)} layer output(s) (needs a hidden layer before the logits)"
                )
            pair.append(out.hidden[self.layer].float())
        if pair[0].size(0) != pair[1].size(0):
            raise ValueError(f"teacher: {pair[1].size(0)} rows for the student's {pair[0].size(0)}")
        return pair[0], pair[1]

    def forward(self, batch: DistillBatch) -> Tensor:
        """The scalar term of this loss on ``batch``."""
        s, t = batch.student.logits, batch.teacher.logits
        if s.shape != t.shape:
            raise ValueError(f"teacher: logits of shape {tuple(t.shape)} for the student's {tuple(s.shape)}")
        return self.term(batch)

    def term(self, batch: DistillBatch) -> Tensor:
        raise NotImplementedError
