"""sparsegnn.prop: LabelPropagation / CorrectAndSmooth against PyG's, SIGN features and model."""

from __future__ import annotations

import warnings

import pytest
import torch

from sparsegnn import Graph
from sparsegnn.data import sbm
from sparsegnn.prop import SIGN, CorrectAndSmooth, LabelPropagation, sign_features, triangle_graph
from sparsegnn.train import FullBatch, Trainer

warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
N = 60


def _data(seed=0):
    gen = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, N, (2, 400), generator=gen)
    y = torch.randint(0, 4, (N,), generator=gen)
    mask = torch.rand(N, generator=gen) < 0.3
    return ei, y, mask


@pytest.mark.parametrize("weighted", [False, True])
def test_label_propagation_matches_pyg(weighted):
    pyg_models = pytest.importorskip("torch_geometric.nn.models")
    ei, y, mask = _data()
    w = torch.rand(ei.shape[1]) if weighted else None
    ref = pyg_models.LabelPropagation(5, 0.9)(y, ei, mask, edge_weight=w)
    ours = LabelPropagation(5, 0.9)(y, ei, mask, edge_weight=w)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    # a Graph input (unweighted: normalised like an edge_index)
    if not weighted:
        torch.testing.assert_close(
            LabelPropagation(5, 0.9)(y, Graph.from_edge_index(ei, N), mask),
            ref,
            atol=1e-5,
            rtol=1e-5,
        )


@pytest.mark.parametrize("autoscale", [True, False])
def test_correct_and_smooth_matches_pyg(autoscale):
    pyg_models = pytest.importorskip("torch_geometric.nn.models")
    ei, y, mask = _data(1)
    y_soft = torch.softmax(torch.randn(N, 4, generator=torch.Generator().manual_seed(2)), -1)
    ref = pyg_models.CorrectAndSmooth(10, 0.8, 10, 0.7, autoscale=autoscale, scale=3.0)
    ours = CorrectAndSmooth(10, 0.8, 10, 0.7, autoscale=autoscale, scale=3.0)
    for m in (mask, mask.nonzero().view(-1)):
        a, b = ref.correct(y_soft, y[m], m, ei), ours.correct(y_soft, y[m], m, ei)
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            ours.smooth(b, y[m], m, ei), ref.smooth(a, y[m], m, ei), atol=1e-5, rtol=1e-5
        )


def test_label_propagation_errors():
    with pytest.raises(ValueError, match="alpha"):
        LabelPropagation(3, 1.5)
    with pytest.raises(ValueError, match="y_true"):
        CorrectAndSmooth(1, 0.5, 1, 0.5).correct(
            torch.rand(N, 4),
            torch.zeros(3, dtype=torch.long),
            torch.ones(N, dtype=torch.bool),
            _data()[0],
        )


def _simple(ei):
    """Distinct edges, no self loops (so the dense reference is unambiguous)."""
    ei = ei[:, ei[0] != ei[1]]
    keys = torch.unique(ei[1] * N + ei[0])
    return torch.stack([keys % N, keys // N])


def _dense_sym(ei):
    a = torch.zeros(N, N, dtype=torch.float64)
    a[ei[1], ei[0]] = 1.0
    a.fill_diagonal_(1.0)
    d = a.sum(1).pow(-0.5)
    return d[:, None] * a * d[None, :]


def test_sign_features_gcn_against_dense_and_chunking():
    ei = _simple(_data(3)[0])
    x = torch.randn(N, 10, dtype=torch.float64)
    s = _dense_sym(ei)
    feats = sign_features(ei, x, 3, ["gcn"])
    assert len(feats) == 4
    torch.testing.assert_close(feats[0], x)
    for k in range(1, 4):
        torch.testing.assert_close(
            feats[k], torch.linalg.matrix_power(s, k) @ x, atol=1e-6, rtol=1e-6
        )
    chunked = sign_features(ei, x, 3, ["gcn", "ppr", "triangle"], chunk_size=3)
    whole = sign_features(ei, x, 3, ["gcn", "ppr", "triangle"])
    assert len(chunked) == 1 + 3 * 3
    for a, b in zip(chunked, whole):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_sign_ppr_operator_against_dense():
    ei = _simple(_data(4)[0])
    x = torch.randn(N, 5, dtype=torch.float64)
    s = _dense_sym(ei)
    alpha = 0.15
    ppr = alpha * torch.linalg.inv(torch.eye(N, dtype=torch.float64) - (1 - alpha) * s)
    out = sign_features(ei, x, 1, ["ppr"], ppr_steps=200)[1]
    torch.testing.assert_close(out, ppr @ x, atol=1e-6, rtol=1e-6)


def test_triangle_graph_counts_triangles():
    # a triangle 0-1-2 plus a pendant edge 2-3: only the triangle's edges survive
    ei = torch.tensor([[0, 1, 1, 2, 0, 2, 2, 3], [1, 0, 2, 1, 2, 0, 3, 2]])
    tri = triangle_graph(Graph.from_edge_index(ei, 4))
    dense = tri.to_dense()
    assert dense[0, 1] > 0 and dense[1, 2] > 0 and dense[0, 2] > 0
    assert dense[2, 3] == 0 and dense[3, 3] == 1.0  # node 3: self loop only


def test_sign_model_trains_briefly():
    data = sbm(300, 3, 6.0, homophily=0.9, num_features=16, seed=0)
    feats = sign_features(data.graph, data.x, 2, ["gcn", "ppr"])
    torch.manual_seed(0)
    model = SIGN(16, 32, 3, len(feats), dropout=0.1)
    method = FullBatch(torch.cat(feats, -1), None, data.y, data.train_mask)
    trainer = Trainer(model, method, data.y, {}, lr=0.01, epochs=20, select="last")
    losses = [r.loss for r in trainer.fit().records]
    assert losses[-1] < losses[0]
    model.eval()
    assert model(torch.cat(feats, -1)).shape == (300, 3)
    with pytest.raises(ValueError, match="xs"):
        model(feats[:2])
