"""The models ``sparsegnn train`` and the benchmarks train, with their papers' settings, and the
input each one takes (one place for model setup: the CLI, bench/accuracy.py and the tests use it).

Defaults per model (Planetoid's public split, full batch):

| model | hidden | layers | dropout | lr | weight decay | epochs | selection | source |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
| gcn | 16 | 2 | 0.5 | 0.01 | 5e-4, first layer only | 200 | best val | Kipf & Welling |
| sage | 16 | 2 | 0.5 | 0.01 | 5e-4 | 200 | best val | GCN's, for comparison |
| egc | 128 | 2 | 0.8 | 0.01 | 5e-4 | 400 | best val | EGC-S, H=8, B=2 (chosen on validation, bench/accuracy.py) |
| mlp | 64 | 2 | 0.5 | 0.01 | 5e-4 | 200 | best val | the graph-free baseline |
| sgc | - | 1 (K=2) | 0 | 0.2 | 1.3e-5 | 100 | last | Wu et al. (Cora) |
| sign | 64 | K=2, gcn | 0.5 | 0.01 | 5e-4 | 200 | best val | Rossi et al.'s model, small |

Non-negative features are row-normalised (every model above is trained so in its paper's
Planetoid code) and, for the models that start with a Linear (gcn, egc, mlp), kept as a sparse
COO matrix when at most 10% dense (bag-of-words): sparse dropout drops only stored entries, the
same distribution as dense dropout at a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import Tensor

from ..nn import EGC, GCN, MLP, SAGE, SGC, LayerStack
from ..nn.models import check_dropout
from ..prop import SIGN, sign_features
from .loop import FitResult, Trainer, check_lr, seed_everything
from .methods import FullBatch, Method

MODELS = ("gcn", "sage", "egc", "mlp", "sgc", "sign")
SPARSE_BELOW = 0.10  # features at most this dense are stored sparse ...
LINEAR_FIRST = ("gcn", "egc", "mlp")  # ... for the models whose first operation is a Linear


@dataclass(frozen=True)
class Recipe:
    """A model's training settings."""

    hidden: int
    layers: int
    dropout: float
    lr: float
    weight_decay: float
    epochs: int
    first_layer_decay_only: bool = False
    select: str = "val"
    heads: int = 8  # EGC
    bases: int = 2  # EGC
    hops: int = 2  # SGC, SIGN

    def __post_init__(self) -> None:
        """The settings no model or loop could take are refused here, by the checks the model
        and the loop run themselves, before anything is built."""
        check_dropout(self.dropout)
        check_lr(self.lr)
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay: expected >= 0, got {self.weight_decay}")

    def with_overrides(self, **overrides: Any) -> Recipe:
        """This recipe with the given fields replaced (``None`` values ignored)."""
        unknown = set(overrides) - set(asdict(self))
        if unknown:
            raise ValueError(f"overrides: unknown settings {sorted(unknown)}")
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


RECIPES: dict[str, Recipe] = {
    "gcn": Recipe(16, 2, 0.5, 0.01, 5e-4, 200, first_layer_decay_only=True),
    "sage": Recipe(16, 2, 0.5, 0.01, 5e-4, 200),
    "egc": Recipe(128, 2, 0.8, 0.01, 5e-4, 400),
    "mlp": Recipe(64, 2, 0.5, 0.01, 5e-4, 200),
    "sgc": Recipe(0, 1, 0.0, 0.2, 1.3e-5, 100, select="last"),
    "sign": Recipe(64, 1, 0.5, 0.01, 5e-4, 200),
}


def recipe(model: str, **overrides: Any) -> Recipe:
    """The default recipe of ``model`` with ``overrides``."""
    if model not in RECIPES:
        raise ValueError(f"model: expected one of {MODELS}, got {model!r}")
    return RECIPES[model].with_overrides(**overrides)


def model_inputs(model: str, x: Tensor, graph: Any, r: Recipe) -> Tensor:
    """The feature matrix ``model`` takes: ``x`` row-normalised when it is non-negative
    (bag-of-words counts; signed features, e.g. the block model's, are left as they are), sparse
    when sparse enough; for SIGN the concatenation ``[X, AX, ..., A^K X]`` (dense), computed once.

    Shapes: ``x`` float ``[N, F]``; output ``[N, F]`` (SIGN: ``[N, (K + 1) F]``)."""
    if bool((x >= 0).all()):
        x = x / x.sum(1, keepdim=True).clamp(min=1e-12)
    if model == "sign":
        return torch.cat(sign_features(graph, x, r.hops), dim=1)
    if model in LINEAR_FIRST and float((x != 0).float().mean()) <= SPARSE_BELOW:
        return x.to_sparse().coalesce()
    return x


def build_model(model: str, in_channels: int, num_classes: int, r: Recipe, cached: bool = True) -> torch.nn.Module:
    """A fresh ``model`` sized by ``r`` (``cached``: keep the normalised full graph, for
    transductive full-batch training)."""
    if model == "gcn":
        return GCN(in_channels, r.hidden, num_classes, r.layers, r.dropout, cached=cached)
    if model == "sage":
        return SAGE(in_channels, r.hidden, num_classes, r.layers, r.dropout)
    if model == "egc":
        return EGC(in_channels, r.hidden, num_classes, r.layers, r.dropout, aggregators=["symnorm"],
                   num_heads=r.heads, num_bases=r.bases, cached=cached)
    if model == "mlp":
        return MLP(in_channels, r.hidden, num_classes, r.layers, r.dropout)
    if model == "sgc":
        return SGC(in_channels, num_classes, K=r.hops, cached=cached)
    if model == "sign":
        feat = in_channels // (r.hops + 1)
        return SIGN(feat, r.hidden, num_classes, r.hops + 1, dropout=r.dropout)
    raise ValueError(f"model: expected one of {MODELS}, got {model!r}")


def param_groups(model: torch.nn.Module, r: Recipe) -> list[dict]:
    """The optimizer groups of ``r``'s weight decay (first layer only where the recipe says)."""
    if isinstance(model, LayerStack):
        return model.param_groups(r.weight_decay, r.first_layer_decay_only)
    return [{"params": list(model.parameters()), "weight_decay": r.weight_decay}]


def seeded_model(
    model: str,
    data: Any,
    r: Recipe,
    seed: int,
    x: Tensor | None,
    cached: bool,
    prepare: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
) -> tuple[Tensor, torch.nn.Module]:
    """``(x, net)`` for one seed's run: the model's inputs (:func:`model_inputs` unless given),
    then every generator seeded with ``seed``, then ``model`` built by ``r`` and passed through
    ``prepare`` (in this order, so a run is reproduced by its seed alone)."""
    x = model_inputs(model, data.x, data.graph, r) if x is None else x
    seed_everything(seed)
    net = build_model(model, x.size(1), data.num_classes, r, cached=cached)
    return x, net if prepare is None else prepare(net)


def fit_recipe(
    model: str,
    data: Any,
    r: Recipe,
    seed: int,
    x: Tensor | None = None,
    on_epoch: Any = None,
    keep_best_state: bool = True,
    method: Callable[[Tensor, int], Method] | None = None,
    prepare: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
    **trainer_options: Any,
) -> FitResult:
    """Seed everything with ``seed``, build ``model`` and train it on ``data`` (a
    :class:`~sparsegnn.data.GraphData` with ``x``, ``y`` and the split masks) by ``r``: full
    batch, or with the ``method`` given.

    ``x``: the model's inputs if already made (:func:`model_inputs`, once per dataset).
    ``method``: ``method(x, seed)`` gives the :class:`Method` to train with in place of full
    batch (a sampler, GAS); the model then caches no normalised graph, and the loop trains
    ``method.wrap(model)`` with the method's ``grad_clip`` unless one is given.
    ``trainer_options``: further :class:`Trainer` arguments (``checkpoint``, ``resume``,
    ``identity``, ``distributed``, ``patience``, ``grad_clip``).
    ``prepare``: applied to the fresh model before training (e.g. ``sparsegnn.quant``'s
    ``quantize_`` for quantisation-aware training); returns the model to train."""
    x, net = seeded_model(model, data, r, seed, x, cached=method is None, prepare=prepare)
    chosen = FullBatch(x, data.graph, data.y, data.train_mask) if method is None else method(x, seed)
    groups = param_groups(net, r)
    if chosen.grad_clip is not None:
        trainer_options.setdefault("grad_clip", chosen.grad_clip)
    trainer = Trainer(
        chosen.wrap(net),
        chosen,
        data.y,
        {"train": data.train_mask, "val": data.val_mask, "test": data.test_mask},
        lr=r.lr,
        param_groups=groups,
        epochs=r.epochs,
        select=r.select,
        keep_best_state=keep_best_state,
        on_epoch=on_epoch,
        **trainer_options,
    )
    return trainer.fit()
