"""The Graph container: constructors, conversions, cached derived data and validation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from sparsegnn import Graph


def _example() -> tuple[torch.Tensor, torch.Tensor]:
    edge_index = torch.tensor([[0, 1, 1, 2, 3, 3], [1, 0, 2, 1, 0, 3]])
    weight = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    return edge_index, weight


def test_from_edge_index_rows_are_targets():
    edge_index, weight = _example()
    graph = Graph.from_edge_index(edge_index, 4, weight)
    dense = graph.to_dense()
    for (src, dst), w in zip(edge_index.T.tolist(), weight.tolist()):
        assert dense[dst, src] == w
    assert graph.nnz == 6 and graph.shape == (4, 4)
    assert torch.equal(graph.in_degree(), torch.tensor([2, 2, 1, 1]))
    assert torch.equal(graph.out_degree(), torch.tensor([1, 2, 1, 2]))


def test_edge_index_round_trip_and_num_nodes_default():
    edge_index, _ = _example()
    graph = Graph.from_edge_index(edge_index)
    assert graph.num_nodes == 4
    back = graph.edge_index()
    assert sorted(map(tuple, back.T.tolist())) == sorted(map(tuple, edge_index.T.tolist()))


def test_duplicates_keep_or_sum():
    edge_index = torch.tensor([[0, 0, 1], [1, 1, 0]])
    kept = Graph.from_edge_index(edge_index, 2)
    assert kept.nnz == 3 and kept.has_duplicates()
    summed = Graph.from_edge_index(edge_index, 2, duplicates="sum")
    assert summed.nnz == 2 and not summed.has_duplicates()
    assert torch.equal(summed.to_dense(), kept.to_dense())
    weighted = Graph.from_edge_index(edge_index, 2, torch.tensor([1.0, 2.5, 4.0]), duplicates="sum")
    assert weighted.to_dense()[1, 0] == 3.5


def test_scipy_torch_sparse_dense_round_trips():
    edge_index, weight = _example()
    graph = Graph.from_edge_index(edge_index, 4, weight)
    dense = graph.to_dense()
    assert torch.equal(Graph.from_scipy(graph.to_scipy()).to_dense(), dense)
    assert torch.equal(Graph.from_dense(dense).to_dense(), dense)
    assert torch.equal(Graph.from_torch_sparse(graph.to_torch_sparse()).to_dense(), dense)
    assert torch.equal(Graph.from_torch_sparse(dense.to_sparse()).to_dense(), dense)
    rect = sp.random(5, 9, density=0.3, format="coo", random_state=0, dtype=np.float64)
    assert torch.allclose(Graph.from_scipy(rect).to_dense(torch.float64), torch.from_numpy(rect.toarray()))


def test_from_pyg_reads_edge_weight():
    class Data:
        edge_index, edge_weight = _example()
        num_nodes = 4

    graph = Graph.from_pyg(Data())
    assert graph.value is not None and graph.nnz == 6


def test_transpose_is_cached_and_consistent():
    edge_index, weight = _example()
    graph = Graph.from_edge_index(edge_index, 4, weight)
    transposed = graph.transpose()
    assert transposed is graph.transpose()
    assert torch.equal(transposed.to_dense(), graph.to_dense().T)
    assert torch.equal(transposed.value, graph.value[graph.transpose_perm()])
    assert transposed.transpose() is graph
    rect = Graph(torch.tensor([0, 2, 3]), torch.tensor([4, 6, 1]), None, 7)
    assert torch.equal(rect.transpose().to_dense(), rect.to_dense().T)


@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
def test_compiled_transpose_equals_a_stable_sort(index_dtype):
    """The CPU transpose (a compiled counting sort) gives exactly what a stable sort of the
    columns gives: colptr, rows, perm, and the inverse perm of the transpose; empty rows and
    columns, duplicates and a rectangular shape included."""
    import numba  # noqa: F401  (loaded: the compiled path runs at any size)

    gen = torch.Generator().manual_seed(0)
    for num_nodes, num_cols, nnz in ((0, 0, 0), (5, 3, 0), (40, 60, 300), (300, 7, 900)):
        row = torch.randint(0, max(num_nodes, 1), (nnz,), generator=gen)
        col = torch.randint(0, max(num_cols, 1), (nnz,), generator=gen)
        graph = Graph.from_coo(row, col, torch.rand(nnz, generator=gen), num_nodes, num_cols).to_index_dtype(index_dtype)
        sorted_col, perm = torch.sort(graph.col, stable=True)
        colptr = torch.searchsorted(sorted_col, torch.arange(num_cols + 1, dtype=graph.col.dtype)).long()
        transposed = graph.transpose()
        assert torch.equal(transposed.rowptr, colptr)
        assert torch.equal(transposed.col, graph.row_index()[perm].to(index_dtype))
        assert torch.equal(graph.transpose_perm(), perm)
        assert torch.equal(transposed.transpose_perm(), torch.argsort(perm))
        assert torch.equal(transposed.value, graph.value[perm])


def test_gcn_norm_matches_formula():
    edge_index = torch.tensor([[0, 1, 1, 2, 2], [1, 0, 2, 1, 2]])  # node 2 has a self loop
    graph = Graph.from_edge_index(edge_index, 3, torch.tensor([1.0, 1.0, 1.0, 1.0, 3.0]))
    norm = graph.gcn_norm()
    adj = graph.to_dense()
    adj_hat = adj.clone()
    adj_hat[0, 0] = adj_hat[1, 1] = 1.0  # existing loop on 2 keeps weight 3
    dinv = adj_hat.sum(1).pow(-0.5)
    assert torch.allclose(norm.to_dense(), dinv[:, None] * adj_hat * dinv[None, :])
    assert graph.gcn_norm() is norm
    plain = graph.gcn_norm(add_self_loops=False).to_dense()
    dinv = adj.sum(1).pow(-0.5)
    assert torch.allclose(plain, dinv[:, None] * adj * dinv[None, :])


@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("value_dtype", [None, torch.float32, torch.float64])
@pytest.mark.parametrize("improved", [False, True])
def test_compiled_gcn_norm_equals_the_torch_ops(index_dtype, value_dtype, improved):
    """The compiled pass (CPU, numba loaded, columns ascending, each loop once) gives the torch
    ops' graph: the same structure, values within rounding (1 / sqrt against pow(-0.5)). Edge
    weights that need a gradient take the torch ops; so do rows not ascending and loops stored
    twice, which the pass hands back."""
    pytest.importorskip("numba")
    g = torch.Generator().manual_seed(3)
    n = 40
    edge_index = torch.randint(0, n, (2, 300), generator=g)
    edge_index[:, :10] = torch.arange(10).repeat(2, 1)  # loops on nodes 0-9, none on the rest
    value = None if value_dtype is None else torch.rand(300, generator=g, dtype=value_dtype) + 0.1
    graph = Graph.from_edge_index(edge_index, n, value).to_index_dtype(index_dtype)
    got = graph.gcn_norm(improved=improved, index_dtype=torch.int32)
    weights = torch.ones(graph.nnz) if value is None else graph.value
    want = graph.with_value(weights.clone().requires_grad_()).gcn_norm(improved=improved)
    assert got.col.dtype == torch.int32 and got.norm == "gcn"
    assert torch.equal(got.rowptr, want.rowptr) and torch.equal(got.col.long(), want.col.long())
    torch.testing.assert_close(got.value, want.value.detach().to(got.value.dtype))
    assert graph.gcn_norm(improved=improved, index_dtype=torch.int32) is got  # cached per arguments
    assert graph.gcn_norm(improved=improved).col.dtype == index_dtype
    # a row with its columns out of order, and a loop stored twice: the torch ops' result
    shuffled = Graph(torch.tensor([0, 3, 5, 5]), torch.tensor([2, 0, 1, 1, 1]), None, 3)
    twice = Graph(torch.tensor([0, 2, 3, 3]), torch.tensor([0, 0, 2]), None, 3)
    for odd in (shuffled, twice):
        ref = odd.with_value(torch.ones(odd.nnz, requires_grad=True)).gcn_norm()
        norm = odd.gcn_norm()
        assert torch.equal(norm.rowptr, ref.rowptr) and torch.equal(norm.col, ref.col)
        torch.testing.assert_close(norm.value, ref.value.detach())
    with pytest.raises(ValueError, match="index_dtype"):
        graph.gcn_norm(index_dtype=torch.float32)


def test_index_dtype_and_device_copy():
    edge_index, _ = _example()
    graph = Graph.from_edge_index(edge_index).to_index_dtype(torch.int32)
    assert graph.col.dtype == torch.int32
    assert torch.equal(graph.transpose().to_dense(), graph.to_dense().T)
    assert graph.to("cpu").nnz == graph.nnz
    with pytest.raises(ValueError, match="dtype"):
        graph.to_index_dtype(torch.int16)


@pytest.mark.parametrize(
    "rowptr, col, value, num_cols, match",
    [
        ([1, 2], [0], None, 2, "rowptr\\[0\\] must be 0"),
        ([0, 2], [0], None, 2, "rowptr\\[-1\\] must equal nnz"),
        ([0, 2, 1, 2], [0, 1], None, 3, "non-decreasing"),
        ([0, 1], [5], None, 2, "col: indices must lie in"),
        ([0, 1], [-1], None, 2, "col: indices must lie in"),
        ([0, 1], [0], [1.0, 2.0], 2, "value: expected shape"),
        ([0, 1], [0], [1], 2, "value: expected a floating"),
    ],
)
def test_validation_errors(rowptr, col, value, num_cols, match):
    value = torch.tensor(value) if value is not None else None
    with pytest.raises(ValueError, match=match):
        Graph(torch.tensor(rowptr), torch.tensor(col), value, num_cols)


def test_validation_of_dtypes_and_shapes():
    with pytest.raises(ValueError, match="col: expected dtype"):
        Graph(torch.tensor([0, 1]), torch.tensor([0], dtype=torch.int16))
    with pytest.raises(ValueError, match="rowptr: expected dtype"):
        Graph(torch.tensor([0.0, 1.0]), torch.tensor([0]))
    with pytest.raises(ValueError, match="rowptr: expected a 1-D"):
        Graph(torch.tensor([[0, 1]]), torch.tensor([0]))
    with pytest.raises(TypeError):
        Graph([0, 1], [0])
    with pytest.raises(ValueError, match="edge_index: expected shape"):
        Graph.from_edge_index(torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="num_nodes"):
        Graph.from_edge_index(torch.tensor([[0], [5]]), num_nodes=3)
    with pytest.raises(ValueError, match="edge_index: node indices"):
        Graph.from_edge_index(torch.tensor([[0], [-1]]))
    with pytest.raises(ValueError, match="edge_weight"):
        Graph.from_edge_index(torch.tensor([[0], [1]]), edge_weight=torch.ones(2))
    with pytest.raises(ValueError, match="duplicates"):
        Graph.from_edge_index(torch.tensor([[0], [1]]), duplicates="drop")
    with pytest.raises(ValueError, match="gcn_norm"):
        Graph(torch.tensor([0, 1]), torch.tensor([2]), None, 3).gcn_norm()


def test_zero_node_graph():
    graph = Graph.from_edge_index(torch.empty(2, 0, dtype=torch.long))
    assert graph.num_nodes == 0 and graph.nnz == 0
    assert graph.transpose().shape == (0, 0)
    assert graph.gcn_norm().nnz == 0


# ------------------------------------------------------------------------------ node order
@pytest.mark.parametrize("reduce", ["sum", "mean", "max"])
@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
def test_permute_moves_entries_with_their_nodes(reduce, index_dtype):
    from sparsegnn import ops

    gen = torch.Generator().manual_seed(3)
    n = 60
    ei = torch.randint(0, n, (2, 400), generator=gen)
    ei[:, :5] = torch.tensor([[7], [9]])  # a repeated edge: kept as separate entries
    graph = Graph.from_edge_index(ei, n, torch.rand(400, generator=gen, dtype=torch.float64)).to_index_dtype(index_dtype)
    perm = torch.randperm(n, generator=gen)
    moved = graph.permute(perm)
    assert moved.col.dtype == index_dtype and moved.nnz == graph.nnz
    x = torch.randn(n, 5, generator=gen, dtype=torch.float64)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(n)
    out = ops.spmm(moved, x[perm], reduce)
    torch.testing.assert_close(out[inverse], ops.spmm(graph, x, reduce))
    torch.testing.assert_close(moved.to_dense(torch.float64), graph.to_dense(torch.float64)[perm][:, perm])
    same = graph.permute(torch.arange(n))
    assert torch.equal(same.rowptr, graph.rowptr) and torch.equal(same.col, graph.col)
    weight = graph.value.clone().requires_grad_()
    ops.spmm(graph.with_value(weight).permute(perm), x[perm], "sum").sum().backward()
    assert weight.grad is not None and weight.grad.shape == weight.shape  # weights keep their graph


@pytest.mark.parametrize("index_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("weighted", [False, True])
def test_compiled_permute_equals_the_coo_sort(monkeypatch, index_dtype, weighted):
    """The compiled renumbering gives the COO sort's graph entry for entry: the same columns,
    duplicates in the same order, the same weights (rows of over 32 entries take the merge sort)."""
    pytest.importorskip("numba")
    gen = torch.Generator().manual_seed(5)
    n = 50
    ei = torch.randint(0, n, (2, 900), generator=gen)
    ei[:, :4] = torch.tensor([[7], [9]])  # a repeated edge
    ei[1, 4:80] = 3  # node 3 receives 76 messages: a long row
    value = torch.rand(900, generator=gen, dtype=torch.float64) if weighted else None
    graph = Graph.from_edge_index(ei, n, value).to_index_dtype(index_dtype)
    perm = torch.randperm(n, generator=gen)
    compiled = graph.permute(perm)
    monkeypatch.setattr(Graph, "_counting_sort_pays", lambda self: False)
    sorted_ = graph.permute(perm)
    assert torch.equal(compiled.rowptr, sorted_.rowptr) and torch.equal(compiled.col, sorted_.col)
    assert compiled.col.dtype == index_dtype
    assert (compiled.value is None) == (not weighted)
    if weighted:
        assert torch.equal(compiled.value, sorted_.value)


def test_rcm_order_recovers_a_band():
    n = 50
    path = torch.stack([torch.arange(n - 1), torch.arange(1, n)])
    path = torch.cat([path, path.flip(0)], 1)  # undirected path: bandwidth 1 in its own order
    shuffle = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    graph = Graph.from_edge_index(shuffle[path], n)
    bandwidth = lambda g: int((g.row_index() - g.col.long()).abs().max())  # noqa: E731
    assert bandwidth(graph) > 1
    order = graph.rcm_order()
    assert order.dtype == torch.int64 and torch.equal(torch.sort(order).values, torch.arange(n))
    assert bandwidth(graph.permute(order)) == 1


def _has_pymetis() -> bool:
    import importlib.util

    return importlib.util.find_spec("pymetis") is not None


def test_metis_order_groups_communities():
    pytest.importorskip("pymetis")
    gen = torch.Generator().manual_seed(1)
    block = torch.combinations(torch.arange(20)).T
    cliques = torch.cat([block, block + 20], 1)
    cliques = torch.cat([cliques, cliques.flip(0)], 1)  # two undirected 20-cliques
    shuffle = torch.randperm(40, generator=gen)
    graph = Graph.from_edge_index(shuffle[cliques], 40)
    order = graph.metis_order(2)
    assert torch.equal(torch.sort(order).values, torch.arange(40))
    assert torch.equal(order, graph.metis_order(2))  # deterministic
    first = set(order[:20].tolist())
    assert first in ({int(shuffle[i]) for i in range(20)}, {int(shuffle[i]) for i in range(20, 40)})
    assert torch.equal(graph.metis_order(1), torch.arange(40))
    assert torch.equal(torch.sort(graph.metis_order(100)).values, torch.arange(40))  # parts <= nodes
    assert graph.metis_order().shape == (40,)  # default: parts of ~1,024 nodes, here one
    with pytest.raises(ValueError, match="num_parts"):
        graph.metis_order(0)


def test_permute_and_rcm_order_errors():
    edge_index, weight = _example()
    graph = Graph.from_edge_index(edge_index, 4, weight)
    for bad in (torch.tensor([0, 1, 2]), torch.tensor([0, 1, 1, 2]), torch.tensor([0.0, 1, 2, 3]), [0, 1, 2, 3]):
        with pytest.raises(ValueError, match="perm"):
            graph.permute(bad)
    rect = Graph(torch.tensor([0, 1, 2]), torch.tensor([0, 2]), num_cols=3)
    with pytest.raises(ValueError, match="square"):
        rect.permute(torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="square"):
        rect.rcm_order()
    with pytest.raises(ValueError, match="square"):
        rect.metis_order(2)
    for n, edges in ((0, [[], []]), (1, [[], []]), (3, [[0], [0]])):  # empty, single, self loop only
        tiny = Graph.from_edge_index(torch.tensor(edges, dtype=torch.long), n)
        for order in (tiny.rcm_order(), tiny.metis_order(2)) if _has_pymetis() else (tiny.rcm_order(),):
            assert torch.equal(torch.sort(order).values, torch.arange(n))
            assert tiny.permute(order).nnz == tiny.nnz


# ------------------------------------------------------------------ partition, subgraph, k_hop
from sparsegnn.data import sbm  # noqa: E402
from sparsegnn.graph import k_hop, partition, subgraph  # noqa: E402


def _random_graph(n: int = 60, e: int = 300, seed: int = 0, weighted: bool = True) -> Graph:
    gen = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=gen)
    w = torch.rand(e, generator=gen) if weighted else None
    return Graph.from_edge_index(ei, n, w)


def test_partition_covers_every_node_once_and_is_cached():
    pytest.importorskip("pymetis")
    data = sbm(400, 4, 8.0, num_features=4, seed=0)
    graph = Graph.from_edge_index(data.edge_index, data.num_nodes)
    for recursive in (False, True):
        parts = partition(graph, 4, recursive=recursive)
        assert parts.num_parts == 4 and parts.part.shape == (400,)
        assert torch.equal(torch.sort(parts.perm).values, torch.arange(400))
        assert int(parts.partptr[-1]) == 400 and torch.equal(parts.sizes(), torch.bincount(parts.part, minlength=4))
        for p in range(4):
            assert bool((parts.part[parts.nodes(p)] == p).all())
        assert partition(graph, 4, recursive=recursive) is parts  # kept with the graph
    assert "symmetric_pattern" not in graph._cache  # METIS's input (0.5 GB at 4 x 10^7 entries) is not
    once = graph.symmetric_pattern(cache=False)
    assert "symmetric_pattern" not in graph._cache and (once != graph.symmetric_pattern()).nnz == 0
    assert graph.symmetric_pattern(cache=False) is graph.symmetric_pattern()  # a cached one is used
    # METIS follows the planted blocks: most edges stay inside a part
    parts = partition(graph, 4)
    inside = (parts.part[graph.row_index()] == parts.part[graph.col.long()]).float().mean()
    assert float(inside) > 0.6


def test_partition_edge_cases_and_errors():
    edgeless = Graph.from_edge_index(torch.zeros(2, 0, dtype=torch.long), 5)
    parts = partition(edgeless, 2)  # nothing for METIS to cut: contiguous blocks
    assert parts.part.tolist() == [0, 0, 0, 1, 1]
    assert partition(_random_graph(), 1).part.eq(0).all()
    with pytest.raises(ValueError, match="num_parts"):
        partition(edgeless, 6)
    with pytest.raises(ValueError, match="num_parts"):
        partition(edgeless, 0)
    with pytest.raises(ValueError, match="square"):
        partition(Graph(torch.tensor([0, 1]), torch.tensor([3]), num_cols=4), 1)


def test_subgraph_holds_exactly_the_induced_entries():
    graph = _random_graph()
    nodes = torch.tensor([7, 3, 41, 0, 22, 59, 15])
    sub = subgraph(graph, nodes)
    dense, local = graph.to_dense(torch.float64), sub.graph.to_dense(torch.float64)
    torch.testing.assert_close(local, dense[nodes][:, nodes])
    assert torch.equal(sub.node_ids, nodes)
    assert torch.equal(graph.value[sub.edge_ids], sub.graph.value)
    assert torch.equal(graph.row_index()[sub.edge_ids], nodes[sub.graph.row_index()])
    assert torch.equal(graph.col.long()[sub.edge_ids], nodes[sub.graph.col.long()])
    assert sub.graph.norm is None and subgraph(graph.gcn_norm(), nodes).graph.norm == "gcn"
    assert subgraph(graph.to_index_dtype(torch.int32), nodes).graph.col.dtype == torch.int32
    assert subgraph(graph, torch.zeros(0, dtype=torch.long)).graph.num_nodes == 0


def test_subgraph_errors():
    graph = _random_graph()
    with pytest.raises(ValueError, match="nodes"):
        subgraph(graph, torch.tensor([1, 1]))
    with pytest.raises(ValueError, match="nodes"):
        subgraph(graph, torch.tensor([60]))
    with pytest.raises(ValueError, match="nodes"):
        subgraph(graph, torch.tensor([0.5]))


def test_k_hop_is_the_ball_against_the_message_direction():
    # a directed path 0 -> 1 -> 2 -> 3 -> 4: node 4 hears from 3 in one hop, from 2 in two
    path = Graph.from_edge_index(torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]]), 5)
    nodes, hops = k_hop(path, torch.tensor([4]), 2)
    assert nodes.tolist() == [4, 3, 2] and hops.tolist() == [0, 1, 2]
    assert k_hop(path, torch.tensor([4]), 0)[0].tolist() == [4]
    graph = _random_graph(weighted=False)
    seeds = torch.tensor([5, 2])
    nodes, hops = k_hop(graph, seeds, 2)
    assert nodes[:2].tolist() == [5, 2] and len(set(nodes.tolist())) == nodes.numel()
    reach = graph.to_dense(torch.float64)[seeds].sum(0) > 0  # one hop by dense reachability
    reach2 = reach | ((graph.to_dense(torch.float64)[reach].sum(0)) > 0)
    expected = set(seeds.tolist()) | set(torch.nonzero(reach2).flatten().tolist())
    assert set(nodes.tolist()) == expected
    with pytest.raises(ValueError, match="k"):
        k_hop(graph, seeds, -1)
    with pytest.raises(ValueError, match="seeds"):
        k_hop(graph, torch.tensor([2, 2]), 1)


def test_a_graph_marked_symmetric_is_its_own_transpose_and_its_gradients_are_unchanged():
    """Marked symmetric, a graph's transpose is itself, spmm's backward reads no permutation,
    and every gradient (spmm's in x and in the values, sddmm's in both sides) equals the one of
    the same graph unmarked; transpose_perm is each entry's mirror, and other values put on the
    marked structure get a transpose of their own."""
    from sparsegnn.ops import sddmm, spmm

    gen = torch.Generator().manual_seed(0)
    ei = torch.randint(0, 30, (2, 120), generator=gen)
    ei = torch.cat([ei, ei.flip(0)], 1)
    normed = Graph.from_edge_index(ei, 30).gcn_norm()
    plain = normed.with_value(normed.value.double())
    marked = Graph(plain.rowptr, plain.col, plain.value, validate=False).mark_symmetric()
    assert marked.marked_symmetric and not plain.marked_symmetric and marked.transpose() is marked
    torch.testing.assert_close(marked.to_dense(), marked.to_dense().T, rtol=0, atol=0)
    x = torch.randn(30, 5, dtype=torch.float64, generator=gen)
    for graph in (plain, marked):
        xs = x.clone().requires_grad_()
        value = graph.value.clone().requires_grad_()
        weighted = Graph(graph.rowptr, graph.col, value, validate=False)
        if graph.marked_symmetric:
            weighted.mark_symmetric()
        (spmm(weighted, xs) ** 2).sum().backward()
        a, b = x.clone().requires_grad_(), (2 * x).clone().requires_grad_()
        (sddmm(graph, a, b) ** 2).sum().backward()
        if graph is plain:
            want = (xs.grad, value.grad, a.grad, b.grad)
        else:
            for got, expected in zip((xs.grad, value.grad, a.grad, b.grad), want):
                torch.testing.assert_close(got, expected)
    assert torch.equal(marked.transpose_perm(), plain.transpose_perm())
    other = marked.with_value(torch.rand(marked.nnz, dtype=torch.float64, generator=gen))
    assert not other.marked_symmetric
    torch.testing.assert_close(other.transpose().to_dense(), other.to_dense().T)
    with pytest.raises(ValueError, match="mark_symmetric"):
        Graph(torch.tensor([0, 1]), torch.tensor([2]), None, 3).mark_symmetric()


def test_with_value_shares_the_transpose_and_tags():
    graph = _random_graph()
    t = graph.transpose()
    other = graph.with_value(torch.rand(graph.nnz), norm="saint")
    assert other.norm == "saint" and other.transpose().rowptr is t.rowptr
    torch.testing.assert_close(other.transpose().to_dense(), other.to_dense().T)
    assert graph.gcn_norm().norm == "gcn" and graph.gcn_norm().to("cpu").norm == "gcn"
