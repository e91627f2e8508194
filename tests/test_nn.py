"""sparsegnn.nn layers against torch_geometric's (outputs, gradients, state_dict), models, errors."""

from __future__ import annotations

import warnings

import pytest
import torch

from sparsegnn import Graph
from sparsegnn.data import sbm
from sparsegnn.nn import (
    EGC,
    GCN,
    MLP,
    SAGE,
    SGC,
    Aggregation,
    EGConv,
    GCNConv,
    MultiAggregation,
    SAGEConv,
    SGConv,
    as_graph,
    gcn_norm,
)
from sparsegnn.ops.multi import AGGREGATORS, multi_aggregate
from sparsegnn.train import FullBatch, Trainer

pyg_nn = pytest.importorskip("torch_geometric.nn", reason="torch_geometric not installed")
warnings.filterwarnings("ignore", message=".*[Ss]parse.*")

N, E, F_IN = 40, 240, 12


def _graph(seed: int = 0, self_loops: bool = True):
    gen = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, N, (2, E), generator=gen)
    if not self_loops:
        ei = ei[:, ei[0] != ei[1]]
    ei[:, -1] = torch.tensor([N - 1, N - 1])  # one explicit self loop at least
    x = torch.randn(N, F_IN, generator=gen, dtype=torch.float64)
    w = torch.rand(ei.shape[1], generator=gen, dtype=torch.float64) + 0.1
    return ei, x, w


def _adjacencies(ei: torch.Tensor) -> dict[str, object]:
    """The same (unweighted) adjacency in every accepted form."""
    ones = torch.ones(ei.shape[1], dtype=torch.float64)
    coo = torch.sparse_coo_tensor(ei.flip(0), ones, (N, N)).coalesce()
    unique = coo.indices().flip(0)
    return {
        "edge_index": unique,
        "graph": Graph.from_edge_index(unique, N),
        "coo": coo,
        "csr": coo.to_sparse_csr(),
    }


def _pyg_adj(name: str, adj: object, unique: torch.Tensor) -> object:
    return unique if name == "graph" else adj


def _copy_weights(src: torch.nn.Module, dst: torch.nn.Module) -> None:
    dst.load_state_dict(src.state_dict())


def _check_same_function(ref, ours, x, ref_adj, our_adj, tol, ref_args=()):
    """Outputs, input gradients and parameter gradients of ``ref`` and ``ours`` agree."""
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref, out = ref(x1, ref_adj, *ref_args), ours(x2, our_adj)
    torch.testing.assert_close(out, out_ref, atol=tol, rtol=tol)
    g = torch.randn_like(out)
    out_ref.backward(g)
    out.backward(g)
    torch.testing.assert_close(x2.grad, x1.grad, atol=tol, rtol=tol)
    _check_grads(ref.named_parameters(), ours.named_parameters())


def _check_grads(ref_params, our_params, atol=1e-5):
    for (name, a), (_, b) in zip(ref_params, our_params):
        assert a.grad is not None and b.grad is not None, name
        torch.testing.assert_close(a.grad, b.grad, atol=atol, rtol=1e-5, msg=name)


# ---------------------------------------------------------------------------------- GCNConv
@pytest.mark.parametrize("form", ["edge_index", "graph", "coo", "csr"])
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"improved": True}, {"bias": False}, {"normalize": False}, {"add_self_loops": False}],
)
def test_gcn_conv_matches_pyg(form, kwargs):
    ei, x, _ = _graph()
    adjs = _adjacencies(ei)
    ref = pyg_nn.GCNConv(F_IN, 7, **kwargs).double()
    ours = GCNConv(F_IN, 7, **kwargs).double()
    assert sorted(ref.state_dict()) == sorted(ours.state_dict())
    _copy_weights(ref, ours)
    pyg_adj = _pyg_adj(form, adjs[form], adjs["edge_index"])
    ref_args = ()
    if kwargs.get("improved") and form in ("edge_index", "graph"):
        # PyG 2.8 drops the fill value 2 of ``improved`` when no edge_weight is given (its
        # add_remaining_self_loops ignores fill_value without edge_attr); we follow the documented
        # A + 2I, which PyG computes when handed explicit unit weights.
        ref_args = (torch.ones(pyg_adj.shape[1], dtype=torch.float64),)
    _check_same_function(ref, ours, x, pyg_adj, adjs[form], 1e-5, ref_args)


def test_gcn_conv_edge_weight_and_its_gradient():
    ei, x, w = _graph(1)
    ref, ours = pyg_nn.GCNConv(F_IN, 5).double(), GCNConv(F_IN, 5).double()
    _copy_weights(ref, ours)
    w1, w2 = w.clone().requires_grad_(), w.clone().requires_grad_()
    out_ref, out = ref(x, ei, w1), ours(x, ei, w2)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
    out_ref.square().sum().backward()
    out.square().sum().backward()
    torch.testing.assert_close(w2.grad, w1.grad, atol=1e-5, rtol=1e-5)


def test_gcn_conv_float32_within_1e5():
    ei, x, w = _graph(2)
    ref, ours = pyg_nn.GCNConv(F_IN, 16), GCNConv(F_IN, 16)
    _copy_weights(ref, ours)
    torch.testing.assert_close(
        ours(x.float(), ei, w.float()), ref(x.float(), ei, w.float()), atol=1e-5, rtol=1e-5
    )


def test_state_dict_round_trip_both_ways():
    ref, ours = pyg_nn.GCNConv(F_IN, 6), GCNConv(F_IN, 6)
    ours.load_state_dict(ref.state_dict())
    back = pyg_nn.GCNConv(F_IN, 6)
    back.load_state_dict(ours.state_dict())
    for key, value in ref.state_dict().items():
        torch.testing.assert_close(back.state_dict()[key], value)
    e_ref, e_ours = pyg_nn.EGConv(F_IN, 16), EGConv(F_IN, 16)
    e_ours.load_state_dict(e_ref.state_dict())
    pyg_nn.EGConv(F_IN, 16).load_state_dict(e_ours.state_dict())
    s_ref, s_ours = pyg_nn.SGConv(F_IN, 3, K=2), SGConv(F_IN, 3, K=2)
    s_ours.load_state_dict(s_ref.state_dict())
    pyg_nn.SGConv(F_IN, 3, K=2).load_state_dict(s_ours.state_dict())


def test_gcn_conv_cache_and_reset():
    ei, x, _ = _graph(3)
    other, _, _ = _graph(4)
    conv = GCNConv(F_IN, 4, cached=True).double()
    first = conv(x, ei)
    torch.testing.assert_close(conv(x, other), first)  # the cached graph is used
    conv.reset_parameters()
    assert conv._cached_edge_index is None
    uncached = GCNConv(F_IN, 4).double()
    uncached.load_state_dict(conv.state_dict())
    torch.testing.assert_close(conv(x, other), uncached(x, other))


def test_edge_index_structure_cache_sees_in_place_changes():
    ei, x, _ = _graph(5)
    conv = GCNConv(F_IN, 4).double()
    before = conv(x, ei)
    ei[0, :10] = (ei[0, :10] + 1) % N  # in place: the version counter changes
    ref = pyg_nn.GCNConv(F_IN, 4).double()
    ref.load_state_dict(conv.state_dict())
    torch.testing.assert_close(conv(x, ei), ref(x, ei), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(before, conv(x, ei))


def test_gcn_conv_errors():
    with pytest.raises(ValueError, match="add_self_loops"):
        GCNConv(4, 4, add_self_loops=True, normalize=False)
    with pytest.raises(ValueError, match="in_channels"):
        GCNConv(0, 4)
    conv = GCNConv(4, 4)
    with pytest.raises(TypeError, match="edge_index"):
        conv(torch.randn(3, 4), [[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="edge_index"):
        conv(torch.randn(3, 4), torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="bipartite"):
        conv((torch.randn(3, 4), torch.randn(3, 4)), torch.zeros(2, 1, dtype=torch.long))


def test_gcn_norm_helper_matches_pyg():
    from torch_geometric.nn.conv.gcn_conv import gcn_norm as pyg_gcn_norm

    ei, _, w = _graph(6)
    for weight in (None, w):
        ref_ei, ref_w = pyg_gcn_norm(ei, weight, N, add_self_loops=True, dtype=torch.float64)
        ref = Graph.from_edge_index(ref_ei, N, ref_w, duplicates="sum").to_dense(torch.float64)
        ours = gcn_norm(ei, weight, N).to_dense(torch.float64)
        torch.testing.assert_close(ours, ref, atol=1e-6, rtol=1e-6)
    assert as_graph(ei, N).nnz == ei.shape[1]


# ---------------------------------------------------------------------------------- EGConv
@pytest.mark.parametrize(
    "aggregators",
    [
        None,
        ["sum"],
        ["mean"],
        ["max"],
        ["min"],
        ["std"],
        ["var"],
        ["symnorm", "max", "mean"],
        list(AGGREGATORS),
    ],
)
def test_eg_conv_matches_pyg(aggregators):
    ei, x, _ = _graph(7)
    ref = pyg_nn.EGConv(F_IN, 16, aggregators, num_heads=4, num_bases=3).double()
    ours = EGConv(F_IN, 16, aggregators, num_heads=4, num_bases=3).double()
    assert sorted(ref.state_dict()) == sorted(ours.state_dict())
    _copy_weights(ref, ours)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref, out = ref(x1, ei), ours(x2, ei)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(out)
    out_ref.backward(g)
    out.backward(g)
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-5, rtol=1e-5)
    _check_grads(ref.named_parameters(), ours.named_parameters())


def test_eg_conv_no_self_loops_cached_and_errors():
    ei, x, _ = _graph(8)
    ref = pyg_nn.EGConv(F_IN, 8, ["sum", "max"], num_heads=2, add_self_loops=False).double()
    ours = EGConv(F_IN, 8, ["sum", "max"], num_heads=2, add_self_loops=False, cached=True).double()
    _copy_weights(ref, ours)
    torch.testing.assert_close(ours(x, ei), ref(x, ei), atol=1e-5, rtol=1e-5)
    assert ours._cached_edge_index is not None
    ours.reset_parameters()
    assert ours._cached_edge_index is None
    with pytest.raises(ValueError, match="divisible"):
        EGConv(4, 10, num_heads=8)
    with pytest.raises(ValueError, match="aggregators"):
        EGConv(4, 8, ["median"])


def test_multi_aggregate_matches_separate_spmm():
    from sparsegnn import ops

    ei, x, _ = _graph(9)
    graph = Graph.from_edge_index(ei, N)
    out = multi_aggregate(graph, x, ["sum", "mean", "max", "min"])
    for i, reduce in enumerate(["sum", "mean", "max", "min"]):
        torch.testing.assert_close(out[:, i], ops.spmm(graph, x, reduce))
    with pytest.raises(ValueError, match="symnorm_graph"):
        multi_aggregate(graph, x, ["symnorm"])


# ---------------------------------------------------------------------------------- SGConv
@pytest.mark.parametrize("K", [0, 1, 3])
def test_sg_conv_matches_pyg(K):
    ei, x, w = _graph(10)
    ref, ours = pyg_nn.SGConv(F_IN, 5, K=K).double(), SGConv(F_IN, 5, K=K).double()
    _copy_weights(ref, ours)
    torch.testing.assert_close(ours(x, ei), ref(x, ei), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours(x, ei, w), ref(x, ei, w), atol=1e-5, rtol=1e-5)


def test_sg_conv_cache():
    ei, x, _ = _graph(11)
    conv = SGConv(F_IN, 3, K=2, cached=True).double()
    first = conv(x, ei)
    torch.testing.assert_close(conv(x * 2, ei), first)
    conv.reset_parameters()
    assert conv._cached_x is None


# ---------------------------------------------------------------------------- in_channels=-1
LAZY_LAYERS = [
    (GCNConv, pyg_nn.GCNConv, {}),
    (EGConv, pyg_nn.EGConv, {"aggregators": ["symnorm", "max"], "num_heads": 2, "num_bases": 3}),
    (SGConv, pyg_nn.SGConv, {"K": 2}),
]


@pytest.mark.parametrize("ours_cls,ref_cls,kwargs", LAZY_LAYERS)
def test_lazy_in_channels_matches_pyg(ours_cls, ref_cls, kwargs):
    ei, x, _ = _graph(13)
    ref, ours = ref_cls(-1, 8, **kwargs).double(), ours_cls(-1, 8, **kwargs).double()
    ref(x, ei)  # PyG's lazy weights take their size from the first call, as ours do
    ours(x, ei)
    for lin in (m for m in ours.modules() if isinstance(m, torch.nn.Linear)):
        assert type(lin) is torch.nn.Linear and lin.in_features == F_IN
        assert lin.weight.dtype == torch.float64
    _copy_weights(ref, ours)
    torch.testing.assert_close(ours(x, ei), ref(x, ei), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("ours_cls,ref_cls,kwargs", LAZY_LAYERS)
def test_lazy_in_channels_loads_a_state_dict_before_any_call(ours_cls, ref_cls, kwargs):
    ei, x, _ = _graph(14)
    sized = ours_cls(F_IN, 8, **kwargs).double()
    lazy = ours_cls(-1, 8, **kwargs).double()
    lazy.load_state_dict(sized.state_dict())  # sizes come from the checkpoint; no init runs
    torch.testing.assert_close(lazy(x, ei), sized(x, ei))


def test_lazy_in_channels_run_the_layers_own_init_once_sized():
    ei, x, _ = _graph(15)
    torch.manual_seed(0)
    conv = GCNConv(-1, 7)
    conv(x.float(), ei)
    bound = (6.0 / (F_IN + 7)) ** 0.5  # glorot, as the sized layer
    assert 0 < conv.lin.weight.abs().max() <= bound
    eg = EGConv(-1, 8, num_heads=2, num_bases=2)
    eg(x.float(), ei)
    assert eg.bases_lin.weight.abs().max() <= (6.0 / (F_IN + 8)) ** 0.5
    assert eg.comb_lin.bias.abs().max() > 0  # torch's Linear init, as the sized layer
    conv.reset_parameters()  # sized now: re-initialises like any layer
    assert 0 < conv.lin.weight.abs().max() <= bound


def test_lazy_in_channels_models_and_errors():
    data = sbm(120, 3, 5.0, num_features=10, seed=2)
    for model in (GCN(-1, 8, 3), EGC(-1, 8, 3, num_heads=2), MLP(-1, 8, 3)):
        assert model(data.x, data.edge_index).shape == (120, 3)
        model(data.x, data.edge_index).sum().backward()
    for cls in (GCNConv, EGConv, SGConv):
        with pytest.raises(ValueError, match="in_channels"):
            cls(-2, 8)
        with pytest.raises(ValueError, match="in_channels"):
            cls(4, 0)


# ---------------------------------------------------------------------------------- models
@pytest.mark.parametrize("model_cls", [GCN, EGC, MLP])
def test_models_forward_and_short_training(model_cls):
    data = sbm(300, 3, 6.0, homophily=0.9, num_features=16, seed=0)
    torch.manual_seed(0)
    model = model_cls(16, 32, 3, num_layers=2, dropout=0.2)
    method = FullBatch(data.x, data.edge_index, data.y, data.train_mask)
    trainer = Trainer(model, method, data.y, {}, lr=0.01, epochs=15, select="last")
    losses = [r.loss for r in trainer.fit().records]
    assert losses[-1] < losses[0]
    model.eval()
    assert model(data.x, data.graph).shape == (300, 3)


def test_model_errors():
    with pytest.raises(ValueError, match="num_layers"):
        GCN(4, 8, 2, num_layers=0)
    with pytest.raises(ValueError, match="dropout"):
        MLP(4, 8, 2, dropout=1.5)


def test_models_accept_sparse_features():
    data = sbm(200, 3, 5.0, num_features=16, seed=1)
    x = data.x.relu()  # some zeros
    for model in (GCN(16, 8, 3), EGC(16, 8, 3, num_heads=2), MLP(16, 8, 3)):
        model.eval()
        torch.testing.assert_close(
            model(x.to_sparse(), data.edge_index), model(x, data.edge_index), atol=1e-5, rtol=1e-5
        )
        model.train()
        model(x.to_sparse(), data.edge_index).sum().backward()


def test_weighted_gcn_conv_x_gradient_through_shared_transpose():
    ei, x, w = _graph(12)
    ref, ours = pyg_nn.GCNConv(F_IN, 5).double(), GCNConv(F_IN, 5).double()
    _copy_weights(ref, ours)
    for _ in range(2):  # the second call reuses the cached structure and its transpose
        x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
        ref(x1, ei, w * 2).sum().backward()
        ours(x2, ei, w * 2).sum().backward()
        torch.testing.assert_close(x2.grad, x1.grad, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------- SAGEConv
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"aggr": "max"}, {"aggr": "sum"}, {"aggr": "add"}, {"normalize": True}, {"root_weight": False},
     {"project": True}, {"bias": False}, {"aggr": ["mean", "max"]}],
)
@pytest.mark.parametrize("form", ["edge_index", "graph", "csr"])
def test_sage_conv_matches_pyg(kwargs, form):
    ei, x, _ = _graph(3)
    adjs = _adjacencies(ei)
    ref = pyg_nn.SAGEConv(F_IN, 6, **kwargs).double()
    ours = SAGEConv(F_IN, 6, **kwargs).double()
    assert sorted(ref.state_dict()) == sorted(ours.state_dict())
    _copy_weights(ref, ours)
    _check_same_function(ref, ours, x, _pyg_adj(form, adjs[form], adjs["edge_index"]), adjs[form], 1e-6)


def test_sage_conv_bipartite_and_lazy():
    gen = torch.Generator().manual_seed(4)
    x_src = torch.randn(10, 5, generator=gen, dtype=torch.float64)
    x_dst = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    ei = torch.stack([torch.randint(0, 10, (30,), generator=gen), torch.randint(0, 4, (30,), generator=gen)])
    ref, ours = pyg_nn.SAGEConv((5, 3), 7).double(), SAGEConv((5, 3), 7).double()
    _copy_weights(ref, ours)
    torch.testing.assert_close(ours((x_src, x_dst), ei), ref((x_src, x_dst), ei))
    torch.testing.assert_close(ours((x_src, None), ei, size=(10, 4)), ref((x_src, None), ei, size=(10, 4)))
    lazy_ref, lazy = pyg_nn.SAGEConv(-1, 7).double(), SAGEConv(-1, 7).double()
    x = torch.randn(10, 5, dtype=torch.float64)
    ei_sq = torch.randint(0, 10, (2, 30), generator=gen)
    lazy_ref(x, ei_sq)
    lazy(x, ei_sq)
    _copy_weights(lazy_ref, lazy)
    torch.testing.assert_close(lazy(x, ei_sq), lazy_ref(x, ei_sq))
    with pytest.raises(ValueError, match="aggr"):
        SAGEConv(4, 4, aggr="lstm")


# ------------------------------------------------------------------ the per-layer model protocol
def _models():
    return [
        GCN(F_IN, 8, 3, num_layers=3),
        SAGE(F_IN, 8, 3, num_layers=2),
        EGC(F_IN, 8, 3, num_layers=2, num_heads=2),
        SGC(F_IN, 3, K=2, cached=False),
        MLP(F_IN, 8, 3, num_layers=3),
    ]


@pytest.mark.parametrize("index", range(5))
def test_layer_by_layer_equals_forward_and_hidden_states(index):
    model = _models()[index].double().eval()
    ei, x, _ = _graph(5)
    logits, hidden = model(x, ei, return_hidden=True)
    assert len(hidden) == model.num_layers and hidden[-1] is logits
    h = x
    for i in range(model.num_layers):
        h = model.layer(i, h, ei)
        torch.testing.assert_close(h, hidden[i])
    torch.testing.assert_close(model(x, ei), logits)


def test_layer_stack_errors_and_param_groups():
    ei, x, w = _graph(6)
    with pytest.raises(ValueError, match="edge_weight"):
        EGC(F_IN, 8, 3, num_heads=2)(x.float(), ei, w.float())
    model = GCN(F_IN, 8, 3)
    groups = model.param_groups(5e-4, first_layer_only=True)
    assert [g["weight_decay"] for g in groups] == [5e-4, 0.0]
    assert sum(p.numel() for g in groups for p in g["params"]) == sum(p.numel() for p in model.parameters())
    assert len(model.param_groups(1e-3)) == 1


def test_aggregation_is_a_swappable_stateless_module():
    ei, x, _ = _graph(7)
    conv = GCNConv(F_IN, 4).double()
    assert isinstance(conv.aggr_module, Aggregation) and not list(conv.aggr_module.state_dict())
    calls = []

    class Spy(Aggregation):
        def forward(self, graph, h):
            calls.append(h.shape)
            return super().forward(graph, h)

    expected = conv(x, ei)
    conv.aggr_module = Spy("sum")
    torch.testing.assert_close(conv(x, ei), expected)
    assert calls == [(N, 4)]
    assert isinstance(EGConv(F_IN, 8, num_heads=2).aggr_module, MultiAggregation)
    assert isinstance(SAGEConv(F_IN, 8).aggr_module, Aggregation)
    with pytest.raises(ValueError, match="reduce"):
        Aggregation("prod")


def test_layers_use_a_normalised_batch_graph_as_it_is():
    ei, x, _ = _graph(8)
    graph = Graph.from_edge_index(ei, N)
    norm = graph.gcn_norm()
    for conv in (GCNConv(F_IN, 4).double(), EGConv(F_IN, 4, num_heads=2).double()):
        torch.testing.assert_close(conv(x, norm), conv(x, graph))  # not normalised twice
    # a rectangular batch graph: 5 targets over all N columns, targets first in x
    rows = torch.arange(5)
    batch = Graph(norm.rowptr[: 6].clone(), norm.col[: int(norm.rowptr[5])], norm.value[: int(norm.rowptr[5])],
                  N, norm="gcn")
    for conv in (GCNConv(F_IN, 4).double(), EGConv(F_IN, 4, num_heads=2).double(), SAGEConv(F_IN, 4).double()):
        full = conv(x, norm if not isinstance(conv, SAGEConv) else norm)
        torch.testing.assert_close(conv(x, batch), full[rows])


# ------------------------------------------------------------- PyG's MessagePassing arguments
def close(actual, expected):
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)  # float32 GCN weights


def _pair(name, **kwargs):
    ours_cls = {"gcn": GCNConv, "sage": SAGEConv, "egc": EGConv, "sg": SGConv}[name]
    ref_cls = {"gcn": pyg_nn.GCNConv, "sage": pyg_nn.SAGEConv, "egc": pyg_nn.EGConv, "sg": pyg_nn.SGConv}[name]
    ref, ours = ref_cls(F_IN, 8, **kwargs).double(), ours_cls(F_IN, 8, **kwargs).double()
    _copy_weights(ref, ours)
    return ref, ours


@pytest.mark.parametrize("name", ["gcn", "sage", "egc", "sg"])
def test_flow_target_to_source_matches_pyg(name):
    ei, x, _ = _graph(9)
    ref, ours = _pair(name, flow="target_to_source")
    close(ours(x, ei), ref(x, ei))
    _, plain = _pair(name)
    plain.load_state_dict(ours.state_dict())
    close(ours(x, ei), plain(x, ei.flip(0)))  # the same as reversed edges
    with pytest.raises(ValueError, match="flow"):
        ours(x, Graph.from_edge_index(ei, N))
    with pytest.raises(ValueError, match="flow"):
        type(ours)(F_IN, 8, flow="sideways")


@pytest.mark.parametrize("name", ["gcn", "sage", "egc", "sg"])
def test_static_graph_batching_matches_pyg(name):
    ei, _, _ = _graph(10)
    x = torch.randn(3, N, F_IN, dtype=torch.float64, generator=torch.Generator().manual_seed(10))
    ref, ours = _pair(name)
    out = ours(x, ei)
    assert out.shape == (3, N, 8)
    if name != "egc":  # PyG's EGConv fixes node_dim=0: it has no static-graph batching
        close(out, ref(x, ei))
    for b in range(3):
        close(out[b], ours(x[b], ei))


@pytest.mark.parametrize("name", ["gcn", "sage", "egc", "sg"])
def test_decomposed_layers_and_node_dim(name):
    ei, x, _ = _graph(11)
    ref, ours = _pair(name)
    decomposed = type(ours)(F_IN, 8, decomposed_layers=2).double()
    decomposed.load_state_dict(ours.state_dict())
    close(decomposed(x, ei), ref(x, ei))  # (PyG's SAGEConv fails with decomposed_layers=2)
    first = type(ours)(F_IN, 8, node_dim=0).double()  # (PyG's EGConv fixes node_dim itself)
    first.load_state_dict(ours.state_dict())
    close(first(x, ei), ours(x, ei))
    with pytest.raises(ValueError, match="decomposed_layers"):
        type(ours)(F_IN, 8, decomposed_layers=0)
    with pytest.raises(ValueError, match="aggr_kwargs"):
        type(ours)(F_IN, 8, aggr_kwargs={"semi_grad": True})
    with pytest.raises(TypeError):
        type(ours)(F_IN, 8, no_such_argument=1)


def test_gcn_conv_other_aggregation_matches_pyg():
    ei, x, _ = _graph(12)
    for aggr in ("mean", "max"):
        ref, ours = _pair("gcn", aggr=aggr)
        close(ours(x, ei), ref(x, ei))


def test_message_passing_hooks_are_refused_with_the_alternative():
    ei, x, _ = _graph(13)
    conv = GCNConv(F_IN, 4).double()
    for name in ("register_message_forward_pre_hook", "register_message_forward_hook",
                 "register_propagate_forward_pre_hook", "register_aggregate_forward_hook",
                 "register_message_and_aggregate_forward_hook", "register_edge_update_forward_pre_hook"):
        with pytest.raises(NotImplementedError, match="aggr_module"):
            getattr(conv, name)(lambda *args: None)
    seen = []
    conv.aggr_module.register_forward_hook(lambda module, inputs, output: seen.append(output.shape))
    conv(x, ei)
    assert seen == [(N, 4)]


# ---------------------------------------------------------------------------- dropout
def test_feature_dropout_dense_and_sparse():
    """Dense features go through ``ops.dropout`` (tests/test_ops.py checks its distribution);
    eval mode and ``p = 0`` return the input; sparse features keep their pattern."""
    from sparsegnn.nn.models import feature_dropout

    torch.manual_seed(0)
    x = torch.rand(400, 250, dtype=torch.float64) + 0.5
    out = feature_dropout(x, 0.3, training=True)
    kept = out != 0
    torch.testing.assert_close(out[kept], x[kept] / 0.7)
    assert 0.6 < float(kept.double().mean()) < 0.8
    assert feature_dropout(x, 0.3, training=False) is x and feature_dropout(x, 0.0, training=True) is x
    sparse = x.detach().to_sparse()
    dropped = feature_dropout(sparse, 0.5, training=True)
    assert dropped.is_sparse and torch.equal(dropped.coalesce().indices(), sparse.coalesce().indices())
