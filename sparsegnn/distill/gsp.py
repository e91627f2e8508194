"""GSP: global structure preserving distillation (Joshi et al., "On Representation Knowledge
Distillation for Graph Neural Networks", IEEE TNNLS 2022)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import DistillBatch, DistillLoss, check_positive, sample_rows
from .kernels import check_kernel, pairwise_kernel


class GSP(DistillLoss):
    r"""All pairwise similarities among a random sample ``S`` of the batch's nodes (at most
    ``max_samples``), matched between student and teacher:

    .. math::
        \mathcal{L} = \beta \, \frac{1}{|S|^2} \sum_{i, j \in S}
        \big(k(z^s_i, z^s_j) - k(z^t_i, z^t_j)\big)^2

    (the mean squared error of the two ``[|S|, |S|]`` kernel matrices). Widths may differ.

    Args:
        kernel: as :mod:`sparsegnn.distill.kernels` (default ``"rbf"``).
        beta: the weight (default 1e5, the paper's for RBF; 100 for cosine with 4096 samples).
        max_samples: the sample size cap (default 2048).
        layer: the hidden layer compared (default the last before the logits).

    Shapes: hidden float ``[n, F_s]`` and ``[n, F_t]``.
    """

    name = "gsp"
    needs_hidden = True

    def __init__(self, kernel: str = "rbf", beta: float = 1e5, max_samples: int = 2048, layer: int = -2) -> None:
        super().__init__(layer)
        self.kernel = check_kernel(kernel)
        self.beta = check_positive("beta", beta)
        if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 2:
            raise ValueError(f"max_samples: expected an int >= 2, got {max_samples!r}")
        self.max_samples = max_samples

    def term(self, batch: DistillBatch) -> Tensor:
        s, t = self.embeddings(batch)
        rows = sample_rows(s.size(0), self.max_samples, s.device)
        if rows is not None:
            s, t = s[rows], t[rows]
        return self.beta * F.mse_loss(pairwise_kernel(self.kernel, s), pairwise_kernel(self.kernel, t))
