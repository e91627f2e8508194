"""sparsegnn.pyg: patched PyG equals unpatched PyG on every listed conv and input kind, the
kernels are really used, unpatch restores everything, and the Aggregation classes work."""

from __future__ import annotations

import warnings

import pytest
import torch

pytest.importorskip("torch_geometric", reason="torch_geometric not installed")
import torch_geometric.nn as pyg_nn
import torch_geometric.utils as pyg_utils

import sparsegnn.pyg as sp
from sparsegnn.profile import profile_ops

warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)
N, E, F = 50, 300, 12


@pytest.fixture(autouse=True)
def _always_unpatched():
    sp.unpatch()
    yield
    sp.unpatch()


def _data(seed=0):
    gen = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, N, (2, E), generator=gen)
    x = torch.randn(N, F, generator=gen)
    w = torch.rand(E, generator=gen) + 0.1
    return ei, x, w


CONVS = {
    "gcn": lambda: pyg_nn.GCNConv(F, 8),
    "gcn_cached": lambda: pyg_nn.GCNConv(F, 8, cached=True),
    "sage_mean": lambda: pyg_nn.SAGEConv(F, 8),
    "sage_max": lambda: pyg_nn.SAGEConv(F, 8, aggr="max"),
    "sage_sum": lambda: pyg_nn.SAGEConv(F, 8, aggr="sum"),
    "gin": lambda: pyg_nn.GINConv(
        torch.nn.Sequential(torch.nn.Linear(F, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8))
    ),
    "graph_add": lambda: pyg_nn.GraphConv(F, 8),
    "graph_mean": lambda: pyg_nn.GraphConv(F, 8, aggr="mean"),
    "graph_min": lambda: pyg_nn.GraphConv(F, 8, aggr="min"),
    "eg_s": lambda: pyg_nn.EGConv(F, 16),
    "eg_m": lambda: pyg_nn.EGConv(F, 16, ["symnorm", "max", "mean"], num_heads=4),
    "eg_all": lambda: pyg_nn.EGConv(
        F, 16, ["sum", "mean", "symnorm", "max", "min", "std", "var"], num_heads=4
    ),
}
WEIGHTED = {"gcn", "gcn_cached", "graph_add", "graph_mean", "graph_min"}
SPARSE_OK = {
    "gcn",
    "gcn_cached",
    "sage_mean",
    "sage_sum",
    "gin",
    "graph_add",
    "eg_s",
    "eg_m",
    "eg_all",
}


def _inputs(name, kind, ei, x, w):
    if kind == "edge_index":
        return (x, ei)
    if kind == "weighted":
        return (x, ei, w)
    adj = torch.sparse_coo_tensor(ei.flip(0), torch.ones(E), (N, N)).coalesce()
    return (x, adj if kind == "coo" else adj.to_sparse_csr())


CASES = [
    (n, k)
    for n in CONVS
    for k in ("edge_index", "weighted", "coo", "csr")
    if (k != "weighted" or n in WEIGHTED) and (k not in ("coo", "csr") or n in SPARSE_OK)
]


@pytest.mark.parametrize("name,kind", CASES)
def test_patched_equals_unpatched(name, kind):
    torch.manual_seed(0)
    conv = CONVS[name]()
    ei, x, w = _data()
    args = _inputs(name, kind, ei, x, w)
    xr = args[0].clone().requires_grad_()
    ref = conv(xr, *args[1:])
    ref.square().sum().backward()
    ref_grads = [p.grad.clone() for p in conv.parameters()]
    conv.zero_grad()
    with sp.patched():
        assert sp.is_patched()
        xp = args[0].clone().requires_grad_()
        out = conv(xp, *args[1:])
        out.square().sum().backward()
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    # gradients sum many float32 terms in another order: a relative 1e-4
    torch.testing.assert_close(xp.grad, xr.grad, atol=1e-4, rtol=1e-4)
    for a, b in zip(conv.parameters(), ref_grads):
        torch.testing.assert_close(a.grad, b, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(conv(*args), ref, atol=0, rtol=0)  # unpatched again: PyG's own


@pytest.mark.parametrize("name", ["gcn", "sage_mean", "gin", "graph_add", "eg_m"])
@pytest.mark.parametrize("kind", ["edge_index", "csr"])
def test_kernels_are_used(name, kind):
    ei, x, w = _data(1)
    conv = CONVS[name]()
    with sp.patched(), profile_ops(summary=False) as prof:
        conv(*_inputs(name, kind, ei, x, w))
    ops = {record.op for record in prof.records}
    assert ops & {"spmm", "segment_reduce"}, f"{name} on {kind} ran no sparsegnn kernel: {ops}"


def test_unpatch_restores_every_object():
    conv = pyg_nn.GCNConv(F, 4)  # compiles the class's jinja propagate
    before_scatter, before_spmm = pyg_utils.scatter, pyg_utils.spmm
    before_reduce = pyg_nn.aggr.Aggregation.reduce
    before_prop = {cls: cls.__dict__.get("propagate") for cls in sp.FUSED}
    sp.patch()
    sp.patch()  # idempotent
    assert pyg_utils.scatter is sp.scatter and pyg_utils.spmm is sp.spmm
    import torch_geometric.nn.conv.gcn_conv as gcn_module

    assert gcn_module.scatter is sp.scatter and gcn_module.spmm is sp.spmm
    assert pyg_nn.GCNConv.propagate is sp.fused_propagate
    sp.unpatch()
    assert pyg_utils.scatter is before_scatter and pyg_utils.spmm is before_spmm
    assert gcn_module.scatter is before_scatter
    assert pyg_nn.aggr.Aggregation.reduce is before_reduce
    assert {cls: cls.__dict__.get("propagate") for cls in sp.FUSED} == before_prop
    assert not sp.is_patched()
    conv(torch.randn(N, F), _data()[0])


def test_patched_context_nests_and_survives_errors():
    with sp.patched():
        with sp.patched():
            pass
        assert sp.is_patched()
    assert not sp.is_patched()
    with pytest.raises(RuntimeError), sp.patched():
        raise RuntimeError("boom")
    assert not sp.is_patched()


def test_conv_created_while_patched_and_bipartite_sage():
    ei, x, _ = _data(2)
    with sp.patched():
        conv = pyg_nn.ResGatedGraphConv(F, 6)  # not in the fused table: generic path
        out = conv(x, ei)
        sage = pyg_nn.SAGEConv((F, 7), 5)
        x_dst = torch.randn(20, 7)
        ei_b = torch.stack([ei[0], ei[1] % 20])
        out_b = sage((x, x_dst), ei_b)
    torch.testing.assert_close(conv(x, ei), out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sage((x, x_dst), ei_b), out_b, atol=1e-5, rtol=1e-5)


def test_hooks_fall_back_to_pyg_propagate():
    ei, x, _ = _data(3)
    conv = pyg_nn.GCNConv(F, 4)
    seen = []
    conv.register_message_forward_hook(lambda module, inputs, out: seen.append(out.shape))
    ref = conv(x, ei)
    seen.clear()
    with sp.patched():
        out = conv(x, ei)
    assert seen, "the message hook must still fire under the patch"
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "aggr_cls,name",
    [
        (sp.SumAggregation, "sum"),
        (sp.MeanAggregation, "mean"),
        (sp.MaxAggregation, "max"),
        (sp.MinAggregation, "min"),
    ],
)
def test_aggregation_classes_as_aggr(aggr_cls, name):
    ei, x, _ = _data(4)
    torch.manual_seed(0)
    ours = pyg_nn.SAGEConv(F, 6, aggr=aggr_cls())
    torch.manual_seed(0)
    ref = pyg_nn.SAGEConv(F, 6, aggr=name)
    ref.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ours(x, ei), ref(x, ei), atol=1e-5, rtol=1e-5)
    # with a ptr (sorted index) too
    index = torch.sort(torch.randint(0, 7, (30,)))[0]
    src = torch.randn(30, 3)
    ptr = torch.cat(
        [torch.zeros(1, dtype=torch.long), torch.bincount(index, minlength=7).cumsum(0)]
    )
    expected = pyg_utils.scatter(src, index, 0, 7, name)
    torch.testing.assert_close(aggr_cls()(src, ptr=ptr, dim_size=7), expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(aggr_cls()(src, index, dim_size=7), expected, atol=1e-6, rtol=1e-6)
    scripted = torch.jit.script(aggr_cls())  # runs PyG's scatter under TorchScript
    torch.testing.assert_close(scripted(src, index, dim_size=7), expected, atol=1e-6, rtol=1e-6)


def test_patched_utils_functions_match():
    gen = torch.Generator().manual_seed(5)
    src, index = torch.randn(40, 3, generator=gen), torch.randint(0, 9, (40,), generator=gen)
    refs = {
        r: pyg_utils.scatter(src, index, 0, 10, r) for r in ("sum", "mean", "max", "min", "mul")
    }
    with sp.patched():
        for r, ref in refs.items():
            torch.testing.assert_close(
                pyg_utils.scatter(src, index, 0, 10, r), ref, atol=1e-6, rtol=1e-6
            )
        ints = pyg_utils.scatter(torch.arange(40), index, 0, 10, "sum")  # falls back: integers
        ptr = torch.tensor([0, 10, 10, 40])
        for r in ("sum", "mean", "max", "min"):
            torch.testing.assert_close(
                pyg_utils.segment(src, ptr, r),
                sp._pyg_segment(src, ptr, r),
                atol=1e-6,
                rtol=1e-6,
            )
    assert ints.dtype == torch.int64


def test_edge_index_subclass_input():
    from torch_geometric import EdgeIndex

    ei, x, _ = _data(6)
    edge_index = EdgeIndex(ei, sparse_size=(N, N))
    for conv in (pyg_nn.GCNConv(F, 4), pyg_nn.SAGEConv(F, 4)):
        ref = conv(x, edge_index)
        with sp.patched():
            torch.testing.assert_close(conv(x, edge_index), ref, atol=1e-5, rtol=1e-5)


def _same_patched(make, *inputs, atol=1e-5):
    """``make()`` built once; its output patched equals its output unpatched."""
    torch.manual_seed(0)
    module = make()
    ref = module(*inputs)
    with sp.patched():
        out = module(*inputs)
    torch.testing.assert_close(out, ref, atol=atol, rtol=atol)
    return module, ref


@pytest.mark.parametrize(
    "make",
    [
        lambda: pyg_nn.GCNConv(F, 8),
        lambda: pyg_nn.SAGEConv(F, 8, aggr="max"),
        lambda: pyg_nn.GraphConv(F, 8),
        lambda: pyg_nn.GINConv(torch.nn.Linear(F, 8)),
    ],
    ids=["gcn", "sage", "graph", "gin"],
)
def test_torchscript_of_patched_convs_runs_pyg_code(make):
    ei, x, _ = _data(7)
    conv = make()
    ref = conv(x, ei)
    with sp.patched():
        scripted = torch.jit.script(conv)
        torch.testing.assert_close(scripted(x, ei), ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(conv(x, ei), ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(scripted(x, ei), ref, atol=1e-5, rtol=1e-5)


def test_multi_aggregation_falls_back_to_pyg():
    ei, x, _ = _data(8)
    _same_patched(lambda: pyg_nn.SAGEConv(F, 8, aggr=["mean", "max"]), x, ei)
    multi = pyg_nn.aggr.MultiAggregation(["mean", "sum", "max", "std"], mode="cat")
    _same_patched(lambda: pyg_nn.SAGEConv(F, 8, aggr=multi), x, ei)


def test_bipartite_sizes_and_edge_index_sparse_size():
    from torch_geometric import EdgeIndex

    gen = torch.Generator().manual_seed(9)
    x_src, x_dst = torch.randn(N, F, generator=gen), torch.randn(20, 6, generator=gen)
    ei = torch.stack(
        [torch.randint(0, N, (E,), generator=gen), torch.randint(0, 20, (E,), generator=gen)]
    )
    sized = EdgeIndex(ei, sparse_size=(N, 20))
    make = lambda: pyg_nn.GraphConv((F, 6), 5)  # noqa: E731
    _same_patched(make, (x_src, x_dst), ei, None, (N, 20))
    _same_patched(make, (x_src, None), ei, None, (N, 20))
    module, ref = _same_patched(make, (x_src, None), sized)
    assert ref.shape == (20, 5)
    _same_patched(lambda: pyg_nn.SAGEConv((F, 6), 5), (x_src, x_dst), sized)


def test_zero_size_and_non_contiguous_inputs():
    _, x, _ = _data(10)
    no_edges = torch.empty(2, 0, dtype=torch.long)
    for make in (lambda: pyg_nn.GCNConv(F, 4), lambda: pyg_nn.SAGEConv(F, 4, aggr="max")):
        _same_patched(make, x, no_edges)
        _same_patched(make, x[:0], no_edges)
    ei, _, _ = _data(10)
    strided = torch.randn(F, N).t()  # [N, F], not contiguous
    _same_patched(lambda: pyg_nn.GraphConv(F, 4, aggr="mean"), strided, ei)
    _same_patched(lambda: pyg_nn.GCNConv(F, 4), strided, ei[:, ::2])


def test_decomposed_layers_use_pyg_decomposition():
    ei, x, _ = _data(11)
    seen = []
    conv = pyg_nn.GCNConv(F, 8)
    conv.register_message_forward_pre_hook(lambda m, inputs: seen.append(inputs[0]["x_j"].shape))
    ref = conv(x, ei)
    with sp.patched():
        conv.decomposed_layers = 2
        seen.clear()
        out = conv(x, ei)
    assert seen and all(shape[1] == 4 for shape in seen)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_torch_compile_gives_pyg_results():
    ei, x, _ = _data(12)
    conv = pyg_nn.SAGEConv(F, 8, aggr=["mean", "max"])
    ref = conv(x, ei)
    with sp.patched():
        compiled = torch.compile(conv, backend="eager")
        torch.testing.assert_close(compiled(x, ei), ref, atol=1e-5, rtol=1e-5)


def test_static_graph_batches_match_pyg():
    ei, _, _ = _data(13)
    x = torch.randn(3, N, F)  # [batch, nodes, features] over one edge_index
    conv = pyg_nn.GCNConv(F, 4)
    conv.node_dim = 1
    ref = conv(x, ei)
    with sp.patched():
        out = conv(x, ei)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert out.view(-1, 4).shape == (3 * N, 4)
