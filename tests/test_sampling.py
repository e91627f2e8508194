"""The samplers of ``sparsegnn.sampling``: their invariants, their equivalence with full-batch
training in the limit cases, GraphSAINT's estimators (statistical bounds at a fixed seed),
determinism per seed, bad arguments, the on-disk partition cache and ``sparsegnn train
--method``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sparsegnn.cli import main
from sparsegnn import Graph
from sparsegnn.data import sbm
from sparsegnn.graph import k_hop, subgraph
from sparsegnn.nn import GCN, SAGE
from sparsegnn.ops import spmm
from sparsegnn.sampling import (
    ClusterGCN,
    GraphSAINTEdgeSampler,
    GraphSAINTNodeSampler,
    GraphSAINTRandomWalkSampler,
    NeighborSampling,
    ShaDowKHop,
    cached_partition,
    diag_enhanced,
    make_method,
)
from sparsegnn.graph.kernels import sort_rows
from sparsegnn.sampling.common import entry_records, gcn_normalised, rng
from sparsegnn.train import FullBatch, Method, batch_loss, fit_recipe, recipe

from conftest import threads


@pytest.fixture(scope="module")
def data():
    return sbm(300, 3, 6.0, num_features=8, seed=0)


@pytest.fixture(scope="module")
def half_mask(data):
    """Half of the nodes in training, so the training graph keeps many edges."""
    mask = torch.zeros(data.num_nodes, dtype=torch.bool)
    mask[torch.randperm(data.num_nodes, generator=torch.Generator().manual_seed(1))[: data.num_nodes // 2]] = True
    return mask


def _entries(graph, drop_loops=True):
    """The (row, col) pairs of a graph as a set."""
    row, col = graph.row_index().tolist(), graph.col.long().tolist()
    return {(r, c) for r, c in zip(row, col) if not (drop_loops and r == c)}


def _induced(graph, nodes):
    """Brute force: the entries of ``graph`` between ``nodes`` (no self loops), renumbered by
    position in ``nodes``."""
    local = {int(v): i for i, v in enumerate(nodes)}
    return {(local[r], local[c]) for r, c in _entries(graph) if r in local and c in local}


def _assert_same_graph(got, want):
    assert torch.equal(got.rowptr, want.rowptr) and torch.equal(got.col.long(), want.col.long())
    torch.testing.assert_close(got.value, want.value)
    assert got.norm == want.norm


# ---------------------------------------------------------------------------- ClusterGCN
def test_cluster_parts_cover_every_node_once_and_batches_hold_the_induced_edges(data):
    method = ClusterGCN(data.x, data.graph, data.y, data.train_mask, num_parts=8, batch_size=3)
    part = method.partition
    assert torch.equal(torch.sort(part.perm).values, torch.arange(data.num_nodes))
    assert int(part.sizes().sum()) == data.num_nodes and part.num_parts == 8
    seen = []
    for batch in method.batches(0):
        nodes = batch.node_ids
        assert nodes.unique().numel() == nodes.numel()
        assert set(part.part[nodes].tolist()) <= set(range(8))
        for p in part.part[nodes].unique().tolist():  # whole parts only
            assert set(part.nodes(p).tolist()) <= set(nodes.tolist())
        assert _entries(batch.graph) == _induced(data.graph, nodes)
        _assert_same_graph(batch.graph, subgraph(data.graph, nodes).graph.gcn_norm())
        assert batch.graph.marked_symmetric  # the SBM is undirected: its batches are their own transpose
        torch.testing.assert_close(batch.graph.to_dense(), batch.graph.to_dense().T, rtol=0, atol=0)
        assert torch.equal(batch.y, data.y[nodes[batch.loss_rows]])
        assert bool(data.train_mask[nodes[batch.loss_rows]].all())
        assert int(data.train_mask[nodes].sum()) == batch.loss_rows.numel()
        seen.append(nodes)
    covered = torch.cat(seen)
    assert covered.unique().numel() == covered.numel()  # no node twice in an epoch
    assert set(data.train_mask.nonzero().flatten().tolist()) <= set(covered.tolist())


def test_compiled_gcn_normalisation_keeps_loops_weights_and_empty_rows():
    row = torch.tensor([0, 0, 1, 1, 2, 3, 3])
    col = torch.tensor([0, 2, 0, 3, 1, 1, 3])  # loops on 0 and 3 (weights kept), none on 1 and 2
    value = torch.tensor([0.5, 2.0, 1.5, 1.0, 3.0, 0.25, 4.0])
    graph = Graph.from_coo(row, col, value, 5, 5)  # node 4: an empty row
    got = gcn_normalised(graph.rowptr.numpy(), graph.col.long().numpy(), graph.value)
    _assert_same_graph(got, graph.gcn_norm())
    _assert_same_graph(gcn_normalised(graph.rowptr.numpy(), graph.col.long().numpy(), None),
                       graph.with_value(None).gcn_norm())


def test_neighbor_blocks_are_prefixes_and_need_a_model_of_one_layer_per_hop(data):
    """Block i is the square graph's first k_{L-1-i} rows over its first k_{L-i} columns; a
    model with another depth gets the square graph; a list of the wrong length is refused."""
    method = NeighborSampling(data.x, data.graph, data.y, data.train_mask, num_neighbors=[3, 2], batch_size=10)
    assert not method.trim  # by default, blocks once a model that takes them is bound
    square = NeighborSampling(data.x, data.graph, data.y, data.train_mask, num_neighbors=[3, 2], batch_size=10,
                              trim=False)
    model = GCN(8, 16, 3)
    method.bind(model)
    square.bind(model)
    assert method.trim and not square.trim
    for blocks, batch in zip((b.graph for b in method.batches(0)), square.batches(0)):
        assert [g.num_cols for g in blocks] == [batch.x.size(0), blocks[0].num_nodes]
        dense = batch.graph.to_dense()
        for g in blocks:
            assert torch.equal(g.to_dense(), dense[: g.num_nodes, : g.num_cols])
            assert float(dense[: g.num_nodes, g.num_cols:].abs().sum()) == 0.0
    deep = GCN(8, 16, 3, num_layers=3)
    method.bind(deep)
    batch = next(iter(method.batches(0)))
    assert isinstance(batch.graph, Graph)
    with pytest.raises(ValueError, match="graph: expected one graph per layer"):
        model(batch.x, [batch.graph])


def test_distinct_sorted_is_numpy_unique():
    """The samplers' bit-set dedupe equals ``np.unique``: empty input, repeats, ids on word
    boundaries, a node count that is not a multiple of 64, a 2-D array, int32 ids."""
    from sparsegnn.sampling.kernels import distinct_sorted

    generator = np.random.default_rng(0)
    cases = [np.empty(0, np.int64), np.array([0, 63, 64, 127, 128, 199, 63, 0]),
             generator.integers(0, 200, (30, 3)), generator.integers(0, 200, 5000).astype(np.int32)]
    for values in cases:
        assert np.array_equal(distinct_sorted(values, 200), np.unique(values))


def test_cluster_with_one_part_is_full_batch(data):
    torch.manual_seed(0)
    model = GCN(8, 16, 3).eval()
    cluster = ClusterGCN(data.x, data.graph, data.y, data.train_mask, num_parts=1, batch_size=1)
    full = FullBatch(data.x, data.graph, data.y, data.train_mask)
    (batch,) = list(cluster.batches(0))
    (full_batch,) = list(full.batches(0))
    torch.testing.assert_close(cluster.loss(model, batch), full.loss(model, full_batch))
    torch.testing.assert_close(cluster.predict(model), full.predict(model))


def test_cluster_diagonal_enhancement_matches_its_formula(data):
    graph = diag_enhanced(data.graph, 0.5)
    a = torch.zeros(data.num_nodes, data.num_nodes)
    a[data.graph.row_index(), data.graph.col.long()] = 1.0
    a_tilde = (a + torch.eye(data.num_nodes)) / (a.sum(1, keepdim=True) + 1)
    expected = a_tilde + 0.5 * torch.diag(torch.diagonal(a_tilde))
    got = torch.zeros_like(a)
    got[graph.row_index(), graph.col.long()] = graph.value
    torch.testing.assert_close(got, expected)


# ---------------------------------------------------------------------------- neighbour sampling
@pytest.mark.parametrize("trim", [True, False])
@pytest.mark.parametrize("norm, model_class", [(None, SAGE), ("gcn", GCN)])
def test_neighbor_full_fanout_is_full_batch(data, norm, model_class, trim):
    """Fan-out -1 gives the seeds their full-batch outputs, from the square graph and from the
    hop-trimmed blocks (whose last block has the seeds' rows only)."""
    torch.manual_seed(0)
    model = model_class(8, 16, 3).eval()
    method = NeighborSampling(data.x, data.graph, data.y, data.train_mask, num_neighbors=[-1, -1],
                              batch_size=7, norm=norm, trim=trim)
    method.bind(model)
    full = model(data.x, data.graph)
    for batch in method.batches(0):
        if trim:
            assert isinstance(batch.graph, list) and batch.graph[-1].num_nodes == batch.loss_rows.numel()
        out = model(batch.x, batch.graph)[batch.loss_rows]
        seeds = batch.node_ids[: batch.loss_rows.numel()]
        torch.testing.assert_close(out, full[seeds], atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(batch.y, data.y[seeds])


def test_neighbor_fanouts_bound_the_sampled_rows(data):
    method = NeighborSampling(data.x, data.graph, data.y, data.train_mask, num_neighbors=[3, 2], batch_size=10)
    for batch in method.batches(0):
        nodes, graph = batch.node_ids, batch.graph
        degree = graph.in_degree()
        seeds = batch.loss_rows.numel()
        full_degree = data.graph.in_degree()[nodes]
        assert bool((degree[:seeds] == full_degree[:seeds].clamp(max=3)).all())
        assert _entries(graph) <= _induced(data.graph, nodes)  # only real edges
        assert int(degree[seeds:].max()) <= 2


# ---------------------------------------------------------------------------- GraphSAINT
def _saint(kind, data, mask, seed=0, coverage=200):
    if kind == "node":
        return GraphSAINTNodeSampler(data.x, data.graph, data.y, mask, batch_size=40, sample_coverage=coverage, seed=seed)
    if kind == "edge":
        return GraphSAINTEdgeSampler(data.x, data.graph, data.y, mask, batch_size=30, sample_coverage=coverage, seed=seed)
    return GraphSAINTRandomWalkSampler(data.x, data.graph, data.y, mask, batch_size=15, walk_length=2,
                                       sample_coverage=coverage, seed=seed)


@pytest.mark.parametrize("weight", [[0.0, 0.5, 0.1, 0.0, 0.3, 0.1], [1.0], [2.0, 2.0, 2.0], "power-law"])
def test_saint_draws_follow_the_sampler_probabilities(weight):
    from sparsegnn.sampling.saint import Draws

    if weight == "power-law":  # many buckets, weights over 4 orders of magnitude
        weight = 1.0 / np.arange(1, 2001) ** 1.2
    draws = Draws(torch.tensor(weight))
    prob = draws.prob
    assert np.isclose(prob.sum(), 1.0) and np.all(draws.accept <= 1.0)
    # the table's exact probabilities: bucket i keeps i w.p. accept[i], else gives alias[i]
    n = prob.size
    exact = draws.accept.astype(np.float64) / n
    np.add.at(exact, draws.alias, (1.0 - draws.accept.astype(np.float64)) / n)
    np.testing.assert_allclose(exact, prob, rtol=1e-6, atol=1e-12)
    k = 400_000
    counts = np.bincount(draws(k, np.random.default_rng(0)), minlength=n)
    sigma = np.sqrt(k * prob * (1 - prob))
    assert np.all(np.abs(counts - k * prob) <= 5 * sigma + 1e-9)  # and never a zero-probability index
    chi2 = float(((counts - k * prob) ** 2 / np.maximum(k * prob, 1e-300))[prob > 0].sum())
    dof = int((prob > 0).sum()) - 1
    assert chi2 <= dof + 5 * np.sqrt(2 * max(dof, 1))


@pytest.mark.parametrize("kind", ["node", "edge", "rw"])
def test_saint_inclusion_probabilities_match_monte_carlo(data, half_mask, kind):
    method = _saint(kind, data, half_mask)
    n = method.train_ids.numel()
    estimate = method.node_count / method.num_presampled
    draws = 1000
    generator = rng(123)
    freq = torch.zeros(n, dtype=torch.float64)
    for _ in range(draws):
        freq[method.sample_nodes(generator)] += 1
    freq /= draws
    p = (estimate + freq) / 2
    sigma = torch.sqrt(p * (1 - p) * (1 / method.num_presampled + 1 / draws)) + 1e-3
    assert float(((estimate - freq).abs() / sigma).max()) < 5.0


@pytest.mark.parametrize("kind", ["node", "edge", "rw"])
def test_saint_normalised_aggregation_and_loss_are_unbiased(data, half_mask, kind):
    """Given ``v`` in the batch, the batch's aggregation at ``v`` estimates the training graph's
    ``(Ã h)_v``: the Monte-Carlo mean over batches is within 5 standard errors of it at every
    entry and the z-scores centre on 0; without the ``1 / α`` correction they do not. The
    λ-weighted loss sum estimates the mean loss over training nodes."""
    method = _saint(kind, data, half_mask, coverage=1000)
    n = method.train_ids.numel()
    h = 0.5 + torch.rand(n, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    train_norm = method.train_graph.gcn_norm()  # Ã
    target = spmm(train_norm.with_value(train_norm.value.double(), norm="gcn"), h)
    loss_per_node = torch.rand(n, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    sums = {"corrected": [torch.zeros_like(h), torch.zeros_like(h)], "plain": [torch.zeros_like(h), torch.zeros_like(h)]}
    count, losses = torch.zeros(n, dtype=torch.float64), []
    generator = rng(7)
    for _ in range(500):
        nodes = method.sample_nodes(generator)
        batch = method.batch_of(nodes)
        raw = subgraph(train_norm, nodes).graph
        for key, graph in (("corrected", batch.graph), ("plain", raw)):
            out = spmm(graph.with_value(graph.value.double()), h[nodes])
            sums[key][0][nodes] += out
            sums[key][1][nodes] += out**2
        count[nodes] += 1
        losses.append(float((batch.loss_weight.double() * loss_per_node[nodes]).sum()))
    seen = count >= 10  # the edge sampler never draws a node without training-graph edges
    assert int(seen.sum()) > 0.8 * n
    z = {}
    for key, (total, squares) in sums.items():
        c = count[seen, None]
        mean = total[seen] / c
        stderr = ((squares[seen] / c - mean**2).clamp(min=0) / (c - 1)).sqrt() + 1e-9
        z[key] = (mean - target[seen]) / stderr
    assert float(z["corrected"].abs().max()) < 5.0
    assert abs(float(z["corrected"].mean())) < 0.25
    assert float(z["plain"].mean()) < -2.0  # uncorrected: entries are missing, the sum is short
    reachable = method.node_count > 0  # nodes the sampler can draw (all but the edge sampler's isolated ones)
    expected = float(loss_per_node[reachable].sum()) / n
    assert abs(np.mean(losses) - expected) < 0.03 * expected


def test_saint_batches_hold_training_nodes_only_with_weighted_sum_loss(data, half_mask):
    method = _saint("rw", data, half_mask)
    for batch in method.batches(0):
        assert bool(half_mask[batch.node_ids].all())
        assert batch.graph.norm == "saint"
        assert torch.equal(batch.loss_rows, torch.arange(batch.node_ids.numel()))
        assert batch.loss_weight.shape == (batch.node_ids.numel(),)
        assert _entries(batch.graph) == _induced(data.graph, batch.node_ids)


def test_saint_on_the_whole_graph_counts_training_nodes_only(data, half_mask):
    method = GraphSAINTRandomWalkSampler(data.x, data.graph, data.y, half_mask, batch_size=15, walk_length=2,
                                         sample_coverage=200, train_graph_only=False)
    loss_per_node = torch.rand(data.num_nodes, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    losses, outsiders = [], 0
    for epoch in range(40):
        for batch in method.batches(epoch):
            train_rows = half_mask[batch.node_ids].nonzero().flatten()
            assert torch.equal(batch.loss_rows, train_rows)
            assert torch.equal(batch.y, data.y[batch.node_ids[train_rows]])
            outsiders += int((~half_mask[batch.node_ids]).sum())
            losses.append(float((batch.loss_weight.double() * loss_per_node[batch.node_ids[train_rows]]).sum()))
    assert outsiders > 0  # other nodes enter the batches ...
    expected = float(loss_per_node[half_mask].mean())  # ... but the loss estimates the training mean
    assert abs(np.mean(losses) - expected) < 0.03 * expected


def test_random_walks_have_the_right_length_and_stay_on_edges(data, half_mask):
    method = GraphSAINTRandomWalkSampler(data.x, data.graph, data.y, half_mask, batch_size=50, walk_length=4,
                                         sample_coverage=1)
    walks = method.walks(rng(3))
    assert walks.shape == (50, 5)
    edges = _entries(method.train_graph)
    isolated = set((method.train_graph.in_degree() == 0).nonzero().flatten().tolist())
    for walk in walks.tolist():
        for u, v in zip(walk, walk[1:]):
            assert (u, v) in edges or (u == v and u in isolated)


# ---------------------------------------------------------------------------- ShaDow
def test_shadow_subgraph_is_the_k_hop_ball(data):
    method = ShaDowKHop(data.x, data.graph, data.y, data.train_mask, depth=2, num_neighbors=-1, batch_size=4)
    roots = torch.tensor([0, 5, 17, 5])  # a root twice: isolated copies
    nodes, nodeptr, (rowptr, col, value) = method.sample(roots, rng(0))
    union = Graph(torch.from_numpy(rowptr), torch.from_numpy(col), value)
    batch = method.batch_of(roots, rng(0))
    _assert_same_graph(batch.graph, union.gcn_norm())  # the compiled normalisation equals Graph.gcn_norm
    assert batch.graph.marked_symmetric  # of an undirected graph: its own transpose
    torch.testing.assert_close(batch.graph.to_dense(), batch.graph.to_dense().T, rtol=0, atol=0)
    assert nodeptr.numel() == 5
    for r, root in enumerate(roots.tolist()):
        block = nodes[nodeptr[r]:nodeptr[r + 1]]
        assert int(block[0]) == root
        ball, _ = k_hop(data.graph, torch.tensor([root]), 2)
        assert set(block.tolist()) == set(ball.tolist())
        lo, hi = int(nodeptr[r]), int(nodeptr[r + 1])
        rows = {(i - lo, c - lo) for i, c in _entries(union, drop_loops=False) if lo <= i < hi}
        assert all(lo <= c + lo < hi for _, c in rows)  # no entry leaves its copy
        assert rows == _induced(data.graph, block)


def test_shadow_batches_with_hub_rows_equal_those_scanned_in_full():
    """On a symmetric graph with hubs, ShaDow's batches (hub rows not scanned) equal those of a
    sampler that scans every row, entry for entry; weighted graphs scan every row."""
    graph = symmetric_multigraph(400, 3)
    x, y = torch.randn(400, 4), torch.randint(0, 3, (400,))
    mask = torch.ones(400, dtype=torch.bool)
    hubs = ShaDowKHop(x, graph, y, mask, depth=2, num_neighbors=3, batch_size=16, seed=1)
    assert hubs._hub_ratio > 0
    scanning = ShaDowKHop(x, graph, y, mask, depth=2, num_neighbors=3, batch_size=16, seed=1)
    scanning._hub_ratio = 0
    for got, want in zip(hubs.batches(0), scanning.batches(0)):
        _assert_same_graph(got.graph, want.graph)
        assert torch.equal(got.node_ids, want.node_ids) and torch.equal(got.x, want.x)
    weighted = graph.with_value(torch.rand(graph.nnz))
    shadow = ShaDowKHop(x, weighted, y, mask)
    assert shadow._hub_ratio == 0 and not next(iter(shadow.batches(0))).graph.marked_symmetric


def test_shadow_sampled_subgraph_lies_in_the_ball_and_reads_out_roots(data):
    method = ShaDowKHop(data.x, data.graph, data.y, data.train_mask, depth=2, num_neighbors=2, batch_size=8,
                        readout="root+mean")
    batch = next(iter(method.batches(0)))
    roots = batch.node_ids[batch.loss_rows]
    starts = batch.loss_rows.tolist() + [batch.node_ids.numel()]
    for r, root in enumerate(roots.tolist()):
        ball, _ = k_hop(data.graph, torch.tensor([root]), 2)
        block = batch.node_ids[starts[r]:starts[r + 1]]
        assert set(block.tolist()) <= set(ball.tolist()) and block.numel() <= 1 + 2 + 4
    model = GCN(8, 16, 3, num_layers=3)  # more layers than hops
    model.train()
    loss = method.loss(model, batch)
    assert loss.ndim == 0 and torch.isfinite(loss)
    model.eval()
    first = method.predict(model)
    assert first.shape == (data.num_nodes, 3)
    torch.testing.assert_close(method.predict(model), first)  # eval: fixed seed, no dropout


def _exact_ppr(graph, root, alpha):
    """Dense ``pi = alpha (I - (1 - alpha) A D^-1)^-1 e_root``: the fixed point of the push."""
    n = graph.num_nodes
    dense = torch.zeros(n, n, dtype=torch.float64)
    dense[graph.row_index(), graph.col.long()] = 1.0
    walk = (dense / dense.sum(1, keepdim=True).clamp(min=1)).t()  # column u spreads evenly to u's neighbours
    e = torch.zeros(n, dtype=torch.float64)
    e[root] = 1.0
    return alpha * torch.linalg.solve(torch.eye(n, dtype=torch.float64) - (1 - alpha) * walk, e)


def test_shadow_ppr_sets_are_the_top_k_of_personalised_pagerank(data):
    method = ShaDowKHop(data.x, data.graph, data.y, data.train_mask, scope="ppr", top_k=6, alpha=0.25,
                        eps=1e-11, batch_size=4)
    roots = torch.tensor([0, 7, 42])
    nodes, nodeptr, _ = method.sample(roots, rng(0))
    for r, root in enumerate(roots.tolist()):
        block = nodes[nodeptr[r]:nodeptr[r + 1]].tolist()
        pi = _exact_ppr(data.graph, root, 0.25)
        pi[root] = float("inf")
        expected = pi.argsort(descending=True, stable=True)[:6].tolist()
        assert block[0] == root and set(block) == set(expected)
    coarse = ShaDowKHop(data.x, data.graph, data.y, data.train_mask, scope="ppr", top_k=200, batch_size=4)
    nodes, nodeptr, _ = coarse.sample(roots, rng(0))
    ball, _ = k_hop(data.graph, torch.tensor([0]), 300)
    assert int(nodes[0]) == 0 and set(nodes[: nodeptr[1]].tolist()) <= set(ball.tolist())
    assert torch.equal(coarse.sample(roots, rng(5))[0], nodes)  # deterministic


# ---------------------------------------------------------------------------- determinism, arguments
METHOD_OPTIONS = {
    "cluster": {"num_parts": 8, "batch_size": 3},
    "saint-node": {"batch_size": 40, "sample_coverage": 5},
    "saint-edge": {"batch_size": 30, "sample_coverage": 5},
    "saint-rw": {"batch_size": 10, "walk_length": 3, "sample_coverage": 5},
    "shadow": {"depth": 2, "num_neighbors": 3, "batch_size": 16},
    "shadow-ppr": {"top_k": 8, "batch_size": 16},
    "neighbor": {"num_neighbors": [4, 3], "batch_size": 16},
}


def _signature(method, epoch):
    return [(b.node_ids.tolist(), b.graph.rowptr.tolist(), b.graph.col.tolist()) for b in method.batches(epoch)]


@pytest.mark.parametrize("name", sorted(METHOD_OPTIONS))
def test_batches_are_deterministic_per_seed_and_epoch(data, half_mask, name):
    def build(seed):
        return make_method(name, data.x, data.graph, data.y, half_mask, seed=seed, **METHOD_OPTIONS[name])

    first, again, other = build(0), build(0), build(1)
    assert _signature(first, 0) == _signature(again, 0)
    assert _signature(first, 1) == _signature(again, 1)
    assert _signature(first, 0) != _signature(first, 1)
    assert _signature(first, 0) != _signature(other, 0)


@pytest.mark.parametrize("name", sorted(METHOD_OPTIONS))
def test_worker_processes_and_rank_shards_make_the_same_batches(data, half_mask, name):
    def build(**kwargs):
        return make_method(name, data.x, data.graph, data.y, half_mask, seed=3, **METHOD_OPTIONS[name], **kwargs)

    alone = _signature(build(), 2)
    assert _signature(build(num_workers=2), 2) == alone
    shards = []
    for rank in range(3):
        method = build()
        method.shard(rank, 3)
        shards.append(_signature(method, 2))
    assert sorted(sum(shards, [])) == sorted(alone)  # disjoint shares that cover the epoch
    assert all(shards)


def test_shard_and_workers_arguments_are_checked(data):
    with pytest.raises(ValueError, match="num_workers"):
        make_method("cluster", data.x, data.graph, data.y, data.train_mask, num_workers=-1, **METHOD_OPTIONS["cluster"])
    method = make_method("cluster", data.x, data.graph, data.y, data.train_mask, **METHOD_OPTIONS["cluster"])
    with pytest.raises(ValueError, match="rank"):
        method.shard(2, 2)
    with pytest.raises(ValueError, match="cannot be split"):
        FullBatch(data.x, data.graph, data.y, data.train_mask).shard(0, 2)


@pytest.mark.parametrize("name", ["saint-rw", "neighbor"])
def test_training_through_the_loop_is_deterministic_per_seed(data, half_mask, name):
    model = "sage" if name == "neighbor" else "gcn"
    r = recipe(model, epochs=2)

    def losses(seed):
        def method(x, s):
            return make_method(name, x, data.graph, data.y, half_mask, seed=s, **METHOD_OPTIONS[name])

        return [rec.loss for rec in fit_recipe(model, data, r, seed, method=method).records]

    assert losses(0) == losses(0)
    assert losses(0) != losses(1)


@pytest.mark.parametrize(
    "name, options, argument",
    [
        ("cluster", {"num_parts": 301}, "num_parts"),
        ("cluster", {"num_parts": 4, "batch_size": 0}, "batch_size"),
        ("saint-rw", {"walk_length": 0}, "walk_length"),
        ("saint-node", {"batch_size": 0}, "batch_size"),
        ("saint-rw", {"sample_coverage": 0}, "sample_coverage"),
        ("neighbor", {"num_neighbors": [10, -2]}, "num_neighbors"),
        ("neighbor", {"num_neighbors": [0]}, "num_neighbors"),
        ("shadow", {"num_neighbors": -3}, "num_neighbors"),
        ("shadow", {"depth": 0}, "depth"),
        ("shadow-ppr", {"top_k": 0}, "top_k"),
        ("shadow-ppr", {"alpha": 1.0}, "alpha"),
        ("shadow-ppr", {"eps": 0.0}, "eps"),
        ("shadow", {"scope": "ball"}, "scope"),
        ("neighbor", {"batch_size": -1}, "batch_size"),
    ],
)
def test_bad_arguments_name_the_argument(data, name, options, argument):
    with pytest.raises(ValueError, match=argument):
        make_method(name, data.x, data.graph, data.y, data.train_mask, **options)


@pytest.mark.parametrize("name", sorted(METHOD_OPTIONS))
def test_a_mask_without_training_node_is_refused(data, name):
    with pytest.raises(ValueError, match="train_mask"):
        make_method(name, data.x, data.graph, data.y, torch.zeros(data.num_nodes, dtype=torch.bool),
                    **METHOD_OPTIONS[name])


# ---------------------------------------------------------------------------- partition cache
def test_partition_cache_round_trip_and_damaged_or_foreign_files(data, tmp_path):
    first = cached_partition(data.graph, 5, tmp_path)
    (path,) = list(tmp_path.iterdir())
    again = cached_partition(data.graph, 5, tmp_path)
    assert torch.equal(first.part, again.part) and torch.equal(first.partptr, again.partptr)
    other = sbm(300, 3, 6.0, num_features=8, seed=1)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    cached_partition(other.graph, 5, foreign)
    (other_path,) = list(foreign.iterdir())
    path.write_bytes(other_path.read_bytes())  # another graph's parts under this graph's name
    with pytest.raises(ValueError, match=f"{path.name}.*another graph"):
        cached_partition(data.graph, 5, tmp_path)
    path.write_bytes(other_path.read_bytes()[:100])  # truncated
    with pytest.raises(ValueError, match=f"{path.name}.*damaged"):
        cached_partition(data.graph, 5, tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


# ---------------------------------------------------------------------------- sparsegnn train --method
def test_train_cli_runs_a_sampled_method(tmp_path, capsys):
    out = tmp_path / "run.json"
    code = main(["train", "--dataset", "sbm:300,3,6", "--method", "cluster", "--num-parts", "6",
                 "--batch-size", "2", "--epochs", "3", "--quiet", "--json", str(out)])
    assert code == 0
    payload = json.loads(out.read_text())
    assert payload["config"]["method"] == "cluster" and payload["config"]["num_parts"] == 6
    assert len(payload["epochs"]) == 3
    assert all(e["sample_time"] > 0 and e["compute_time"] > 0 for e in payload["epochs"])
    code = main(["train", "--dataset", "sbm:300,3,6", "--method", "neighbor", "--num-neighbors", "5,-1",
                 "--epochs", "2", "--quiet", "--model", "sage"])
    assert code == 0
    assert main(["train", "--dataset", "sbm:300,3,6", "--method", "neighbor", "--num-neighbors", "5",
                 "--epochs", "1", "--quiet"]) == 2  # one fan-out for a two-layer model
    assert "--num-neighbors" in capsys.readouterr().err
    assert main(["train", "--dataset", "sbm:300,3,6", "--method", "shadow-ppr", "--top-k", "8", "--epochs", "1",
                 "--quiet"]) == 0
    assert main(["train", "--dataset", "sbm:300,3,6", "--method", "saint-rw", "--saint-graph", "whole",
                 "--batch-size", "20", "--sample-coverage", "5", "--epochs", "1", "--quiet", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["config"]["train_graph_only"] is False
    capsys.readouterr()
    for wrong in (["--method", "cluster", "--saint-graph", "whole"], ["--saint-graph", "train"]):
        assert main(["train", "--dataset", "sbm:300,3,6", *wrong, "--epochs", "1"]) == 2
        assert "--saint-graph" in capsys.readouterr().err


def test_sampler_steps_aggregate_first_equal_pyg_order(data):
    """A sampler's training step runs its GCN layers aggregating first on the square batch graph
    where F_in < F_out: the same loss and gradients as PyG's order up to rounding, and the first
    layer's aggregation of features that need no gradient records no backward."""
    from sparsegnn.nn.gcn_conv import GCNConv, aggregate_first

    cluster = ClusterGCN(data.x, data.graph, data.y, data.train_mask, num_parts=2, batch_size=1)
    batch = next(iter(cluster.batches(0)))
    grads = []
    assert cluster.aggregates_first and not Method.aggregates_first
    for step in (lambda m: cluster.loss(m, batch), lambda m: batch_loss(m(batch.x, batch.graph), batch)):
        torch.manual_seed(0)
        model = GCN(8, 16, 3).eval()
        loss = step(model)
        loss.backward()
        grads.append([loss.detach()] + [p.grad for p in model.parameters()])
    for ours, pyg in zip(*grads):
        torch.testing.assert_close(ours, pyg, atol=1e-6, rtol=1e-5)
    def backward_nodes(tensor):
        seen, todo = [], [tensor.grad_fn]
        while todo:
            node = todo.pop()
            if node is not None:
                seen.append(node.name())
                todo.extend(next_node for next_node, _ in node.next_functions)
        return seen

    conv = GCNConv(8, 16)
    assert any("spmm" in name for name in backward_nodes(conv(batch.x, batch.graph)))
    with aggregate_first(square=True):
        assert conv.aggregates_first(batch.x, batch.graph)
        assert not any("spmm" in name for name in backward_nodes(conv(batch.x, batch.graph)))
    with aggregate_first():
        assert not conv.aggregates_first(batch.x, batch.graph)  # rectangular graphs only


def induced_union(rowptr, col, nodes, nodeptr, scratch):
    """``kernels.induced_union`` with positions, through a fresh workspace."""
    from sparsegnn.sampling import kernels
    from sparsegnn.sampling.common import Workspace

    return Workspace(col.dtype, np.int64).run(kernels.induced_union, rowptr, col, nodes, nodeptr, scratch, True, 0)


def symmetric_multigraph(num_nodes: int, seed: int) -> Graph:
    """A graph equal to its transpose with hubs (nodes 0-2 joined to most nodes), repeated
    edges and some loops, int32 columns."""
    gen = torch.Generator().manual_seed(seed)
    row = torch.randint(0, num_nodes, (4 * num_nodes,), generator=gen)
    col = torch.randint(0, num_nodes, (4 * num_nodes,), generator=gen)
    hubs = torch.arange(3).repeat_interleave(num_nodes // 2)
    spokes = torch.randint(3, num_nodes, (hubs.numel(),), generator=gen)
    row, col = row[row != col], col[row != col]
    loops = torch.arange(0, num_nodes, 7)  # once each
    row, col = torch.cat([row, col, hubs, spokes, row[:50], col[:50], loops]), torch.cat(
        [col, row, spokes, hubs, col[:50], row[:50], loops])
    return Graph.from_coo(row, col, None, num_nodes, num_nodes).to_index_dtype(torch.int32)


@pytest.mark.parametrize("hub_ratio", [0, 1, 4])
@pytest.mark.parametrize("with_position", [True, False])
def test_induced_union_is_each_groups_induced_subgraph_and_reuses_its_buffers(hub_ratio, with_position):
    """Against a reference count per pair (multiplicities, loops, local columns ascending,
    positions), hub rows (transposes and binary searches) or not; with the buffers too small
    (the count, nothing done); the workspace growing once and then reused."""
    from sparsegnn.graph.kernels import symmetric_ascending
    from sparsegnn.sampling import kernels
    from sparsegnn.sampling.common import Workspace

    graph = symmetric_multigraph(300, 5)
    rowptr, col = graph.rowptr.numpy(), graph.col.numpy()
    assert symmetric_ascending(rowptr, col)
    pairs = np.zeros((300, 300), np.int64)
    np.add.at(pairs, (graph.row_index().numpy(), col), 1)
    scratch = kernels.node_map(graph.num_nodes)
    gen = np.random.default_rng(0)
    groups = [gen.choice(300, size, replace=False) for size in (1, 7, 40, 120)]
    groups[1][:2] = [0, 1]  # two hubs in one group
    nodes, nodeptr = np.concatenate(groups), np.cumsum([0] + [g.size for g in groups])
    work = Workspace(col.dtype, np.int64)
    used = (True, with_position)
    args = (rowptr, col, nodes, nodeptr, scratch, with_position, hub_ratio)
    got_ptr, got_col, got_pos = work.run(kernels.induced_union, *args, used=used)
    assert got_col.dtype == col.dtype and (scratch == -1).all()
    for g, group in enumerate(groups):
        for i, u in enumerate(group):
            row = nodeptr[g] + i
            cols = got_col[got_ptr[row]:got_ptr[row + 1]]
            want = [nodeptr[g] + j for j, v in enumerate(group) for _ in range(pairs[u, v])]
            assert cols.tolist() == sorted(want)
            if with_position:
                positions = got_pos[got_ptr[row]:got_ptr[row + 1]]
                assert np.array_equal(col[positions], nodes[cols]) and len(set(positions)) == len(positions)
    assert with_position or got_pos.size == 0
    buffers = work.buffers
    assert buffers[0].size > 0 and buffers[1].size == (buffers[0].size if with_position else 0)
    again = work.run(kernels.induced_union, *args, used=used)
    assert work.buffers is buffers and all(np.array_equal(a, b) for a, b in zip(again, (got_ptr, got_col, got_pos)))
    count, *_ = kernels.induced_union(*args, *buffers)
    assert buffers[0].size == 2 * count
    count, *nothing = kernels.induced_union(*args, buffers[0][:count - 1], buffers[1])
    assert nothing[0].tolist() == [0] and nothing[1].size == nothing[2].size == 0
    if hub_ratio and not with_position:  # hub rows are not scanned
        assert count < int((rowptr[nodes + 1] - rowptr[nodes]).sum())


def test_symmetric_ascending():
    from sparsegnn.graph.kernels import symmetric_ascending

    graph = symmetric_multigraph(50, 1)
    rowptr, col = graph.rowptr.numpy(), graph.col.numpy()
    assert symmetric_ascending(rowptr, col)
    assert not symmetric_ascending(rowptr, np.where(np.arange(col.size) == 3, (col + 1) % 50, col).astype(col.dtype))
    one_way = Graph.from_coo(torch.tensor([0, 1]), torch.tensor([1, 2]), None, 3, 3)
    assert not symmetric_ascending(one_way.rowptr.numpy(), one_way.col.numpy())
    unsorted = np.array([1, 0, 0], np.int64)  # row 0 holds 1 then 0
    assert not symmetric_ascending(np.array([0, 2, 3]), unsorted)


def test_induced_parts_of_the_renumbered_graph_equal_the_induced_union():
    """ClusterGCN's kernel on the graph renumbered part by part gives the induced subgraph of
    the original graph's nodes, entry for entry (local columns, their order, the weights)."""
    from sparsegnn.graph import partition
    from sparsegnn.sampling import kernels

    data = sbm(400, 4, 6.0, num_features=4, seed=2)
    graph = data.graph.with_value(torch.rand(data.graph.nnz, generator=torch.Generator().manual_seed(0)))
    part = partition(graph, 12)
    ordered = graph.permute(part.perm)
    ordered_col = ordered.col.numpy().copy()
    ordered_value = ordered.value[torch.from_numpy(sort_rows(ordered.rowptr.numpy(), ordered_col))]
    part_of = np.repeat(np.arange(12, dtype=np.int16), part.sizes().numpy())
    base = np.full(12, -1, np.int64)
    scratch = kernels.node_map(graph.num_nodes)
    for parts in (torch.tensor([0, 3, 7]), torch.tensor([11]), torch.arange(12)):
        nodes = torch.cat([part.nodes(int(p)) for p in parts])
        want = induced_union(graph.rowptr.numpy(), graph.col.numpy(), nodes.numpy(), np.array([0, nodes.numel()]),
                             scratch)
        for with_position in (True, False):
            got = kernels.induced_parts(ordered.rowptr.numpy(), ordered_col, part.partptr.numpy(), parts.numpy(),
                                        part_of[ordered_col], base, with_position)
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
            if with_position:
                assert torch.equal(ordered_value[torch.from_numpy(got[2])], graph.value[torch.from_numpy(want[2])])
            else:
                assert got[2].size == 0
            assert (base == -1).all() and (scratch == -1).all()


@pytest.mark.parametrize("with_loops", [False, True])
def test_part_blocks_and_their_gcn_batches_equal_cutting_then_normalising(with_loops):
    """ClusterGCN's blocks by pair of parts hold every entry once, in order; its batch kernel
    gives gcn_normalised's batch graph bit for bit, rows that hold their loop and rows that get
    one alike."""
    from sparsegnn.graph import partition
    from sparsegnn.sampling import kernels

    graph = sbm(400, 4, 6.0, num_features=4, seed=2).graph
    if with_loops:  # a third of the nodes keep a loop of their own
        nodes = torch.arange(0, 400, 3)
        row = torch.cat([graph.row_index(), nodes])
        graph = Graph.from_coo(row, torch.cat([graph.col.long(), nodes]), None, 400, 400)
    part = partition(graph, 12)
    ordered = graph.permute(part.perm).to_index_dtype(torch.int32)
    rowptr, col = ordered.rowptr.numpy(), ordered.col.numpy().copy()
    sort_rows(rowptr, col)
    loops = kernels.self_loops(rowptr, col)
    assert loops.max() == int(with_loops)
    part_of = np.repeat(np.arange(12, dtype=np.int16), part.sizes().numpy())[col]
    base = np.full(12, -1, np.int64)
    partptr = part.partptr.numpy()
    blocks = kernels.part_blocks(rowptr, col, partptr, part_of, np.empty(0, np.int16))
    blockptr, block_part, entryptr, entry_row, entry_col, intra, below = blocks
    assert entryptr[-1] == col.size and entry_row.dtype == entry_col.dtype == np.int16
    for p in range(12):  # each part's blocks: ascending target parts, their entries in CSR order
        targets = block_part[blockptr[p]:blockptr[p + 1]]
        assert (np.diff(targets) > 0).all()
        got = [(partptr[p] + entry_row[e], partptr[q] + entry_col[e])
               for b, q in zip(range(blockptr[p], blockptr[p + 1]), targets) for e in range(entryptr[b], entryptr[b + 1])]
        rows = range(partptr[p], partptr[p + 1])
        entries = [(r, int(c)) for r in rows for c in col[rowptr[r]:rowptr[r + 1]]]
        want = sorted(entries, key=lambda rc: (np.searchsorted(partptr, rc[1], "right"), rc))  # by target part
        assert got == want
        for r in rows:  # entries into the row's own part, and those left of its diagonal
            own = [c for c in col[rowptr[r]:rowptr[r + 1]] if partptr[p] <= c < partptr[p + 1]]
            assert intra[r] == len(own) and below[r] == sum(c < r for c in own)
    for parts in (np.array([0, 3, 7]), np.array([11]), np.arange(12)):
        out_ptr, out_col, _ = kernels.induced_parts(rowptr, col, partptr, parts, part_of, base, False)
        want = gcn_normalised(out_ptr, out_col, None)
        got = kernels.block_batch_gcn(*blocks, partptr, parts, base, loops, np.empty(0, col.dtype))
        assert np.array_equal(got[0], want.rowptr.numpy()) and np.array_equal(got[1], want.col.numpy())
        assert np.array_equal(got[2], want.value.numpy())  # bit for bit
        assert (base == -1).all()


def test_part_nodes_are_the_parts_nodes_with_their_training_rows():
    from sparsegnn.graph import partition
    from sparsegnn.sampling import kernels

    data = sbm(300, 3, 5.0, num_features=2, seed=4)
    part = partition(data.graph, 9)
    mask = torch.rand(300, generator=torch.Generator().manual_seed(1)) < 0.3
    parts = torch.tensor([1, 4, 8])
    nodes, loss_rows, y = kernels.part_nodes(part.perm.numpy(), part.partptr.numpy(), parts.numpy(),
                                             mask[part.perm].numpy(), data.y[part.perm].numpy())
    want = torch.cat([part.nodes(int(p)) for p in parts])
    assert torch.equal(torch.from_numpy(nodes), want)
    assert torch.equal(torch.from_numpy(loss_rows), mask[want].nonzero().flatten())
    assert torch.equal(torch.from_numpy(y), data.y[want[mask[want]]])


def test_sort_rows_sorts_every_row_and_says_where_entries_came_from():
    from sparsegnn.graph.kernels import sort_rows

    rowptr = np.array([0, 3, 3, 7], np.int64)
    col = np.array([2, 0, 1, 5, 3, 3, 4], np.int32)
    before = col.copy()
    pos = sort_rows(rowptr, col)
    assert col.tolist() == [0, 1, 2, 3, 3, 4, 5]
    assert np.array_equal(before[pos], col) and pos[3:5].tolist() == [4, 5]  # stable


@pytest.mark.parametrize("value_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("col_dtype", [torch.int32, torch.int64])
def test_induced_rows_equal_the_induced_union(col_dtype, value_dtype):
    """GraphSAINT's branch-free kernel (ascending nodes, local ids by rank) over records of
    (column, value) gives induced_union's CSR, entry for entry, in one piece and in pieces
    joined."""
    from sparsegnn.sampling import kernels

    def induced_ascending(rowptr, col, value, nodes, num_nodes, with_position, *work):
        starts, ends = kernels.row_spans(rowptr, nodes)
        member, rank = kernels.member_ranks(nodes, num_nodes)
        scanned, *out = kernels.induced_rows(entry_records(col, value), starts, ends, member, rank, with_position,
                                             *work)
        return (scanned, *(a.copy() for a in out))

    data = sbm(500, 4, 8.0, num_features=4, seed=3)
    graph = data.graph.to_index_dtype(col_dtype)
    rowptr, col = graph.rowptr.numpy(), graph.col.numpy()
    value = np.random.default_rng(0).random(graph.nnz).astype(value_dtype)
    scratch = kernels.node_map(graph.num_nodes)
    gen = torch.Generator().manual_seed(0)
    for size in (1, 37, 250, 500):
        nodes = torch.randperm(500, generator=gen)[:size].sort().values.numpy()
        want = induced_union(rowptr, col, nodes, np.array([0, size]), scratch)
        scanned = int((rowptr[nodes + 1] - rowptr[nodes]).sum())
        work = (np.empty(scanned, col.dtype), np.empty(scanned, value.dtype), np.empty(scanned, np.int64))
        count, *got = induced_ascending(rowptr, col, value, nodes, 500, True, *work)
        assert count == scanned
        for a, b in zip(got, want):
            assert np.array_equal(a, b)
        assert np.array_equal(got[3], value[want[2]])  # the values of the kept entries
        if size > 1:  # two pieces of the rows, joined in order, are the one
            starts, ends = kernels.row_spans(rowptr, nodes)
            member, rank = kernels.member_ranks(nodes, 500)
            a, b = (kernels.induced_rows(entry_records(col, value), starts[span], ends[span], member, rank, True,
                                         *(np.empty(scanned, w.dtype) for w in work))
                    for span in (slice(0, size // 2), slice(size // 2, size)))
            assert a[0] + b[0] == scanned
            assert np.array_equal(np.concatenate([a[1], b[1][1:] + a[1][-1]]), got[0])
            for j in (2, 3, 4):
                assert np.array_equal(np.concatenate([a[j], b[j]]), got[j - 1])
        assert (scratch == -1).all()
        _, *unplaced = induced_ascending(rowptr, col, value, nodes, 500, False, *work[:2], work[2][:0])
        assert unplaced[2].size == 0  # no positions asked for; the rest the same
        for i in (0, 1, 3):
            assert np.array_equal(unplaced[i], got[i])
        if scanned:  # buffers too small: the count, and nothing else done
            count, *nothing = induced_ascending(rowptr, col, value, nodes, 500, True, *(w[:-1] for w in work))
            assert count == scanned and nothing[0].tolist() == [0] and nothing[1].size == nothing[3].size == 0
    for with_position in (True, False):
        _, *empty = induced_ascending(rowptr, col, value, np.zeros(0, np.int64), 500, with_position,
                                              *(w[:0] for w in work))
        assert empty[0].tolist() == [0] and empty[1].size == empty[2].size == empty[3].size == 0


def test_training_rows_are_the_training_nodes_with_their_labels_and_weights():
    from sparsegnn.sampling import kernels

    gen = torch.Generator().manual_seed(5)
    is_train = torch.rand(200, generator=gen) < 0.4
    labels, weights = torch.randint(0, 7, (1000,), generator=gen), torch.rand(200, generator=gen)
    nodes = torch.randperm(200, generator=gen)[:90].sort().values
    ids = nodes * 5  # global ids differ from the sampled graph's
    records = kernels.loss_records(is_train.numpy(), labels[torch.arange(200) * 5].numpy(), weights.numpy())
    rows, y, weight = kernels.training_rows(nodes.numpy(), records)
    want = is_train[nodes].nonzero().flatten()
    assert torch.equal(torch.from_numpy(rows), want)
    assert torch.equal(torch.from_numpy(y), labels[ids[want]])
    assert torch.equal(torch.from_numpy(weight), weights[nodes[want]])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.int64, torch.uint8,
                                   torch.bfloat16])
def test_take_rows_equals_index_select(dtype):
    from sparsegnn.sampling.common import take_rows

    gen = torch.Generator().manual_seed(2)
    x = (torch.randn(300, 37, generator=gen) * 50).to(dtype)
    for ids in (torch.randint(0, 300, (1000,), generator=gen), torch.zeros(0, dtype=torch.int64),
                torch.tensor([299, 0, 299])):
        got = take_rows(x, ids)
        assert got.dtype == dtype and torch.equal(got, x.index_select(0, ids))
    assert torch.equal(take_rows(x[:, ::2], ids), x[:, ::2][ids])  # not contiguous: torch's gather
    for bad in (torch.tensor([0, 300]), torch.tensor([-1])):
        with pytest.raises(IndexError):
            take_rows(x, bad)
    sparse = x.float().to_sparse()
    assert torch.equal(take_rows(sparse, ids).to_dense(), x.float()[ids])


def test_shared_tasks_give_their_results_in_order_and_raise_any_error():
    import threading

    from sparsegnn.sampling.common import shared

    def fail():
        raise KeyError("failed")

    for k in (1, 2):
        with threads(k):
            seen = set()

            def task(i):
                def run():
                    seen.add(threading.current_thread().name)
                    return i * i
                return run

            assert shared([task(i) for i in range(50)]) == [i * i for i in range(50)]
            assert len(seen) <= k
            assert shared([]) == [] and shared([lambda: 7]) == [7]
            for tasks in ([fail, lambda: 1], [lambda: 1, fail], [lambda: 1, lambda: 2, fail]):
                with pytest.raises(KeyError, match="failed"):
                    shared(tasks)
            # a task that shares again runs its own tasks itself on the helper thread
            assert shared([lambda: shared([lambda: 1, lambda: 2]), lambda: shared([lambda: 3, lambda: 4])]) == \
                [[1, 2], [3, 4]]


@pytest.mark.parametrize("name", sorted(METHOD_OPTIONS))
def test_batches_are_the_same_on_one_thread_and_on_two(data, half_mask, name):
    method = make_method(name, data.x, data.graph, data.y, half_mask, seed=4, **METHOD_OPTIONS[name])

    def everything(epoch):
        return [(b.x, b.graph.rowptr, b.graph.col, b.graph.value, b.y, b.loss_rows, b.loss_weight, b.node_ids)
                for b in method.batches(epoch)]

    with threads(1):
        alone = everything(1)
    with threads(2):  # GraphSAINT's scans in pieces on two threads (every row, however few)
        from sparsegnn.sampling import saint
        shared_scan, saint.SHARED_SCAN = saint.SHARED_SCAN, 0
        try:
            beside = everything(1)
        finally:
            saint.SHARED_SCAN = shared_scan
    assert len(alone) == len(beside)
    for one, two in zip(alone, beside):
        for a, b in zip(one, two):
            assert (a is None and b is None) or torch.equal(a, b)
