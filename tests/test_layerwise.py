"""Layer-wise full-graph evaluation (``sparsegnn.sampling.layerwise``): row blocks with their
halo hold exactly the full graph's rows, the layer-wise forward equals the full-graph forward,
and the samplers run it when asked or when the full forward would not fit."""

from __future__ import annotations

import pytest
import torch

from sparsegnn import Graph
from sparsegnn.cli import main
from sparsegnn.data import sbm
from sparsegnn.graph.subgraph import row_block, row_block_halo
from sparsegnn.nn import EGC, GCN, MLP, SAGE, SGC
from sparsegnn.nn.conv import MappedSources
from sparsegnn.sampling import ClusterGCN, GraphSAINTRandomWalkSampler, NeighborSampling
from sparsegnn.sampling import layerwise
from sparsegnn.sampling.common import full_gcn_graph
from sparsegnn.sampling.layerwise import block_rows, full_forward_bytes, full_forward_fits, layerwise_forward


@pytest.fixture(scope="module")
def data():
    return sbm(400, 4, 6.0, num_features=12, seed=0)


def _rows(graph, nodes=None):
    """Every row's (global column, value) entries in CSR order."""
    col = graph.col.long() if nodes is None else nodes[graph.col.long()]
    value = graph.value if graph.value is not None else torch.ones(graph.nnz)
    return [list(zip(col[a:b].tolist(), value[a:b].tolist()))
            for a, b in zip(graph.rowptr[:-1].tolist(), graph.rowptr[1:].tolist())]


@pytest.mark.parametrize("start,stop", [(0, 400), (0, 37), (150, 151), (363, 400)])
def test_row_block_holds_the_rows_and_their_halo(data, start, stop):
    graph = full_gcn_graph(data.graph)
    block, node_ids = row_block_halo(graph, start, stop)
    t = stop - start
    assert block.shape == (t, node_ids.numel()) and block.norm == graph.norm
    assert torch.equal(node_ids[:t], torch.arange(start, stop))
    halo = node_ids[t:]
    assert torch.equal(halo, halo.unique()) and not bool(((halo >= start) & (halo < stop)).any())
    assert _rows(block, node_ids) == _rows(graph)[start:stop]  # every entry, in order, with its value
    wanted = set(graph.col[int(graph.rowptr[start]):int(graph.rowptr[stop])].tolist()) - set(range(start, stop))
    assert set(halo.tolist()) == wanted


@pytest.mark.parametrize("start,stop", [(0, 400), (17, 290)])
def test_row_block_views_the_rows(data, start, stop):
    graph = full_gcn_graph(data.graph)
    block = row_block(graph, start, stop)
    assert block.shape == (stop - start, 400) and block.norm == graph.norm
    assert _rows(block) == _rows(graph)[start:stop]
    assert block.col.data_ptr() == graph.col[int(graph.rowptr[start]):].data_ptr()  # a view, no copy
    with pytest.raises(ValueError, match="start, stop"):
        row_block(graph, 3, 2)


def test_row_block_without_values_and_bad_range(data):
    block, node_ids = row_block_halo(data.graph, 10, 90)
    assert block.value is None and _rows(block, node_ids) == _rows(data.graph)[10:90]
    for start, stop in ((5, 5), (-1, 3), (0, 401)):
        with pytest.raises(ValueError, match="start, stop"):
            row_block_halo(data.graph, start, stop)
    with pytest.raises(ValueError, match="graph"):
        row_block_halo(Graph.from_coo(torch.tensor([0]), torch.tensor([2]), None, 2, 3), 0, 1)


MODELS = {
    "gcn": lambda: GCN(12, 16, 4, num_layers=3),
    "sage": lambda: SAGE(12, 16, 4, num_layers=3),
    "sage-project": lambda: SAGE(12, 16, 4, num_layers=3, project=True),
    "egc": lambda: EGC(12, 16, 4, num_layers=3),
    "egc-m": lambda: EGC(12, 16, 4, num_layers=3, aggregators=["symnorm", "max", "mean"], num_heads=4, num_bases=2),
}


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("block_bytes", [1, 3000, 40_000, 2**30])
@pytest.mark.parametrize("raw", [False, True], ids=["normalised", "raw"])
def test_layerwise_forward_equals_the_full_forward(data, name, block_bytes, raw):
    """On the graph as the samplers' evaluation gives it (GCN-normalised for GCN and EGC) and on
    the raw graph, which GCN and EGC normalise themselves: every block is cut from the graph
    normalised once with the full graph's degrees (``LayerStack.full_adjacency``)."""
    torch.manual_seed(0)
    graph = data.graph if name.startswith("sage") or raw else full_gcn_graph(data.graph)
    graph = Graph(graph.rowptr, graph.col, None if graph.value is None else graph.value.double(), norm=graph.norm)
    x = data.x.double()
    model = MODELS[name]().double().train()
    with torch.no_grad():
        model.eval()
        expected = model(x, graph)
        model.train()
    out = layerwise_forward(model, x, graph, block_bytes=block_bytes)
    assert model.training  # mode restored
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["egc", "egc-m", "sage-project"])
def test_sources_are_mapped_once_a_layer(data, name, monkeypatch):
    """A layer that maps its sources (EGC's bases, SAGE's ``project``) on dense inputs runs on
    row blocks over all columns: its map runs once a layer, however many blocks, and no halo
    is gathered."""
    torch.manual_seed(0)
    model = MODELS[name]().eval()
    maps = [conv.bases_lin if hasattr(conv, "bases_lin") else conv.lin for conv in model.convs]
    calls = [0] * len(maps)
    for i, lin in enumerate(maps):
        lin.register_forward_hook(lambda *_, i=i: calls.__setitem__(i, calls[i] + 1))
    monkeypatch.setattr(layerwise, "row_block_halo", lambda *a: pytest.fail("a halo block was gathered"))
    graph = data.graph if name.startswith("sage") else full_gcn_graph(data.graph)
    with torch.no_grad():
        expected = model(data.x, graph)
    out = layerwise_forward(model, data.x, graph, block_bytes=3000)  # dozens of blocks a layer
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    assert calls == [2, 2, 2]  # the full forward's call, and one a layer here
    with pytest.raises(ValueError, match="project"):
        SAGE(12, 16, 4).convs[0](MappedSources(data.x, data.x), data.graph)


@pytest.mark.parametrize("name", ["gcn", "egc", "sgc", "sgc-cached"])
def test_cached_and_multi_hop_layers(data, name):
    """A conv that cached the full graph on an earlier call runs on each block's graph, its
    cache given back after; SGC's K-hop layer, which one-hop blocks cannot hold, runs whole."""
    torch.manual_seed(0)
    model = {"gcn": lambda: GCN(12, 16, 4, num_layers=3, cached=True),
             "egc": lambda: EGC(12, 16, 4, num_layers=3, cached=True),
             "sgc": lambda: SGC(12, 4, K=3, cached=False),
             "sgc-cached": lambda: SGC(12, 4, K=3)}[name]().eval()
    with torch.no_grad():
        expected = model(data.x, data.graph)  # fills the caches
    caches = [getattr(conv, "_cached_edge_index", getattr(conv, "_cached_x", None)) for conv in model.convs]
    out = layerwise_forward(model, data.x, data.graph, block_bytes=1)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    after = [getattr(conv, "_cached_edge_index", getattr(conv, "_cached_x", None)) for conv in model.convs]
    assert all(a is b for a, b in zip(after, caches)) and all(conv.cached == (name != "sgc") for conv in model.convs)


def test_layerwise_forward_sparse_features(data):
    torch.manual_seed(0)
    graph = full_gcn_graph(data.graph)
    model = GCN(12, 8, 4).eval()
    with torch.no_grad():
        expected = model(data.x, graph)
    out = layerwise_forward(model, data.x.to_sparse(), graph, block_bytes=5000)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


def test_layerwise_forward_bad_arguments(data):
    graph = full_gcn_graph(data.graph)
    with pytest.raises(ValueError, match="model"):
        layerwise_forward(torch.nn.Linear(12, 4), data.x, graph)
    with pytest.raises(ValueError, match="x"):
        layerwise_forward(GCN(12, 8, 4), data.x[:10], graph)
    with pytest.raises(ValueError, match="graph"):
        layerwise_forward(GCN(12, 8, 4), data.x, data.edge_index)
    with pytest.raises(ValueError, match="block_bytes"):
        layerwise_forward(GCN(12, 8, 4), data.x, graph, block_bytes=0)


def test_block_rows_and_forward_bytes(data):
    graph = data.graph  # 400 nodes, mean degree nnz / 400
    per_target = (1 + graph.nnz / 400) * 16 * 4
    assert block_rows(graph, 16, 4, int(per_target * 10)) == 10
    assert block_rows(graph, 16, 4, 1) == 1 and block_rows(graph, 16, 4, 2**40) == 400
    # widest layer of 12 -> 64 -> 64 -> 4: a hidden layer's input, linear output and output
    assert full_forward_bytes(GCN(12, 64, 4, num_layers=3), 1000) == 3 * 64 * 1000 * 4
    assert full_forward_bytes(GCN(12, 64, 4, num_layers=1), 1000) == 2 * 4 * 1000 * 4
    with pytest.raises(ValueError, match="stack"):
        full_forward_bytes(MLP(12, 64, 4), 1000)


def test_auto_evaluation_follows_the_memory_left(data, monkeypatch):
    model = GCN(12, 64, 4)
    monkeypatch.setattr(layerwise, "available_bytes", lambda: 10**12)
    assert full_forward_fits(model, 400)
    monkeypatch.setattr(layerwise, "available_bytes", lambda: 2 * 64 * 400 * 4)  # below 0.9 x what is needed
    assert not full_forward_fits(model, 400)
    assert full_forward_fits(torch.nn.Linear(3, 3), 400)  # not a layer stack: the full forward
    monkeypatch.setattr(layerwise, "available_bytes", lambda: None)
    assert full_forward_fits(model, 400)


def test_available_bytes_sees_the_address_space_limit():
    free = layerwise.available_bytes()
    assert free is None or free > 0


@pytest.mark.parametrize("make", [
    lambda d, m, **kw: ClusterGCN(d.x, d.graph, d.y, m, num_parts=8, batch_size=2, **kw),
    lambda d, m, **kw: GraphSAINTRandomWalkSampler(d.x, d.graph, d.y, m, batch_size=50, sample_coverage=2, **kw),
    lambda d, m, **kw: NeighborSampling(d.x, d.graph, d.y, m, num_neighbors=[4, 3], batch_size=64, norm="gcn", **kw),
], ids=["cluster", "saint-rw", "neighbor"])
def test_samplers_evaluate_layer_by_layer(data, make, monkeypatch):
    mask = torch.rand(400, generator=torch.Generator().manual_seed(0)) < 0.5
    torch.manual_seed(0)
    model = GCN(12, 16, 4).eval()
    with torch.no_grad():
        full = make(data, mask, evaluation="full").predict(model)
        by_layer = make(data, mask, evaluation="layerwise").predict(model)
        torch.testing.assert_close(by_layer, full, rtol=1e-5, atol=1e-6)
        called = []
        monkeypatch.setattr(layerwise, "available_bytes", lambda: 1000)  # auto: does not fit
        real = layerwise.layerwise_forward
        monkeypatch.setattr("sparsegnn.sampling.common.layerwise_forward",
                            lambda *a, **k: called.append(1) or real(*a, **k))
        torch.testing.assert_close(make(data, mask).predict(model), full, rtol=1e-5, atol=1e-6)
        assert called
    with pytest.raises(ValueError, match="evaluation"):
        make(data, mask, evaluation="batched")


def test_cli_evaluation_option(tmp_path, capsys):
    out = tmp_path / "run.json"
    assert main(["train", "--dataset", "sbm:400,4,6", "--method", "cluster", "--num-parts", "8", "--batch-size", "4",
                 "--epochs", "2", "--evaluation", "layerwise", "--quiet", "--json", str(out)]) == 0
    assert '"evaluation": "layerwise"' in out.read_text()
    assert main(["train", "--dataset", "sbm:400,4,6", "--method", "shadow", "--evaluation", "full", "--epochs", "1"]) == 2
    assert "--evaluation" in capsys.readouterr().err
