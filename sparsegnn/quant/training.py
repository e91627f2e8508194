"""QAT inside a training run: Degree-Quant's settings per bit width (:func:`paper_config`) and
:class:`QATRun`, the prepare hook of ``fit_recipe`` / ``fit_distilled`` that keeps the QAT model
so its integer model can be scored at the run's selected epoch. ``sparsegnn train --quant`` and
``bench/distill.py`` (the Degree-Quant students distilled from a teacher) both run this."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .api import quantize_
from .config import ConvertConfig, QATConfig

DQ_P_RANGE = {8: (0.0, 0.1), 4: (0.1, 0.2)}  # Degree-Quant's protection probabilities (Tailor et al., ICLR 2021)


def paper_config(bits: int, degree_quant: bool = True) -> QATConfig:
    """The published QAT settings at ``bits`` (8 or 4): with ``degree_quant``, Degree-Quant's
    protective masks (``p`` in [0, 0.1] at INT8, [0.1, 0.2] at INT4) and percentile observers
    (per-tail 0.001 / 0.01, :data:`~sparsegnn.quant.config.DEFAULT_PERCENTILE`); without it,
    plain QAT: momentum min / max observers and no masks."""
    if isinstance(bits, bool) or bits not in DQ_P_RANGE:
        raise ValueError(f"bits: Degree-Quant's settings exist for {tuple(DQ_P_RANGE)} bits, got {bits!r}")
    if degree_quant:
        return QATConfig(bits, degree_quant=True, p_range=DQ_P_RANGE[bits])
    return QATConfig(bits, degree_quant=False, percentile=0.0)


class QATRun:
    """One QAT training run's hook and its integer model's score.

    ``prepare`` (the ``prepare`` argument of :func:`~sparsegnn.train.fit_recipe` and
    :func:`~sparsegnn.distill.fit_distilled`) makes the fresh model QAT in place by
    :func:`~sparsegnn.quant.quantize_` with ``config`` and remembers it;
    :meth:`converted_accuracy` then loads the run's selected epoch into it, converts it
    (``ConvertConfig``) and scores the integer model.

    Args:
        config: the :class:`QATConfig` (e.g. :func:`paper_config`).
    """

    def __init__(self, config: QATConfig) -> None:
        if not isinstance(config, QATConfig):
            raise TypeError(f"config: expected a QATConfig, got {type(config).__name__}")
        self.config = config
        self.model: torch.nn.Module | None = None

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` prepared for QAT (in place, and returned)."""
        self.model = quantize_(model, self.config)
        return self.model

    @torch.no_grad()
    def converted_accuracy(self, result: Any, x: Tensor, data: Any,
                           config: ConvertConfig | None = None) -> dict[str, float]:
        """Accuracy in percent per split (``"train"``, ``"val"``, ``"test"``) of the integer
        model converted from the QAT model at ``result``'s selected epoch (a
        :class:`~sparsegnn.train.FitResult`: its ``best_state``, the weights and the observers'
        ranges; without one, the model as trained when the selected epoch is the last).

        Shapes: ``x`` float ``[N, F]`` the model's inputs (dense or sparse COO); ``data`` a
        :class:`~sparsegnn.data.GraphData` (``graph``, int64 ``y [N]``, the bool split masks)."""
        if self.model is None:
            raise ValueError("result: no model was prepared by this QATRun (pass its prepare to the run)")
        if result.best_state is not None:
            self.model.load_state_dict(result.best_state)
        elif result.records and result.best_epoch != result.records[-1].epoch:
            raise ValueError(f"result: selected epoch {result.best_epoch} is not the last and its state was not "
                             "kept (keep_best_state=True)")
        logits = quantize_(self.model.eval(), config or ConvertConfig())(x, data.graph)
        masks = {"train": data.train_mask, "val": data.val_mask, "test": data.test_mask}
        return {s: 100.0 * float((logits[m].argmax(-1) == data.y[m]).float().mean()) for s, m in masks.items()}
