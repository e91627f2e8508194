"""What the samplers share: argument checks, the per-epoch random generators, the rows of ``x``
for a batch, and :class:`SampledMethod`, the base of every sampler's
:class:`~sparsegnn.train.Method` (data, training nodes, full-graph evaluation).

Determinism: every random draw of a sampler comes from :func:`rng` with the base seed and a
stream: pre-sampling, the epoch's plan ``(EPOCH, e)``, batch ``i`` of epoch ``e``
``(EPOCH, e, i)``, evaluation. A sampler's batches therefore depend only on its arguments, its
seed, the epoch and the batch's place in it, never on global RNG state, on how many batches were
consumed before, or on which process makes them: the same with ``num_workers`` worker
processes as without, and the same under any split across torchrun ranks.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..graph import Graph
from ..graph.container import compiled_gcn_norm
from ..graph.hugepages import back_with_huge_pages
from ..train import Batch, Method, seed_everything
from . import kernels
from .layerwise import EVALUATIONS, full_forward_fits, layerwise_forward

_HELPER = "sparsegnn-sampler"  # the helper thread's name prefix

#: streams of :func:`rng` (an epoch ``e`` uses ``(EPOCH, e)``)
PRESAMPLE, EPOCH, EVAL = 0, 1, 2


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``, or a ValueError naming ``name``."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return int(value)


def check_fanouts(name: str, values: Sequence[int]) -> list[int]:
    """Fan-outs as a non-empty list of ints, each ``>= 1`` or ``-1`` (all neighbours)."""
    values = list(values)
    if not values or any(
        not isinstance(v, (int, np.integer)) or isinstance(v, bool) or (v < 1 and v != -1) for v in values
    ):
        raise ValueError(f"{name}: expected fan-outs, ints >= 1 or -1 (all neighbours), got {values!r}")
    return [int(v) for v in values]


def training_nodes(train_mask: Tensor, num_nodes: int) -> Tensor:
    """int64 ascending ids of the training nodes of a bool ``[N]`` mask."""
    if not isinstance(train_mask, Tensor) or train_mask.dtype != torch.bool or train_mask.shape != (num_nodes,):
        raise ValueError(f"train_mask: expected a bool tensor of shape ({num_nodes},)")
    ids = train_mask.nonzero().flatten()
    if ids.numel() == 0:
        raise ValueError("train_mask: no training node")
    return ids


def rng(seed: int, *stream: int) -> np.random.Generator:
    """numpy's PCG64 seeded by ``(seed, *stream)``: independent streams of one base seed."""
    return np.random.default_rng([seed, *stream])


def kernel_seed(generator: np.random.Generator) -> int:
    """A seed for a compiled kernel's generator, drawn from ``generator``."""
    return int(generator.integers(2**31 - 1))


class Workspace:
    """Buffers a kernel writes every scanned entry into, one per dtype, kept from batch to batch
    and grown to twice the largest need: fresh memory for them on every batch page-faults (5 of
    9 ms on GraphSAINT's walk batches of the power-law graph)."""

    def __init__(self, *dtypes: np.dtype) -> None:
        self.buffers = [np.empty(0, dtype) for dtype in dtypes]

    def run(self, kernel, *args, used: Sequence[bool] | None = None) -> tuple:
        """``kernel(*args, *buffers)``, which returns ``(needed, *out)`` and does nothing else
        where ``needed`` exceeds a buffer it uses (``used``: a flag per buffer, default all); the
        buffers it uses then grow and it runs again. Returns ``out``."""
        needed, *out = kernel(*args, *self.buffers)
        used = used or [True] * len(self.buffers)
        if any(u and needed > b.size for u, b in zip(used, self.buffers)):
            self.buffers = [np.empty(2 * needed, b.dtype) if u and needed > b.size else b
                            for u, b in zip(used, self.buffers)]
            needed, *out = kernel(*args, *self.buffers)
        return tuple(out)


#: dtypes of ``x`` that :func:`take_rows` gathers in its compiled loop
_GATHERED = (torch.float32, torch.float64, torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def take_rows(x: Tensor, ids: Tensor) -> Tensor:
    """``x[ids]`` for a dense or sparse COO ``[N, F]`` matrix: ``[len(ids), F]``. A dense,
    contiguous CPU ``x`` of a numpy dtype is gathered on this thread alone, prefetching rows ahead
    (:func:`kernels.gather_rows`), so that it can run beside another kernel (:func:`shared`)
    where torch's gather would start a thread team of its own."""
    if x.layout != torch.strided or x.device.type != "cpu" or x.dim() != 2 or not x.is_contiguous() \
            or x.dtype not in _GATHERED or x.requires_grad or ids.dtype != torch.int64 or ids.dim() != 1 \
            or ids.device.type != "cpu":
        return x.index_select(0, ids)
    out = torch.empty((ids.numel(), x.shape[1]), dtype=x.dtype)
    kernels.gather_rows(x.numpy(), ids.numpy(), out.numpy())
    return out


_helper: tuple[int, ThreadPoolExecutor] | None = None  # (the process that made it, its one thread)


def shared(tasks: Sequence[Callable[[], Any]]) -> list[Any]:
    """``[task() for task in tasks]``, the tasks taken in order by this thread and, where torch may
    use more than one thread, by a helper thread too: each takes the next task not yet taken
    until none is left (the compiled kernels and the row gathers release the GIL). One thread
    does them all where torch may use one (a worker process) or from the helper itself. Results
    are the same either way: the tasks must not depend on one another."""
    global _helper
    if len(tasks) < 2 or torch.get_num_threads() < 2 or threading.current_thread().name.startswith(_HELPER):
        return [task() for task in tasks]
    if _helper is None or _helper[0] != os.getpid():  # a forked child has no thread of its parent's
        _helper = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix=_HELPER))
    results: list[Any] = [None] * len(tasks)
    taken = itertools.count()  # next() on it is atomic under the GIL

    def work() -> None:
        while (k := next(taken)) < len(tasks):
            results[k] = tasks[k]()

    helping = _helper[1].submit(work)
    try:
        work()
    finally:
        helping.result()
    return results


def csr_numpy(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    """``(rowptr, col)`` of a CPU ``graph`` as numpy views of its own tensors, for the kernels:
    int64 ``rowptr`` and ``col`` in the graph's index dtype (int32 or int64), no copy of a CPU graph."""
    return graph.rowptr.cpu().numpy(), graph.col.cpu().numpy()


def entry_records(col: np.ndarray, value: np.ndarray) -> np.ndarray:
    """A CSR's entries as one record an entry, for :func:`kernels.induced_rows`: a numpy record
    array ``[nnz]`` with the fields ``col`` and ``value`` in their dtypes (8 bytes an entry for
    int32 and float32). A cold row is then one span of cache lines, not one in ``col`` and one in
    ``value``."""
    records = np.empty(col.size, np.dtype([("col", col.dtype), ("value", value.dtype)], align=True))
    records["col"], records["value"] = col, value
    return records


def compact_dtype(graph: Graph) -> torch.dtype:
    """int32 where ``graph``'s columns and entries fit (half the bytes of int64), else its own."""
    return torch.int32 if max(graph.num_cols, graph.nnz) < 2**31 else graph.col.dtype


def compact(graph: Graph) -> Graph:
    """``graph`` with :func:`compact_dtype` columns: for the graphs a sampler keeps beside the
    data's."""
    dtype = compact_dtype(graph)
    return graph.to_index_dtype(dtype) if graph.col.dtype != dtype else graph


def gcn_normalised(rowptr: np.ndarray, col: np.ndarray, value: Tensor | None) -> Graph:
    """The batch graph of a CSR (int64 numpy ``rowptr``, int32 or int64 ``col``, columns
    ascending per row, each loop at most once; ``value`` float ``[nnz]`` or None for ones)
    normalised as ``Graph.gcn_norm()`` does, by its compiled pass (no torch op overhead, no row
    index left behind), columns in ``col``'s dtype; tagged ``"gcn"``."""
    graph = compiled_gcn_norm(rowptr, col, value)
    if graph is None:
        raise ValueError("gcn_normalised: expected columns ascending in each row and each loop at most once")
    return graph


def full_gcn_graph(graph: Graph) -> Graph:
    """GCN's normalisation of the whole ``graph`` with its own degrees, ``graph.gcn_norm()`` with
    :func:`compact_dtype` columns: at 4 x 10^7 entries 0.3 GB where int64 columns and a row index
    took 0.8 GB. Built once per graph, on first use (``gcn_norm``'s cache)."""
    return graph.gcn_norm(index_dtype=compact_dtype(graph))


def batch_permutation(ids: Tensor, batch_size: int, generator: np.random.Generator) -> list[Tensor]:
    """``ids`` shuffled by ``generator`` and cut into chunks of ``batch_size`` (the last one
    shorter)."""
    order = torch.from_numpy(generator.permutation(ids.numel()))
    return list(ids[order].split(batch_size))


class PlannedBatches(torch.utils.data.Dataset):
    """The batches of one epoch as a map-style dataset, for ``DataLoader`` worker processes."""

    def __init__(self, method: SampledMethod, epoch: int, items: list[tuple[int, Any]]) -> None:
        self.method, self.epoch, self.items = method, epoch, items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> Batch | None:
        index, item = self.items[k]
        return self.method.make_batch(self.epoch, index, item)


def _as_is(batch: Batch | None) -> Batch | None:
    return batch


class SampledMethod(Method):
    """The base of the samplers: the full data, the training nodes, the epoch's batches (made in
    this process or in worker processes, split across ranks), and full-graph evaluation.

    Args:
        x: ``[N, F]`` features (dense or sparse COO).
        graph: the square :class:`Graph` of all ``N`` nodes (row = target).
        y: int64 ``[N]`` labels.
        train_mask: bool ``[N]``; at least one training node.
        seed: the base seed of every draw (see the module docstring).
        num_workers: worker processes making the batches (0: this process; PyG's name). Each
            worker's global generators are seeded from ``seed`` and its id; the batches do not
            depend on them.
        evaluation: how :meth:`predict` runs the model over the whole graph: ``"full"``, one
            full-graph forward; ``"layerwise"``, layer by layer over blocks of rows
            (:func:`~sparsegnn.sampling.layerwise.layerwise_forward`: memory of two layers'
            outputs and one block); ``"auto"`` (default), layer by layer only when the full
            forward would not fit in the memory left
            (:func:`~sparsegnn.sampling.layerwise.full_forward_fits`).

    Subclasses say what an epoch's batches are (:meth:`plan`: cheap descriptions such as seed
    ids, drawn from the epoch's stream) and how one is made (:meth:`make_batch`).
    :meth:`predict` runs the model on :attr:`eval_graph`: the whole graph as it is (a GCN
    normalises it with the full-graph degrees), or as a sampler's own normalisation weights it.
    """

    #: training steps aggregate first where cheaper (:attr:`Method.aggregates_first`); evaluation
    #: keeps PyG's order
    aggregates_first = True

    def __init__(self, x: Tensor, graph: Graph, y: Tensor, train_mask: Tensor, seed: int = 0,
                 num_workers: int = 0, evaluation: str = "auto") -> None:
        if not isinstance(graph, Graph) or not graph.is_square:
            raise ValueError("graph: expected a square sparsegnn.Graph")
        if x.size(0) != graph.num_nodes or y.shape != (graph.num_nodes,):
            raise ValueError(f"x, y: expected {graph.num_nodes} rows, got {x.size(0)} and {tuple(y.shape)}")
        self.x, self.graph, self.y = x, graph, y
        if not x.is_sparse:  # every batch gathers rows all over it: on 2 MiB pages, no page walk a row
            back_with_huge_pages(x)
        self.train_ids = training_nodes(train_mask, graph.num_nodes)
        self.seed = check_int("seed", seed, 0)
        self.num_workers = check_int("num_workers", num_workers, 0)
        if evaluation not in EVALUATIONS:
            raise ValueError(f"evaluation: expected one of {EVALUATIONS}, got {evaluation!r}")
        self.evaluation = evaluation
        self.rank, self.world = 0, 1

    @property
    def eval_graph(self) -> Graph:
        """The graph :meth:`predict` runs the model on (built when first needed)."""
        return self.graph

    def plan(self, epoch: int) -> Sequence[Any]:
        """The descriptions of epoch ``epoch``'s batches, in order."""
        raise NotImplementedError

    def make_batch(self, epoch: int, index: int, item: Any) -> Batch | None:
        """Batch ``index`` of epoch ``epoch`` from its description ``item`` (its draws from
        stream ``(EPOCH, epoch, index)``), or None when it holds no node of the loss."""
        raise NotImplementedError

    def shard(self, rank: int, world: int) -> None:
        self.rank, self.world = check_int("rank", rank, 0), check_int("world", world)
        if self.rank >= self.world:
            raise ValueError(f"rank: expected < world ({world}), got {rank}")

    def batches(self, epoch: int) -> Iterable[Batch]:
        items = list(enumerate(self.plan(epoch)))[self.rank::self.world]
        if self.num_workers == 0:
            made = (self.make_batch(epoch, index, item) for index, item in items)
        else:
            made = torch.utils.data.DataLoader(
                PlannedBatches(self, epoch, items), batch_size=None, num_workers=self.num_workers,
                collate_fn=_as_is, worker_init_fn=self._init_worker, multiprocessing_context="fork",
                generator=torch.Generator().manual_seed(self.seed),  # not the global RNG: dropout draws from it
            )
        return (batch for batch in made if batch is not None)

    def _init_worker(self, worker_id: int) -> None:
        torch.set_num_threads(1)
        seed_everything(self.seed * 1000 + worker_id)

    def predict(self, model: torch.nn.Module) -> Tensor:
        graph = self.eval_graph
        if self.evaluation == "layerwise" or (
            self.evaluation == "auto" and not full_forward_fits(model, graph.num_nodes, self.x.dtype.itemsize)
        ):
            return layerwise_forward(model, self.x, graph)
        return model(self.x, graph)
