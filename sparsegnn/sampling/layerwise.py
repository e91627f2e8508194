"""Full-graph evaluation layer by layer, one block of rows at a time: the samplers' evaluation
when a full-graph forward does not fit in memory.

For a :class:`~sparsegnn.nn.LayerStack` ``f_0 .. f_{L-1}`` over the full adjacency ``Â`` of
``N`` nodes, cut into blocks ``T`` of consecutive rows:

    h^{l+1}[T] = f_l(h^l[T ∪ H(T)], Â[T, T ∪ H(T)])

where ``H(T)`` is the block's 1-hop halo. Every layer runs over all blocks before the next
starts, so memory holds ``h^l`` and ``h^{l+1}`` (``[N, F]`` each) and one block's temporaries; a
full-graph forward holds ``h^l``, the linear map's ``[N, F_{l+1}]`` output and ``h^{l+1}`` at its
widest layer. Two kinds of block:

- a GCN layer (it reads no target row of its own: ``reads_target_rows`` False) on dense inputs
  takes the block's rows over all ``N`` columns and ``h^l`` whole
  (:func:`~sparsegnn.graph.subgraph.row_block`: views, nothing gathered), and aggregates before
  its linear map (:func:`~sparsegnn.nn.gcn_conv.aggregate_first`), so the map runs on the
  block's rows only: equal to the full forward up to float rounding; so does a layer that
  takes its targets' rows apart (``takes_target_rows_apart``: SAGE, given ``(h^l, h^l[T])``);
- so does a layer that maps every source before aggregating (``maps_sources``: EGC's bases,
  SAGE's ``project``): its map runs once a layer over all ``N`` rows (``[N, F']``, EGC's
  ``B F_{l+1} / H`` columns), and each block takes the mapped sources whole and its targets'
  rows as a view (:class:`~sparsegnn.nn.conv.MappedSources`), so no source is mapped twice;
- any other layer (one reading its targets' rows, which it finds first in its input, or any
  layer on sparse inputs) takes the block's rows and halo renumbered targets first, and its
  inputs gathered (:func:`~sparsegnn.graph.subgraph.row_block_halo`);
- a layer whose outputs are narrow (``F_{l+1}`` at most an eighth of the widest layer's, or
  ``2 N F_{l+1}`` within one block's bytes: the logits) runs on the whole graph at once, in PyG's order (the linear map first, so the aggregation moves
  ``F_{l+1}`` columns, not ``F_l``); so does a layer of more than one hop (``hops``: SGC's
  ``K``), which one-hop blocks cannot hold.

A layer that caches its graph (``cached=True``) holds the graph of an earlier call, not a
block's: its cache is set aside while it runs on blocks, and given back after.

Every entry of a block's rows is kept either way, so each row aggregates over its whole
neighbourhood. PyG's ``inference`` does the same over ``NeighborLoader`` batches of whole
neighbourhoods; GNNAutoScale's :meth:`~sparsegnn.gas.GASModel.inference` over METIS parts.
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from ..graph import Graph
from ..graph.subgraph import row_block, row_block_halo
from ..nn import LayerStack
from ..nn.conv import MappedSources
from ..nn.gcn_conv import aggregate_first

#: the most bytes of one block's inputs :func:`layerwise_forward` aims at by default
BLOCK_BYTES = 256 * 2**20

#: evaluation modes of the samplers (``evaluation=``): ``auto`` runs layer by layer only when
#: the full-graph forward would not fit (:func:`full_forward_fits`)
EVALUATIONS = ("auto", "full", "layerwise")


def _meminfo_bytes(path: str, key: str) -> int | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def available_bytes() -> int | None:
    """Memory this process may still allocate: the system's ``MemAvailable``, and no more than
    its address-space limit (``RLIMIT_AS``) leaves above its mappings; None where neither is
    known (not Linux)."""
    free = _meminfo_bytes("/proc/meminfo", "MemAvailable")
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    mapped = _meminfo_bytes("/proc/self/status", "VmSize")
    if limit != resource.RLIM_INFINITY and mapped is not None:
        left = max(limit - mapped, 0)
        free = left if free is None else min(free, left)
    return free


def _widths(stack: LayerStack) -> list[tuple[int, int]] | None:
    """``(in, out)`` channels of every layer, or None if a layer does not say."""
    widths = [(getattr(layer, "in_channels", None), getattr(layer, "out_channels", None)) for layer in stack.layers]
    if any(not isinstance(w, int) or w < 1 for pair in widths for w in pair):
        return None
    return widths


def full_forward_bytes(stack: LayerStack, num_nodes: int, itemsize: int = 4) -> int:
    """What a full-graph forward of ``stack`` over ``num_nodes`` nodes allocates at its widest
    layer beyond the input features: layer ``l``'s input (for ``l > 0``), its linear map's output
    and its own output, ``[N, F]`` each (an estimate: a layer's temporaries beyond these, such as
    EGC's bases, are not counted)."""
    widths = _widths(stack)
    if widths is None:
        raise ValueError(f"stack: {type(stack).__name__}'s layers do not give in_channels / out_channels")
    return max((f_in if i else 0) + 2 * f_out for i, (f_in, f_out) in enumerate(widths)) * num_nodes * itemsize


def full_forward_fits(stack: torch.nn.Module, num_nodes: int, itemsize: int = 4) -> bool:
    """Whether a full-graph forward of ``stack`` fits in what :func:`available_bytes` leaves
    (with a tenth to spare). True for a model :func:`layerwise_forward` cannot run and where
    the memory left is unknown."""
    free = available_bytes()
    if free is None or not isinstance(stack, LayerStack) or _widths(stack) is None:
        return True
    return full_forward_bytes(stack, num_nodes, itemsize) <= 0.9 * free


def block_rows(graph: Graph, width: int, itemsize: int = 4, block_bytes: int = BLOCK_BYTES, halo: bool = True) -> int:
    """Rows per block such that a block's inputs take about ``block_bytes`` at ``width`` features
    a row: with its ``halo``, at most ``1 + mean degree`` gathered rows per target; without, one
    row per target."""
    if not isinstance(block_bytes, int) or isinstance(block_bytes, bool) or block_bytes < 1:
        raise ValueError(f"block_bytes: expected an int >= 1, got {block_bytes!r}")
    per_target = ((1 + graph.nnz / max(graph.num_nodes, 1)) if halo else 1) * width * itemsize
    return max(1, min(graph.num_nodes, int(block_bytes // per_target)))


def default_block_bytes(num_nodes: int, width: int, itemsize: int = 4) -> int:
    """An eighth of one ``[N, width]`` layer output, within ``[1 MiB, BLOCK_BYTES]``: blocks add
    little to the two layer outputs held, and stay large enough to run at full speed."""
    return min(BLOCK_BYTES, max(2**20, num_nodes * width * itemsize // 8))


@contextmanager
def _uncached(layer: torch.nn.Module) -> Iterator[None]:
    """``layer`` with its graph cache (``cached`` and PyG's ``_cached_edge_index``: GCN, EGC)
    set aside, restored on exit."""
    if not getattr(layer, "cached", False) or not hasattr(layer, "_cached_edge_index"):
        yield
        return
    kept = layer._cached_edge_index
    layer.cached, layer._cached_edge_index = False, None
    try:
        yield
    finally:
        layer.cached, layer._cached_edge_index = True, kept


def _row_block_inputs(layer: torch.nn.Module, h: Tensor) -> Callable[[int, int], Any] | None:
    """``inputs(start, stop)``: what ``layer`` takes with the graph's rows ``start:stop`` over all
    ``N`` columns, ``h`` read whole (no gather); None where it cannot run on such blocks (it
    reads its targets' rows from the top of its input, or ``h`` is sparse). A layer that maps
    its sources has them mapped here, once for all blocks."""
    if h.is_sparse:
        return None
    if getattr(layer, "maps_sources", False):
        sources = layer.map_sources(h)
        return lambda start, stop: MappedSources(sources, h[start:stop])
    if getattr(layer, "takes_target_rows_apart", False):
        return lambda start, stop: (h, h[start:stop])
    if not getattr(layer, "reads_target_rows", True):  # GCN: a dense h lets it aggregate first
        return lambda start, stop: h
    return None


@torch.no_grad()
def layerwise_forward(stack: LayerStack, x: Tensor, graph: Graph, block_bytes: int | None = None) -> Tensor:
    """``[N, F_out]``: ``stack``'s full-graph output on ``x`` (``[N, F_in]``, dense or sparse
    COO) and the square ``graph`` it takes (raw, or normalised as the model normalises it: the
    blocks are cut from :meth:`~sparsegnn.nn.LayerStack.full_adjacency`), layer by layer over
    blocks of consecutive rows (see the module docstring), in eval mode.

    A layer that reads no target rows of its own (``reads_target_rows`` False: GCN), takes them
    apart (SAGE) or maps its sources first (EGC) takes each block's rows over all ``N`` columns
    on dense inputs (:func:`~sparsegnn.graph.subgraph.row_block`, views: nothing is gathered);
    any other layer each block's rows and halo, its inputs gathered (:func:`~sparsegnn.graph.subgraph.row_block_halo`); a layer with narrow
    outputs (see the module docstring) runs on the whole graph. ``block_bytes``
    sizes the blocks' inputs (:func:`block_rows`; default :func:`default_block_bytes`).
    """
    if not isinstance(stack, LayerStack):
        raise ValueError(f"model: layer-wise evaluation needs a sparsegnn LayerStack, got {type(stack).__name__}")
    widths = _widths(stack)
    if widths is None:
        raise ValueError(f"model: {type(stack).__name__}'s layers do not give in_channels / out_channels")
    if not isinstance(graph, Graph) or not graph.is_square:
        raise ValueError("graph: expected a square sparsegnn.Graph")
    graph = stack.full_adjacency(graph)  # normalised once, with the full graph's degrees
    n = graph.num_nodes
    if not isinstance(x, Tensor) or x.dim() != 2 or x.size(0) != n:
        raise ValueError(f"x: expected [{n}, F] features, got {getattr(x, 'shape', type(x).__name__)}")
    itemsize = x.dtype.itemsize
    widest = max(max(pair) for pair in widths)
    if block_bytes is None:
        block_bytes = default_block_bytes(n, widest, itemsize)
    halo_blocks = None  # built once, for the first layer that needs them
    was_training = stack.training
    stack.eval()
    try:
        h = x
        for i, (f_in, f_out) in enumerate(widths):
            narrow = 8 * f_out <= widest or 2 * n * f_out * itemsize <= block_bytes  # the logits
            if narrow or getattr(stack.layers[i], "hops", 1) != 1:  # whole
                h = stack.layer(i, h, graph)
                continue
            row_block_inputs = _row_block_inputs(stack.layers[i], h)
            if row_block_inputs is not None:
                rows = block_rows(graph, f_in + f_out, itemsize, block_bytes, halo=False)
                blocks = ((start, row_block(graph, start, min(start + rows, n)), None) for start in range(0, n, rows))
            else:
                if halo_blocks is None:
                    rows = block_rows(graph, max(f for f, _ in widths), itemsize, block_bytes)
                    halo_blocks = [(start, *row_block_halo(graph, start, min(start + rows, n)))
                                   for start in range(0, n, rows)]
                blocks = halo_blocks
            out = inputs = None
            for start, block, node_ids in blocks:
                if row_block_inputs is not None:  # rows over all columns: h whole
                    block_inputs = row_block_inputs(start, start + block.num_nodes)
                elif h.is_sparse:
                    block_inputs = h.index_select(0, node_ids)
                else:  # one buffer for every block of the layer, no fresh pages per block
                    if inputs is None:
                        inputs = h.new_empty(max(ids.numel() for _, _, ids in halo_blocks), h.size(1))
                    block_inputs = torch.index_select(h, 0, node_ids, out=inputs[: node_ids.numel()])
                with aggregate_first(), _uncached(stack.layers[i]):
                    result = stack.layer(i, block_inputs, block)
                if out is None:
                    out = result.new_empty(n, result.size(1))
                out[start:start + block.num_nodes] = result
            h = out
    finally:
        stack.train(was_training)
    return h
