"""``sparsegnn.train``: the one training loop and what plugs into it.

- :class:`Trainer` (``loop.py``): epochs, evaluation per split, best-validation selection, early
  stopping, per-epoch records (loss, accuracies, sampling / compute time, peak RSS).
- :class:`Method`, :class:`FullBatch`, :class:`Batch` (``methods.py``): a method supplies batches,
  the loss and the evaluation logits; samplers, GAS, distillation and QAT are methods.
- :func:`recipe`, :func:`build_model`, :func:`model_inputs`, :func:`fit_recipe`
  (``recipes.py``): the models with their
  papers' settings, shared by ``sparsegnn train`` and the benchmarks.
"""

from .loop import EpochRecord, FitResult, Trainer, peak_rss_mib, seed_everything
from .methods import Batch, FullBatch, Method, batch_loss
from .recipes import (
    MODELS,
    RECIPES,
    Recipe,
    build_model,
    fit_recipe,
    model_inputs,
    param_groups,
    recipe,
)

__all__ = [
    "MODELS",
    "RECIPES",
    "Batch",
    "EpochRecord",
    "FitResult",
    "FullBatch",
    "Method",
    "Recipe",
    "Trainer",
    "batch_loss",
    "build_model",
    "fit_recipe",
    "model_inputs",
    "param_groups",
    "peak_rss_mib",
    "recipe",
    "seed_everything",
]
