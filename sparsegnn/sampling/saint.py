"""GraphSAINT (Zeng et al., "GraphSAINT: Graph Sampling Based Inductive Learning Method", ICLR
2020): node, edge and random-walk samplers with the paper's normalisation.

Subgraphs are drawn from the **training graph** only (the subgraph induced by the training
nodes: validation and test nodes never enter a batch; the paper's inductive setting), and every
batch is the subgraph that its sampled nodes induce there. ``train_graph_only=False`` samples
from the whole graph instead (the transductive setting of PyG's examples: other nodes enter
batches, the loss still counts the training nodes only). Aggregation starts from GCN's
normalisation of the sampled graph, ``Ã = D^-1/2 (A_train + I) D^-1/2`` with its own degrees,
and corrects it by the paper's estimator:

- Pre-sampling draws subgraphs until ``Σ |V_s| >= sample_coverage · |V_train|`` (``|V|`` when
  sampling the whole graph) and counts
  ``C_v`` (subgraphs holding node ``v``) and ``C_uv`` (holding the entry ``u -> v``), over
  ``N`` subgraphs.
- Aggregator normalisation ``α_uv = C_uv / C_v``, where ``v`` is the **aggregating** node (the
  row): a batch aggregates ``Σ_u Ã_vu / α_uv · h_u``, whose expectation given ``v ∈ G_s`` is the
  full-graph ``Σ_u Ã_vu h_u``. (PyG divides by the count of the source ``u`` instead.)
- Loss normalisation ``λ_v = N / (C_v |V_train|)`` and the loss is the λ-weighted **sum** of the
  cross-entropies of the batch's training nodes, an unbiased estimate of the mean over training
  nodes. (PyG's example
  follows this; a plain mean loss is biased towards frequently sampled nodes.)

The batch's weights are for a sum aggregation over them (GCN, EGC's symnorm); a mean
aggregation (SAGE's) would divide by the batch's degrees again.

Counts never seen in pre-sampling are taken as 1 (the smallest count a sampled node or entry can
have). Evaluation runs on the full graph (the model normalises it with full-graph degrees).

Samplers (``batch_size`` is PyG's name for each one's budget):

- :class:`GraphSAINTNodeSampler`: ``batch_size`` nodes with replacement, ``p_v ∝ ||Ã_{:,v}||²``
  (the squared column norm, as the paper; PyG uses the in-degree).
- :class:`GraphSAINTEdgeSampler`: ``batch_size`` entries with replacement,
  ``p_uv ∝ 1/d_u + 1/d_v`` (the paper's; PyG's sampler weights by ``d_u + d_v``, the inverse,
  favouring hubs), the batch being the endpoints.
- :class:`GraphSAINTRandomWalkSampler`: ``batch_size`` uniform roots among the training nodes,
  each walking ``walk_length`` steps; the batch is every node visited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..graph import Graph, subgraph
from ..graph.hugepages import back_with_huge_pages
from ..train import Batch
from . import kernels
from .common import (EPOCH, PRESAMPLE, SampledMethod, Workspace, check_int, compact, csr_numpy, entry_records,
                     gcn_normalised, kernel_seed, rng, shared, take_rows)

#: pieces of a batch's rows that :meth:`GraphSAINT.induced` scans, shared between two threads
#: (with the feature and loss rows as one more piece), where it scans at least ``SHARED_SCAN``
#: entries (below, the hand-over costs more than it saves)
SCAN_PIECES, SHARED_SCAN = 4, 1 << 15


class Draws:
    """Draws with replacement from a fixed distribution over ``[0, n)``: an alias table
    (:func:`kernels.alias_table`, built once in O(n)), so a batch of ``k`` draws costs O(k) reads
    where inverse-CDF costs O(k log n) cache misses and ``generator.choice(p=...)`` rebuilds an
    O(n) table on every call.

    Args:
        weight: float ``[n]`` non-negative weights, not all zero (normalised here)."""

    def __init__(self, weight: Tensor) -> None:
        prob = weight.double()
        self.prob = (prob / prob.sum()).numpy()
        n = self.prob.size
        self.alias = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
        self.accept = kernels.alias_table(self.prob, self.alias)

    def __call__(self, size: int, generator: np.random.Generator) -> np.ndarray:
        """int64 ``[size]`` indices drawn by ``prob``, from ``size`` uniforms of ``generator``."""
        return kernels.alias_draw(self.accept, self.alias, generator.random(size))


class GraphSAINT(SampledMethod):
    """The GraphSAINT method; subclasses say how a node set is sampled (:meth:`sample_nodes`).

    Args:
        x, graph, y, train_mask, seed, num_workers, evaluation: as
            :class:`~sparsegnn.sampling.common.SampledMethod`.
        batch_size: the sampler's budget (see the module docstring).
        sample_coverage: pre-sample until the sampled node count reaches this multiple of the
            sampled graph's node count (default 100, PyG's GraphSAINT example; >= 1).
        num_steps: batches per epoch; ``None``: ``|V_train| / mean |V_s ∩ V_train|`` (at least
            1), so an epoch sees about as many training nodes as there are.
        train_graph_only: sample from the training graph (default, the paper) or, ``False``,
            from the whole graph.

    Attributes: ``pool`` int64 ``[|V_g|]``, the global ids of the sampled graph's nodes
    (``train_graph``, the raw sampled graph: ``graph`` itself when that is the whole graph; the
    samplers work in its local ids), ``is_train`` bool ``[|V_g|]`` and ``train_local``, the local
    ids of the training nodes; after pre-sampling ``node_count`` float64 ``[|V_g|]`` (``C_v``),
    ``num_presampled`` (``N``), ``aggr_rowptr`` and ``aggr_entries``, Ã's structure (int32
    columns where they fit) with the values ``Ã_vu / α_uv``, a record an entry
    (:func:`~sparsegnn.sampling.common.entry_records`), and ``loss_norm`` ``[|V_g|]`` (``λ_v``). Ã's own values
    and the entry counts ``C_uv`` live only while pre-sampling: at 4 x 10^7 entries they are
    0.5 GB that no batch needs.

    A batch: ``x [n, F]``, ``Graph [n, n]`` tagged ``"saint"``, ``y [t]``, ``loss_rows [t]``
    and ``loss_weight [t]`` of its ``t`` training nodes (all ``n`` when sampling the training
    graph), ``node_ids [n]`` (global ids).
    """

    def __init__(
        self,
        x: Tensor,
        graph: Graph,
        y: Tensor,
        train_mask: Tensor,
        batch_size: int,
        sample_coverage: float = 100,
        num_steps: int | None = None,
        train_graph_only: bool = True,
        seed: int = 0,
        num_workers: int = 0,
        evaluation: str = "auto",
    ) -> None:
        super().__init__(x, graph, y, train_mask, seed, num_workers, evaluation)
        self.batch_size = check_int("batch_size", batch_size)
        if not isinstance(sample_coverage, (int, float)) or not sample_coverage >= 1:
            raise ValueError(f"sample_coverage: expected a number >= 1, got {sample_coverage!r}")
        self.sample_coverage = float(sample_coverage)
        self.pool = self.train_ids if train_graph_only else torch.arange(graph.num_nodes)
        self.is_train = train_mask[self.pool]
        self.train_local = self.is_train.nonzero().flatten()
        self.train_graph = subgraph(graph, self.pool).graph if train_graph_only else graph
        self._work: list[Workspace] = []  # the buffers of induced's pieces, made on first use
        train_norm = compact(gcn_normalised(*csr_numpy(self.train_graph), self.train_graph.value))
        self.check_sampler(train_norm)
        self.presample(train_norm)
        self.num_steps = self.default_steps if num_steps is None else check_int("num_steps", num_steps)

    def check_sampler(self, train_norm: Graph) -> None:
        """Validate the sampler's own arguments and set up its draws, before pre-sampling;
        ``train_norm`` is Ã."""

    def sample_nodes(self, generator: np.random.Generator) -> Tensor:
        """int64 ascending distinct local ids (of ``train_graph``) of one sampled node set."""
        raise NotImplementedError

    def presample(self, train_norm: Graph) -> None:
        """Estimate ``C_v``, ``C_uv`` and the normalisations of Ã (``train_norm``; see the
        module docstring)."""
        n = self.pool.numel()
        generator = rng(self.seed, PRESAMPLE)
        # the structure batches are induced from, Ã's values until pre-sampling ends
        self.aggr_rowptr = train_norm.rowptr.numpy()
        self.aggr_entries = entry_records(train_norm.col.numpy(), train_norm.value.numpy())
        node_count = torch.zeros(n, dtype=torch.float64)
        edge_count = torch.zeros(train_norm.nnz, dtype=torch.int32)
        total, train_total, num = 0, 0, 0
        while total < self.sample_coverage * n:
            nodes = self.sample_nodes(generator)
            node_count[nodes] += 1
            edge_count[self.induced(nodes, with_position=True)[0][2]] += 1  # an entry appears at most once per subgraph
            total, num = total + nodes.numel(), num + 1
            train_total += int(self.is_train[nodes].sum())
        self.node_count, self.num_presampled = node_count, num
        self.default_steps = max(1, round(self.train_ids.numel() * num / max(train_total, 1)))
        c_v = node_count.clamp(min=1)
        alpha = edge_count.clamp(min=1).double().div_(c_v[train_norm.row_index()])
        del edge_count
        self.aggr_entries["value"] = train_norm.value.double().div_(alpha).numpy()
        back_with_huge_pages(train_norm.rowptr, torch.from_numpy(self.aggr_entries.view(np.uint8)))  # batches' rows
        self.loss_norm = (num / (c_v * self.train_ids.numel())).float()
        self._loss_records = kernels.loss_records(self.is_train.numpy(), self.y[self.pool].numpy(),
                                                  self.loss_norm.numpy())

    def induced(self, nodes: Tensor, with_position: bool = False, beside: Callable[[], Any] | None = None
                ) -> tuple[tuple[Tensor, Tensor, Tensor, Tensor], Any]:
        """``((rowptr [n + 1], col [m], position [m], value [m]), beside())``: the subgraph of
        ``aggr_entries`` (whose rows are ascending) induced by ``nodes`` (int64 ``[n]`` ascending
        distinct local ids, as :meth:`sample_nodes` gives them), with each entry's value there
        and, ``with_position``, its position (else ``position`` is empty); and the result of
        ``beside`` (None without it).

        The rows are scanned in :data:`SCAN_PIECES` pieces of about equal entries
        (:func:`kernels.induced_rows`), shared with ``beside`` between two threads
        (:func:`~sparsegnn.sampling.common.shared`; one piece where torch may use one thread or
        the rows are few); the pieces are joined in order, so the subgraph is the same."""
        records = self.aggr_entries
        nodes = nodes.numpy()
        starts, ends = kernels.row_spans(self.aggr_rowptr, nodes)
        member, rank = kernels.member_ranks(nodes, self.pool.numel())
        entries = np.cumsum(ends - starts)
        pieces = SCAN_PIECES if torch.get_num_threads() > 1 and entries.size and entries[-1] >= SHARED_SCAN else 1
        cut = [0, *np.searchsorted(entries, entries[-1] * np.arange(1, pieces) / pieces).tolist(), nodes.size] \
            if nodes.size else [0, 0]
        while len(self._work) < len(cut) - 1:  # each piece's buffers (positions only while pre-sampling)
            self._work.append(Workspace(records.dtype["col"], records.dtype["value"], np.int64))

        def scan(k: int) -> Callable[[], tuple]:
            a, b = cut[k], cut[k + 1]
            return lambda: self._work[k].run(kernels.induced_rows, records, starts[a:b], ends[a:b], member, rank,
                                             with_position, used=(True, True, with_position))

        other, *scanned = shared([beside or (lambda: None), *(scan(k) for k in range(len(cut) - 1))])
        kept = np.cumsum([0] + [ptr[-1] for ptr, *_ in scanned])
        out_ptr = np.concatenate([np.zeros(1, np.int64), *(ptr[1:] + at for (ptr, *_), at in zip(scanned, kept))])
        arrays = (out_ptr, *(np.concatenate([piece[j] for piece in scanned]) for j in (1, 2, 3)))
        return tuple(torch.from_numpy(a) for a in arrays), other

    def batch_of(self, nodes: Tensor) -> Batch:
        """The batch of a sampled node set (local ids, as :meth:`sample_nodes`): its feature
        rows and loss rows gathered beside the induced subgraph's scan."""
        ids = self.pool[nodes] if self.train_graph is not self.graph else nodes  # the whole graph: local = global

        def rows() -> tuple[Tensor, tuple[np.ndarray, ...]]:
            return take_rows(self.x, ids), kernels.training_rows(nodes.numpy(), self._loss_records)

        (rowptr, col, _, value), (x, loss) = self.induced(nodes, beside=rows)
        graph = Graph(rowptr, col, value, validate=False, norm="saint")
        rows, y, weight = (torch.from_numpy(a) for a in loss)
        return Batch(x, graph, y, loss_rows=rows, loss_weight=weight, node_ids=ids)

    def plan(self, epoch: int) -> range:
        """``num_steps`` independent draws (each batch's from its own stream)."""
        return range(self.num_steps)

    def make_batch(self, epoch: int, index: int, item: int) -> Batch:
        return self.batch_of(self.sample_nodes(rng(self.seed, EPOCH, epoch, index)))


class GraphSAINTNodeSampler(GraphSAINT):
    """GraphSAINT's node sampler: ``batch_size`` draws with replacement, ``p_v ∝ ||Ã_{:,v}||²``
    (paper, Flickr: 8000 nodes)."""

    def __init__(self, x: Tensor, graph: Graph, y: Tensor, train_mask: Tensor, batch_size: int = 8000,
                 sample_coverage: float = 100, num_steps: int | None = None, train_graph_only: bool = True,
                 seed: int = 0, num_workers: int = 0, evaluation: str = "auto") -> None:
        super().__init__(x, graph, y, train_mask, batch_size, sample_coverage, num_steps, train_graph_only, seed,
                         num_workers, evaluation)

    def check_sampler(self, train_norm: Graph) -> None:
        norm = train_norm
        squared = torch.zeros(norm.num_cols, dtype=torch.float64).index_add_(0, norm.col.long(), norm.value.double() ** 2)
        self.node_draws = Draws(squared)

    def sample_nodes(self, generator: np.random.Generator) -> Tensor:
        draws = self.node_draws(self.batch_size, generator)
        return torch.from_numpy(kernels.distinct_sorted(draws, self.pool.numel()))


class GraphSAINTEdgeSampler(GraphSAINT):
    """GraphSAINT's edge sampler: ``batch_size`` entries of the training graph with replacement,
    ``p_uv ∝ 1/d_u + 1/d_v`` (paper; PyG uses ``d_u + d_v``), the batch their endpoints
    (paper, Flickr: 4000 edges)."""

    def __init__(self, x: Tensor, graph: Graph, y: Tensor, train_mask: Tensor, batch_size: int = 4000,
                 sample_coverage: float = 100, num_steps: int | None = None, train_graph_only: bool = True,
                 seed: int = 0, num_workers: int = 0, evaluation: str = "auto") -> None:
        super().__init__(x, graph, y, train_mask, batch_size, sample_coverage, num_steps, train_graph_only, seed,
                         num_workers, evaluation)

    def check_sampler(self, train_norm: Graph) -> None:
        g = self.train_graph
        row, col = g.row_index(), g.col.long()
        keep = row != col
        if not bool(keep.any()):
            raise ValueError("train_mask: the training graph has no edge for the edge sampler")
        degree = g.in_degree().double().clamp(min=1)  # a directed graph's sink has no row entry
        self.edge_row, self.edge_col = row[keep], col[keep]
        self.edge_draws = Draws(1.0 / degree[self.edge_row] + 1.0 / degree[self.edge_col])

    def sample_nodes(self, generator: np.random.Generator) -> Tensor:
        draws = torch.from_numpy(self.edge_draws(self.batch_size, generator))
        ends = torch.cat([self.edge_row[draws], self.edge_col[draws]])
        return torch.from_numpy(kernels.distinct_sorted(ends.numpy(), self.pool.numel()))


class GraphSAINTRandomWalkSampler(GraphSAINT):
    """GraphSAINT's random-walk sampler: ``batch_size`` uniform roots among the training nodes,
    ``walk_length`` steps each on the training graph (PyG's Flickr example: 6000 roots, length
    2)."""

    def __init__(self, x: Tensor, graph: Graph, y: Tensor, train_mask: Tensor, batch_size: int = 6000,
                 walk_length: int = 2, sample_coverage: float = 100, num_steps: int | None = None,
                 train_graph_only: bool = True, seed: int = 0, num_workers: int = 0,
                 evaluation: str = "auto") -> None:
        self.walk_length = check_int("walk_length", walk_length)
        super().__init__(x, graph, y, train_mask, batch_size, sample_coverage, num_steps, train_graph_only, seed,
                         num_workers, evaluation)
        back_with_huge_pages(self.train_graph.rowptr, self.train_graph.col)  # the walks' steps

    def walks(self, generator: np.random.Generator) -> Tensor:
        """int64 ``[batch_size, walk_length + 1]`` walks in the sampled graph's ids, from roots
        drawn uniformly among its training nodes."""
        roots = self.train_local.numpy()[generator.integers(0, self.train_local.numel(), size=self.batch_size)]
        rowptr, col = csr_numpy(self.train_graph)
        return torch.from_numpy(kernels.random_walks(rowptr, col, roots, self.walk_length, kernel_seed(generator)))

    def sample_nodes(self, generator: np.random.Generator) -> Tensor:
        return torch.from_numpy(kernels.distinct_sorted(self.walks(generator).numpy(), self.pool.numel()))
