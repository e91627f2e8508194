"""The teacher's outputs, computed once (in eval mode, without gradient) and kept for every
epoch of the student's training."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..graph import Graph, k_hop, subgraph
from .base import Outputs


class TeacherCache:
    """The frozen teacher's logits (and every layer's output) on all ``N`` nodes, computed once.

    With ``batch_size`` the nodes are done in chunks of that many targets, each on its
    ``num_layers``-hop ball (:func:`sparsegnn.graph.k_hop`, :func:`sparsegnn.graph.subgraph`),
    keeping the targets' rows: exact for a message-passing teacher of ``num_layers`` layers
    when ``graph`` carries its normalisation (a ``norm`` tag, e.g. ``graph.gcn_norm()``), so
    every ball aggregates with the full graph's weights, and no layer caches its adjacency.

    Args:
        teacher: a module ``teacher(x, graph)`` in eval mode (``teacher.eval()``: a training
            teacher would distil its dropout noise); with ``hidden``, it takes
            ``return_hidden=True`` (a :class:`~sparsegnn.nn.LayerStack`).
        x: the teacher's ``[N, F]`` inputs (dense or sparse COO).
        graph: the teacher's adjacency over the ``N`` nodes.
        hidden: also keep every layer's output (for LSP, GSP, G-CRD).
        batch_size: targets per chunk (``None``: one forward on the whole graph).

    Attributes:
        logits: float ``[N, C]``. hidden: list of float ``[N, F_l]`` (empty without ``hidden``).
    """

    def __init__(self, teacher: torch.nn.Module, x: Tensor, graph: Any, hidden: bool = True,
                 batch_size: int | None = None) -> None:
        if not isinstance(teacher, torch.nn.Module):
            raise TypeError(f"teacher: expected a torch.nn.Module, got {type(teacher).__name__}")
        if teacher.training:
            raise ValueError("teacher: in training mode; call teacher.eval() (a training teacher's "
                             "outputs carry its dropout noise)")
        if batch_size is not None:
            if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
                raise ValueError(f"batch_size: expected an int >= 1 or None, got {batch_size!r}")
            self._check_batchable(teacher, graph)
        self.with_hidden = hidden
        with torch.no_grad():
            if batch_size is None:
                out = self._run(teacher, x, graph)
            else:
                out = self._run_batched(teacher, x, graph, batch_size)
        self.logits, self.hidden = out.logits, out.hidden
        self.num_nodes = self.logits.size(0)
        if self.num_nodes != x.size(0):
            raise ValueError(f"teacher: {self.num_nodes} output rows for {x.size(0)} nodes")

    @staticmethod
    def _check_batchable(teacher: torch.nn.Module, graph: Any) -> None:
        if not isinstance(graph, Graph) or graph.norm is None:
            raise ValueError("graph: batch_size needs a sparsegnn.Graph carrying its normalisation "
                             "(norm tag set, e.g. graph.gcn_norm()), so each ball keeps the full graph's weights")
        if not hasattr(teacher, "num_layers"):
            raise ValueError("teacher: batch_size needs num_layers (a LayerStack) to size each ball")
        if any(getattr(m, "cached", False) for m in teacher.modules()):
            raise ValueError("teacher: batch_size with a layer built with cached=True (it would "
                             "aggregate over its cached full graph); build the teacher uncached")

    def _run(self, teacher: torch.nn.Module, x: Tensor, graph: Any) -> Outputs:
        if self.with_hidden:
            logits, hidden = teacher(x, graph, return_hidden=True)
            return Outputs(logits.float(), [h.float() for h in hidden])
        return Outputs(teacher(x, graph).float(), [])

    def _run_batched(self, teacher: torch.nn.Module, x: Tensor, graph: Graph, batch_size: int) -> Outputs:
        parts = []
        for targets in torch.arange(graph.num_nodes, device=graph.device).split(batch_size):
            nodes, _ = k_hop(graph, targets, teacher.num_layers)
            out = self._run(teacher, x.index_select(0, nodes), subgraph(graph, nodes).graph)
            parts.append(Outputs(out.logits[: targets.numel()], [h[: targets.numel()] for h in out.hidden]))
        return Outputs(torch.cat([p.logits for p in parts]),
                       [torch.cat(layer) for layer in zip(*(p.hidden for p in parts))])

    def rows(self, node_ids: Tensor | None) -> Outputs:
        """The cached outputs of the nodes ``node_ids`` (int64 ``[n]``; ``None``: all ``N``)."""
        if node_ids is None:
            return Outputs(self.logits, self.hidden)
        return Outputs(self.logits[node_ids], [h[node_ids] for h in self.hidden])
