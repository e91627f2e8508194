"""Node-induced subgraphs and k-hop neighbourhoods: what every sampler builds its batches from.

Both follow the aggregation direction of :class:`Graph`: row ``i`` receives messages from the
columns of its entries, so the k-hop ball of a seed is every node whose message can reach the
seed in ``k`` layers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .container import Graph


@dataclass(frozen=True)
class Subgraph:
    """A node-induced subgraph with its map back to the parent graph.

    Attributes:
        graph: the induced :class:`Graph` on ``n`` local nodes (local node ``i`` is parent node
            ``node_ids[i]``); values and the ``norm`` tag are the parent's, untouched.
        node_ids: int64 ``[n]``, the parent id of every local node, in the order given.
        edge_ids: int64 ``[nnz]``, the position in the parent's CSR of every local entry (so
            ``parent.value[edge_ids]`` are the local weights).
    """

    graph: Graph
    node_ids: Tensor
    edge_ids: Tensor


def _node_tensor(nodes: Tensor, num_nodes: int, name: str) -> Tensor:
    if not isinstance(nodes, Tensor) or nodes.dtype.is_floating_point or nodes.dtype == torch.bool:
        raise ValueError(f"{name}: expected an integer tensor of node ids")
    if nodes.dim() != 1:
        raise ValueError(f"{name}: expected a 1-D tensor, got shape {tuple(nodes.shape)}")
    nodes = nodes.long()
    if nodes.numel() and (int(nodes.min()) < 0 or int(nodes.max()) >= num_nodes):
        raise ValueError(
            f"{name}: ids must lie in [0, {num_nodes}), found range [{int(nodes.min())}, {int(nodes.max())}]"
        )
    return nodes


def row_entries(graph: Graph, rows: Tensor) -> tuple[Tensor, Tensor]:
    """``(owner, position)``: for every CSR entry of the given rows, the index into ``rows`` of
    its row and its position in the CSR, rows in the order given. Shapes: ``rows`` int64
    ``[r]``; both results int64 ``[sum of the rows' degrees]``."""
    counts = graph.rowptr[rows + 1] - graph.rowptr[rows]
    total = int(counts.sum())
    owner = torch.repeat_interleave(torch.arange(rows.numel(), device=rows.device), counts, output_size=total)
    starts = torch.cumsum(counts, 0) - counts
    position = graph.rowptr[rows][owner] + torch.arange(total, device=rows.device) - starts[owner]
    return owner, position


def subgraph(graph: Graph, nodes: Tensor) -> Subgraph:
    """The subgraph induced by ``nodes``: every entry of ``graph`` whose row and column are both
    in ``nodes``, renumbered to ``0 .. len(nodes) - 1`` in the order given.

    Args:
        graph: a square graph.
        nodes: int ``[n]`` distinct node ids.

    Returns:
        A :class:`Subgraph`; its graph has ``n`` nodes, entries sorted by (row, col).
    """
    if not graph.is_square:
        raise ValueError(f"graph: subgraph needs a square graph, got shape {graph.shape}")
    nodes = _node_tensor(nodes, graph.num_nodes, "nodes").to(graph.device)
    local = torch.full((graph.num_nodes,), -1, dtype=torch.int64, device=graph.device)
    local[nodes] = torch.arange(nodes.numel(), device=graph.device)
    if int((local >= 0).sum()) != nodes.numel():
        raise ValueError("nodes: expected distinct node ids, found repeats")
    owner, position = row_entries(graph, nodes)
    local_col = local[graph.col[position].long()]
    keep = local_col >= 0
    owner, position, local_col = owner[keep], position[keep], local_col[keep]
    n = nodes.numel()
    order = torch.sort(owner * max(n, 1) + local_col, stable=True).indices
    owner, position, local_col = owner[order], position[order], local_col[order]
    rowptr = torch.zeros(n + 1, dtype=torch.int64, device=graph.device)
    torch.cumsum(torch.bincount(owner, minlength=n), 0, out=rowptr[1:])
    value = graph.value[position] if graph.value is not None else None
    induced = Graph(rowptr, local_col.to(graph.col.dtype), value, n, validate=False, norm=graph.norm)
    return Subgraph(induced, nodes, position)


def k_hop(graph: Graph, seeds: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The nodes within ``k`` hops of ``seeds`` (against the message direction: the columns of
    the seeds' rows, then theirs, ...).

    Args:
        graph: a square graph.
        seeds: int ``[s]`` distinct node ids.
        k: number of hops, ``>= 0``.

    Returns:
        ``(nodes, hops)``: int64 ``[n]`` node ids, the seeds first in the order given, then each
        hop's new nodes in ascending id; and int64 ``[n]`` the hop at which each was reached (0
        for the seeds). ``subgraph(graph, nodes)`` is then the k-hop ball.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 0:
        raise ValueError(f"k: expected an int >= 0, got {k!r}")
    if not graph.is_square:
        raise ValueError(f"graph: k_hop needs a square graph, got shape {graph.shape}")
    seeds = _node_tensor(seeds, graph.num_nodes, "seeds").to(graph.device)
    seen = torch.zeros(graph.num_nodes, dtype=torch.bool, device=graph.device)
    seen[seeds] = True
    if int(seen.sum()) != seeds.numel():
        raise ValueError("seeds: expected distinct node ids, found repeats")
    found, hops, frontier = [seeds], [torch.zeros_like(seeds)], seeds
    for hop in range(1, k + 1):
        if frontier.numel() == 0:
            break
        _, position = row_entries(graph, frontier)
        reached = torch.unique(graph.col[position].long())
        new = reached[~seen[reached]]
        seen[new] = True
        found.append(new)
        hops.append(torch.full_like(new, hop))
        frontier = new
    return torch.cat(found), torch.cat(hops)


def _check_rows(graph: Graph, start: int, stop: int) -> None:
    if not graph.is_square:
        raise ValueError(f"graph: expected a square graph, got shape {graph.shape}")
    if not 0 <= start < stop <= graph.num_nodes:
        raise ValueError(f"start, stop: expected 0 <= start < stop <= {graph.num_nodes}, got {start}, {stop}")


def row_block(graph: Graph, start: int, stop: int) -> Graph:
    """Rows ``start .. stop - 1`` of the square ``graph`` as a ``[stop - start, N]`` graph over
    all its columns: views of the graph's columns and values (no copy), its ``norm`` tag kept."""
    _check_rows(graph, start, stop)
    first, last = int(graph.rowptr[start]), int(graph.rowptr[stop])
    value = graph.value[first:last] if graph.value is not None else None
    return Graph(graph.rowptr[start:stop + 1] - first, graph.col[first:last], value, graph.num_cols, validate=False,
                 norm=graph.norm)


def row_block_halo(graph: Graph, start: int, stop: int) -> tuple[Graph, Tensor]:
    """``(block, node_ids)``: rows ``start .. stop - 1`` of the square ``graph`` as a
    ``[t, t + h]`` graph (``t = stop - start``) over those rows' own nodes and their 1-hop halo.

    Columns ``0 .. t - 1`` are the nodes ``start .. stop - 1`` (targets first, as a layer's
    rectangular input expects), ``t ..`` the halo: every other column of the rows, ascending.
    Every entry of the rows is kept, in the graph's order within each row, with its value (a
    view: no copy) and the graph's ``norm`` tag, so the block aggregates exactly as the full
    graph does on these rows. ``node_ids``: int64 ``[t + h]``, the global id of every column.
    """
    _check_rows(graph, start, stop)
    first, last = int(graph.rowptr[start]), int(graph.rowptr[stop])
    cols = graph.col[first:last].long()
    outside = (cols < start) | (cols >= stop)
    halo, inverse = torch.unique(cols[outside], return_inverse=True)
    t = stop - start
    local = cols - start
    local[outside] = t + inverse
    value = graph.value[first:last] if graph.value is not None else None
    block = Graph(graph.rowptr[start:stop + 1] - first, local.to(graph.col.dtype), value, t + halo.numel(),
                  validate=False, norm=graph.norm)
    node_ids = torch.cat([torch.arange(start, stop, device=graph.device), halo])
    return block, node_ids
