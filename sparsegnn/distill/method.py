"""Distillation as a training method of the one loop: :class:`Distillation` adds the losses to a
base method's batches, and :func:`distill` trains a student with it through
:class:`~sparsegnn.train.Trainer`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from ..train import (
    Batch,
    EpochRecord,
    FitResult,
    FullBatch,
    Method,
    Trainer,
    batch_loss,
)
from ..train import param_groups as recipe_param_groups
from ..train.recipes import seeded_model
from .base import DistillBatch, DistillLoss, Outputs
from .cache import TeacherCache
from .gcrd import GCRD
from .glnn import GLNN
from .gsp import GSP
from .kd import LogitKD
from .lsp import LSP

LOSSES: dict[str, type[DistillLoss]] = {cls.name: cls for cls in (LogitKD, GLNN, LSP, GSP, GCRD)}


def parse_losses(losses: str | Sequence[str | DistillLoss]) -> list[str | DistillLoss]:
    """``losses`` as a list (a string is comma-separated names); unknown names are a ValueError."""
    items = [s.strip() for s in losses.split(",") if s.strip()] if isinstance(losses, str) else list(losses)
    if not items:
        raise ValueError("losses: expected at least one distillation loss")
    for item in items:
        if not isinstance(item, (str, DistillLoss)):
            raise TypeError(f"losses: expected loss names or DistillLoss modules, got {type(item).__name__}")
        if isinstance(item, str) and item not in LOSSES:
            raise ValueError(f"losses: unknown loss {item!r}; expected some of {tuple(LOSSES)}")
    return items


def build_losses(
    losses: str | Sequence[str | DistillLoss],
    student_dim: int | None = None,
    teacher_dim: int | None = None,
    options: dict[str, dict[str, Any]] | None = None,
) -> list[DistillLoss]:
    """The losses named (with each name's ``options``, the paper's defaults otherwise), built for
    the hidden widths given; modules are kept as they are."""
    items, options = parse_losses(losses), dict(options or {})
    unknown = set(options) - {i for i in items if isinstance(i, str)}
    if unknown:
        raise ValueError(f"options: for losses not used {sorted(unknown)}")
    return [i if isinstance(i, DistillLoss) else LOSSES[i].create(student_dim, teacher_dim, **options.get(i, {}))
            for i in items]


class Distillation(Method):
    """A base method's batches with distillation: per batch the student's outputs, the cached
    teacher's outputs on the batch's nodes (``node_ids``; every node when ``None``) and the
    batch's cross-entropy (:func:`~sparsegnn.train.batch_loss`, on its ``loss_rows`` with its
    ``loss_weight``) go to every loss, and the loss is

        ``sum(terms)`` when a loss includes the CE (logit KD, GLNN), else ``CE + sum(terms)``.

    Works with any student module ``student(x, graph)`` (one that takes
    ``return_hidden=True`` when a loss reads hidden layers: every
    :class:`~sparsegnn.nn.LayerStack`, and a model prepared for QAT in place), full batch or
    with a sampler's batches; evaluation is the base method's.

    Args:
        base: the method supplying batches and predictions (:class:`~sparsegnn.train.FullBatch`
            or a sampler); one with its own loss (ShaDow's readout) is refused.
        cache: the teacher's outputs on every node.
        losses: the distillation losses (at most one that includes the CE).
    """

    def __init__(self, base: Method, cache: TeacherCache, losses: Sequence[DistillLoss]) -> None:
        if type(base).loss is not Method.loss:
            raise ValueError(f"base: {type(base).__name__} has its own loss; distillation adds its terms "
                             "to the per-row cross-entropy of a method that has none")
        if not losses or not all(isinstance(loss, DistillLoss) for loss in losses):
            raise ValueError("losses: expected one or more DistillLoss modules")
        with_ce = [loss.name for loss in losses if loss.includes_ce]
        if len(with_ce) > 1:
            raise ValueError(f"losses: {with_ce} each include the cross-entropy; use one of them")
        if any(loss.needs_hidden for loss in losses) and not cache.hidden:
            raise ValueError("cache: a loss reads hidden layers but the cache holds none (hidden=False)")
        self.base, self.cache = base, cache
        self.losses = torch.nn.ModuleList(losses)
        self.needs_hidden = any(loss.needs_hidden for loss in losses)
        self.includes_ce = bool(with_ce)

    def batches(self, epoch: int) -> Iterable[Batch]:
        return self.base.batches(epoch)

    def predict(self, model: torch.nn.Module) -> Tensor:
        return self.base.predict(model)

    def bind(self, model: torch.nn.Module) -> None:
        self.base.keep_every_row()  # the losses compare every node's row with the teacher's
        self.base.bind(model)

    def shard(self, rank: int, world: int) -> None:
        self.base.shard(rank, world)

    def end_epoch(self, epoch: int) -> None:
        self.base.end_epoch(epoch)

    def state_dict(self) -> dict[str, Any]:
        """The base method's state and the losses' (G-CRD's heads and their BatchNorm statistics)."""
        return {"base": self.base.state_dict(), "losses": self.losses.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.base.load_state_dict(state["base"])
        self.losses.load_state_dict(state["losses"])

    def student_outputs(self, model: torch.nn.Module, batch: Batch) -> Outputs:
        if self.needs_hidden:
            logits, hidden = self.base.forward(model, batch, return_hidden=True)
            return Outputs(logits, list(hidden))
        return Outputs(self.base.forward(model, batch), [])

    def loss(self, model: torch.nn.Module, batch: Batch) -> Tensor:
        self.losses.train()
        student = self.student_outputs(model, batch)
        teacher = self.cache.rows(batch.node_ids)
        if teacher.logits.size(0) != student.logits.size(0):
            raise ValueError(f"batch: {student.logits.size(0)} student rows but {teacher.logits.size(0)} "
                             "teacher rows (node_ids must name every output row)")
        ce = batch_loss(student.logits, batch)
        inputs = DistillBatch(student, teacher, batch.graph, ce, batch.loss_rows)
        total = sum(loss(inputs) for loss in self.losses)
        return total if self.includes_ce else ce + total


def _hidden_width(model: torch.nn.Module, x: Tensor, graph: Any, layer: int) -> int:
    """The width of ``model``'s hidden layer ``layer`` (one forward, eval mode, no gradient)."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        _, hidden = model(x, graph, return_hidden=True)
    model.train(was_training)
    if len(hidden) < 2 or not -len(hidden) <= layer < len(hidden):
        raise ValueError(f"layer: hidden layer {layer} of a model with {len(hidden)} layer output(s)")
    return hidden[layer].size(-1)


def distill(
    teacher: torch.nn.Module | None,
    student: torch.nn.Module,
    data: Any,
    losses: str | Sequence[str | DistillLoss] = ("kd",),
    *,
    x: Tensor | None = None,
    teacher_x: Tensor | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    method: Method | None = None,
    cache: TeacherCache | None = None,
    cache_batch_size: int | None = None,
    epochs: int = 200,
    lr: float = 0.01,
    weight_decay: float = 0.0,
    param_groups: list[dict] | None = None,
    select: str = "val",
    patience: int | None = None,
    keep_best_state: bool = True,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    **trainer_options: Any,
) -> FitResult:
    """Train ``student`` from the frozen ``teacher`` on ``data`` through the one training loop.

    Args:
        teacher: in eval mode; its outputs are computed once (:class:`TeacherCache`); may be
            ``None`` when ``cache`` is given.
        student: any module ``student(x, graph)`` (``return_hidden=True`` when a loss reads
            hidden layers), freshly built and seeded by the caller.
        data: a :class:`~sparsegnn.data.GraphData` (``graph``, ``y``, the split masks; ``x``).
        losses: names of :data:`LOSSES` (``"kd"``, ``"glnn"``, ``"lsp"``, ``"gsp"``, ``"gcrd"``;
            a comma-separated string or a list) or :class:`DistillLoss` modules.
        x: the student's ``[N, F]`` inputs (default ``data.x``); ``teacher_x`` the teacher's
            (default ``x``).
        options: per loss name, keyword arguments overriding its defaults
            (``{"kd": {"temperature": 2.0}}``).
        method: the student's base method (default full batch on the training nodes); a
            sampler's batches work unchanged.
        cache: teacher outputs already computed (default: computed here, in chunks of
            ``cache_batch_size`` targets when given).
        epochs, lr, weight_decay, param_groups, select, patience, keep_best_state, on_epoch:
            as :class:`~sparsegnn.train.Trainer`; ``param_groups`` are the student's (default:
            all its parameters with ``weight_decay``); the losses' own parameters (G-CRD's
            heads) are added without weight decay.
        trainer_options: further :class:`~sparsegnn.train.Trainer` arguments (``checkpoint``,
            ``resume``, ``identity``, ``grad_clip``); a checkpoint also keeps the losses' state.

    Returns:
        The loop's :class:`~sparsegnn.train.FitResult` (``best_state``: the student's).
    """
    if not isinstance(student, torch.nn.Module):
        raise TypeError(f"student: expected a torch.nn.Module, got {type(student).__name__}")
    items = parse_losses(losses)
    x = data.x if x is None else x
    teacher_x = x if teacher_x is None else teacher_x
    built = [LOSSES[i] if isinstance(i, str) else type(i) for i in items]
    needs_hidden = any(cls.needs_hidden for cls in built)
    if cache is None:
        cache = TeacherCache(teacher, teacher_x, data.graph, hidden=needs_hidden, batch_size=cache_batch_size)
    elif teacher is not None and teacher.training:
        raise ValueError("teacher: in training mode; call teacher.eval()")
    base = FullBatch(x, data.graph, data.y, data.train_mask) if method is None else method
    dims: tuple[int | None, int | None] = (None, None)
    if GCRD.name in items:  # its heads are sized by the two widths
        if not cache.hidden:
            raise ValueError("cache: gcrd reads hidden layers but the cache holds none (hidden=False)")
        layer = (options or {}).get("gcrd", {}).get("layer", -2)
        probe = next(iter(base.batches(0)))
        dims = (_hidden_width(student, probe.x, probe.graph, layer), cache.hidden[layer].size(-1))
    distillation = Distillation(base, cache, build_losses(items, *dims, options))
    groups = list(param_groups) if param_groups is not None else [
        {"params": list(student.parameters()), "weight_decay": weight_decay}]
    extra = list(distillation.losses.parameters())
    if extra:
        groups = [*groups, {"params": extra, "weight_decay": 0.0}]
    masks = {"train": data.train_mask, "val": data.val_mask, "test": data.test_mask}
    trainer = Trainer(student, distillation, data.y, masks, lr=lr, param_groups=groups, epochs=epochs,
                      select=select, patience=patience, keep_best_state=keep_best_state, on_epoch=on_epoch,
                      **trainer_options)
    return trainer.fit()


def fit_distilled(
    model: str,
    data: Any,
    r: Any,
    seed: int,
    teacher: torch.nn.Module | None,
    losses: str | Sequence[str | DistillLoss],
    x: Tensor | None = None,
    cache: TeacherCache | None = None,
    method: Callable[[Tensor, int], Method] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    keep_best_state: bool = True,
    prepare: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
    **options: Any,
) -> FitResult:
    """:func:`~sparsegnn.train.fit_recipe` for a distilled student: seed everything with
    ``seed``, build ``model`` by the recipe ``r`` and train it by :func:`distill` from
    ``teacher`` with ``r``'s optimiser settings, full batch or with ``method(x, seed)``.
    ``x``: the student's inputs (default :func:`~sparsegnn.train.model_inputs`); ``cache``: the
    teacher's outputs when already computed (the teacher's inputs are then not needed);
    ``prepare``: applied to the fresh student (``sparsegnn.quant.quantize_`` with a
    ``QATConfig``: a Degree-Quant student distilled from the teacher); ``options``: further
    :func:`distill` arguments."""
    x, student = seeded_model(model, data, r, seed, x, cached=method is None, prepare=prepare)
    return distill(teacher, student, data, losses, x=x, cache=cache,
                   method=None if method is None else method(x, seed), epochs=r.epochs, lr=r.lr,
                   param_groups=recipe_param_groups(student, r), select=r.select, keep_best_state=keep_best_state,
                   on_epoch=on_epoch, **options)
