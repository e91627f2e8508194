"""A teacher read back from a checkpoint of the one training loop (:mod:`sparsegnn.train.checkpoint`,
as ``sparsegnn train`` and :func:`~sparsegnn.train.fit_recipe` write it with ``checkpoint=``)."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import Tensor

from ..durable import read_record
from ..train import MODELS, build_model, model_inputs, recipe
from ..train import checkpoint as ckpt


def load_teacher(path: str | os.PathLike, data: Any, dataset: str | None = None) -> tuple[torch.nn.Module, Tensor]:
    """``(teacher, inputs)``: the model of the checkpoint at ``path`` with its best-validation
    weights (its last ones when it kept none), in eval mode, and its inputs on ``data``
    (:func:`~sparsegnn.train.model_inputs`).

    The checkpoint's identity must say its ``model`` (one of :data:`~sparsegnn.train.MODELS`)
    and its ``recipe`` (:class:`~sparsegnn.train.Recipe` fields; those missing, such as
    ``epochs`` in ``sparsegnn train --checkpoint``'s, take the model's defaults); with ``dataset`` given,
    its ``dataset`` must be that one. The file itself is checked by
    :func:`sparsegnn.durable.read_record` (truncated, damaged or foreign files are a
    :class:`~sparsegnn.durable.DamagedFileError`) and its parameter shapes against the rebuilt
    model. Every failure is a ValueError naming the file.
    """
    meta, state = read_record(path, ckpt.KIND)
    model, settings = meta.get("model"), meta.get("recipe")
    if model not in MODELS or not isinstance(settings, dict):
        raise ValueError(f"teacher: {path} does not record a model of {MODELS} and its recipe "
                         f"(found model {model!r}); it needs identity keys 'model' and 'recipe'")
    if dataset is not None and meta.get("dataset") != dataset:
        raise ValueError(f"teacher: {path} was trained on {meta.get('dataset')!r}, not {dataset!r}")
    try:
        r = recipe(model, **settings)
    except ValueError as error:
        raise ValueError(f"teacher: {path} has a recipe this version cannot read ({error})") from None
    x = model_inputs(model, data.x, data.graph, r)
    teacher = build_model(model, x.size(1), data.num_classes, r)
    if meta.get("model_signature") != ckpt.model_signature(teacher):
        raise ValueError(f"teacher: {path} holds parameters of other shapes than a {model} on this data")
    best = state.get("best", {}).get("state")
    teacher.load_state_dict(best if best is not None else state["model"])
    return teacher.eval(), x
