"""ShaDow (Zeng et al., "Decoupling the Depth and Scope of Graph Neural Networks", NeurIPS 2021):
every target node gets its own small subgraph, and the GNN runs on that alone.

A target's subgraph is, with ``scope="khop"``, its ``depth``-hop neighbourhood in which every
node reached takes up to ``num_neighbors`` distinct uniform neighbours (``-1``: all, the exact
k-hop ball), or, with ``scope="ppr"`` (the paper's PPR sampler), the target and the
``top_k - 1`` nodes of highest approximate personalised PageRank from it (Andersen et al.'s
push with teleport ``alpha`` and tolerance ``eps``; the paper keeps k = 200; ``alpha`` 0.15 and
``eps`` 1e-4 are this package's defaults); then the subgraph those nodes induce in the full
graph. A batch is the disjoint union of its targets'
subgraphs (isolated copies: a node in two subgraphs appears twice), each normalised with its own
degrees (GCN's ``D^-1/2 (A + I) D^-1/2``). The model may have more layers than ``depth`` (the
paper's point: depth decoupled from scope). Readout: ``"root"`` takes each target's output row;
``"root+mean"`` adds the mean of its subgraph's output rows (the paper concatenates root and
pooled embeddings before its head; with the model's last layer as a shared head this is their
sum). Evaluation runs every node's subgraph too, from a fixed seed, with the model in eval mode
(no dropout: PyG's example leaves it on).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ..graph import Graph
from ..graph.hugepages import back_with_huge_pages
from ..graph.kernels import symmetric_ascending
from ..train import Batch, batch_loss
from . import kernels
from .common import (
    EPOCH,
    EVAL,
    SampledMethod,
    Workspace,
    batch_permutation,
    check_fanouts,
    check_int,
    csr_numpy,
    gcn_normalised,
    kernel_seed,
    rng,
    take_rows,
)

READOUTS = ("root", "root+mean")
SCOPES = ("khop", "ppr")
HUB_RATIO = 16  # rows longer than 16 x their subgraph: see kernels.induced_union


class ShaDowKHop(SampledMethod):
    """ShaDow's per-target subgraphs.

    Args:
        x, graph, y, train_mask, seed, num_workers: as
            :class:`~sparsegnn.sampling.common.SampledMethod`.
        depth: hops of each subgraph (default 2; >= 1).
        num_neighbors: neighbours per node and hop, ``>= 1`` or ``-1`` (default 5; PyG's
            ShaDow example: depth 2, 5 neighbours, 64 targets per batch).
        batch_size: targets per batch (default 64).
        readout: ``"root"`` or ``"root+mean"`` (see the module docstring).
        scope: ``"khop"`` (``depth``, ``num_neighbors``) or ``"ppr"`` (``top_k``, ``alpha``,
            ``eps``; deterministic).

    A batch: ``x [n, F]`` for the union's ``n`` nodes, its ``Graph [n, n]`` (tagged ``"gcn"``),
    ``y [t]`` of its ``t`` targets and ``loss_rows [t]``, the row of each target (the first row
    of its subgraph), ``node_ids [n]``.
    """

    def __init__(
        self,
        x: Tensor,
        graph: Graph,
        y: Tensor,
        train_mask: Tensor,
        depth: int = 2,
        num_neighbors: int = 5,
        batch_size: int = 64,
        readout: str = "root",
        scope: str = "khop",
        top_k: int = 200,
        alpha: float = 0.15,
        eps: float = 1e-4,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(x, graph, y, train_mask, seed, num_workers)
        self.depth = check_int("depth", depth)
        if not isinstance(num_neighbors, (int, np.integer)):
            raise ValueError(f"num_neighbors: expected one int (per node and hop), got {num_neighbors!r}")
        self.num_neighbors = check_fanouts("num_neighbors", [num_neighbors])[0]
        self.batch_size = check_int("batch_size", batch_size)
        if readout not in READOUTS:
            raise ValueError(f"readout: expected one of {READOUTS}, got {readout!r}")
        self.readout_mode = readout
        if scope not in SCOPES:
            raise ValueError(f"scope: expected one of {SCOPES}, got {scope!r}")
        self.scope, self.top_k = scope, check_int("top_k", top_k)
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha: expected a teleport probability in (0, 1), got {alpha!r}")
        if not eps > 0.0:
            raise ValueError(f"eps: expected a tolerance > 0, got {eps!r}")
        self.alpha, self.eps = float(alpha), float(eps)
        back_with_huge_pages(graph.rowptr, graph.col)  # rows read all over it
        self._scratch = kernels.node_map(graph.num_nodes)
        self._scores = np.zeros((2, graph.num_nodes))
        self._work = Workspace(csr_numpy(graph)[1].dtype, np.int64)  # induced_union's buffers
        # where the graph is its own transpose (unweighted): hub rows are not scanned (no positions
        # needed), and the batches, unions of induced balls normalised as GCN's dinv_i dinv_j, are
        # their own transpose too (Graph.mark_symmetric: no sort for the backward pass)
        self._symmetric = graph.value is None and symmetric_ascending(*csr_numpy(graph))
        self._hub_ratio = HUB_RATIO if self._symmetric else 0

    def sample(self, roots: Tensor, generator: np.random.Generator) -> tuple[Tensor, Tensor, Graph]:
        """``(node_ids [n], nodeptr [t + 1], (rowptr, col, value))`` for the targets ``roots``
        (int64 ``[t]``): target ``r``'s subgraph is local nodes ``nodeptr[r]:nodeptr[r + 1]``,
        the target first; the CSR (numpy int64 ``rowptr [n + 1]``, ``col``; ``value`` float
        or None) is the raw (unnormalised) disjoint union."""
        rowptr, col = csr_numpy(self.graph)
        if self.scope == "ppr":
            nodes, nodeptr = kernels.ppr_topk_sets(rowptr, col, roots.numpy(), self.alpha, self.eps, self.top_k,
                                                   self._scores[0], self._scores[1], self._scratch)
        else:
            nodes, nodeptr = kernels.khop_sets(rowptr, col, roots.numpy(), self.depth, self.num_neighbors,
                                               kernel_seed(generator), self._scratch)
        weighted = self.graph.value is not None
        out_ptr, out_col, position = self._work.run(kernels.induced_union, rowptr, col, nodes, nodeptr, self._scratch,
                                                    weighted, self._hub_ratio, used=(True, weighted))
        value = self.graph.value[torch.from_numpy(position)] if weighted else None
        return torch.from_numpy(nodes), torch.from_numpy(nodeptr), (out_ptr, out_col, value)

    def batch_of(self, roots: Tensor, generator: np.random.Generator) -> Batch:
        nodes, nodeptr, (rowptr, col, value) = self.sample(roots, generator)
        graph = gcn_normalised(rowptr, col, value)
        if self._symmetric:
            graph.mark_symmetric()
        return Batch(take_rows(self.x, nodes), graph, self.y[roots],
                     loss_rows=nodeptr[:-1], node_ids=nodes)

    def readout(self, out: Tensor, roots: Tensor) -> Tensor:
        """``[t, C]`` per target from the union's ``[n, C]`` outputs; ``roots`` are the targets'
        rows (each subgraph's first row, ascending), so subgraph ``r`` is rows ``roots[r]`` up to
        ``roots[r + 1]``."""
        if self.readout_mode == "root":
            return out[roots]
        sizes = torch.diff(roots, append=torch.tensor([out.size(0)]))
        owner = torch.repeat_interleave(torch.arange(roots.numel()), sizes)
        pooled = torch.zeros(roots.numel(), out.size(1), dtype=out.dtype).index_add_(0, owner, out)
        return out[roots] + pooled / sizes.unsqueeze(1).to(out.dtype)

    def loss(self, model: torch.nn.Module, batch: Batch) -> Tensor:
        readout = self.readout(self.forward(model, batch), batch.loss_rows)
        return batch_loss(readout, Batch(batch.x, batch.graph, batch.y))

    def plan(self, epoch: int) -> list[Tensor]:
        """The epoch's shuffled training targets, ``batch_size`` at a time."""
        return batch_permutation(self.train_ids, self.batch_size, rng(self.seed, EPOCH, epoch))

    def make_batch(self, epoch: int, index: int, item: Tensor) -> Batch:
        return self.batch_of(item, rng(self.seed, EPOCH, epoch, index))

    def predict(self, model: torch.nn.Module) -> Tensor:
        """``[N, C]``: every node's readout from its own subgraph (fixed seed)."""
        generator = rng(self.seed, EVAL)
        outs = []
        for roots in torch.arange(self.graph.num_nodes).split(max(self.batch_size, 256)):
            batch = self.batch_of(roots, generator)
            outs.append(self.readout(model(batch.x, batch.graph), batch.loss_rows))
        return torch.cat(outs)
