"""The implementations a user would otherwise pick, per profiled kernel, to time sparsegnn against.

Each peer is a builder ``peer(inputs) -> fn`` that prepares what it needs from
:class:`~sparsegnn.profile.cases.Inputs` (outside the timed region) and returns a zero-argument
callable, or raises :class:`PeerAbsent` with the reason it cannot run here: a peer is never
silently dropped, the table and JSON list it as absent with that reason.

``PEERS[kernel]`` maps peer names to builders; ``BASELINES[kernel]`` names the peer that
speed-ups are measured against (the one a user is most likely to use today).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable

import torch
from torch import Tensor

from .cases import Inputs


class PeerAbsent(Exception):
    """The peer cannot run here; the message says why."""


PeerBuilder = Callable[[Inputs], Callable[[], object]]


def _require(module: str):
    top = module.split(".")[0]
    if importlib.util.find_spec(top) is None:  # cheap: no import of a missing package
        raise PeerAbsent(f"{top} is not installed")
    try:
        return __import__(module, fromlist=["_"])
    except ImportError as error:
        raise PeerAbsent(f"{module.split('.')[0]} is not installed ({error})") from None
    except Exception as error:  # noqa: BLE001 - a broken install is absent too, with the reason
        raise PeerAbsent(
            f"{module} failed to import: {type(error).__name__}: {error}".splitlines()[0]
        ) from None


def _cpu_only(inputs: Inputs, what: str) -> None:
    if inputs.device.type != "cpu":
        raise PeerAbsent(f"{what} runs on the CPU only")


def _numpy_dtype(dtype: torch.dtype, what: str):
    try:
        return torch.empty((), dtype=dtype).numpy().dtype
    except TypeError:
        raise PeerAbsent(f"{what} has no {str(dtype).replace('torch.', '')}") from None


def _weighted_msg(inputs: Inputs, x: Tensor, index: Tensor) -> Tensor:
    msg = x.index_select(0, index)
    return msg * inputs.value.unsqueeze(1) if inputs.value is not None else msg


# ------------------------------------------------------------------------------------ spmm
def torch_sparse_csr(inputs: Inputs) -> Callable[[], object]:
    """``torch.sparse.mm`` on a CSR tensor (MKL on the CPU, cuSPARSE on CUDA)."""
    adj = inputs.csr(inputs.dtype)
    x, reduce = inputs.x, inputs.reduce
    if reduce == "sum":
        return lambda: torch.sparse.mm(adj, x)
    if inputs.device.type != "cpu":
        raise PeerAbsent("torch.sparse.mm(reduce=...) runs on the CPU only")
    mode = {"max": "amax", "min": "amin", "mean": "mean"}[reduce]
    return lambda: torch.sparse.mm(adj, x, reduce=mode)


def torch_sparse_coo(inputs: Inputs) -> Callable[[], object]:
    """``torch.sparse.mm`` on a COO tensor (coalesced)."""
    if inputs.reduce != "sum":
        raise PeerAbsent("torch.sparse.mm on COO has only reduce='sum'")
    adj = inputs.csr(inputs.dtype).to_sparse_coo().coalesce()
    x = inputs.x
    return lambda: torch.sparse.mm(adj, x)


def cusparse(inputs: Inputs) -> Callable[[], object]:
    """cuSPARSE SpMM through ``torch.sparse.mm`` on a CUDA CSR tensor."""
    if inputs.device.type != "cuda":
        raise PeerAbsent("cuSPARSE needs a CUDA device (run with --device cuda)")
    if inputs.reduce != "sum":
        raise PeerAbsent("cuSPARSE SpMM has only reduce='sum'")
    adj, x = inputs.csr(inputs.dtype), inputs.x
    return lambda: torch.sparse.mm(adj, x)


def scipy_csr(inputs: Inputs) -> Callable[[], object]:
    """scipy's CSR @ dense (single-threaded)."""
    if inputs.reduce != "sum":
        raise PeerAbsent("scipy has no max/min/mean SpMM")
    _cpu_only(inputs, "scipy")
    np_dtype = _numpy_dtype(inputs.dtype, "scipy")
    adj = inputs.graph.to_scipy().astype(np_dtype)
    dense = inputs.x.numpy()
    return lambda: adj @ dense


def pyg_scatter(inputs: Inputs) -> Callable[[], object]:
    """PyG's default message-passing path: ``index_select`` then ``index_add_`` / ``scatter_reduce``."""
    row, col, x, reduce = inputs.row, inputs.col, inputs.x, inputs.reduce
    num_rows = inputs.graph.num_nodes

    def run() -> Tensor:
        msg = _weighted_msg(inputs, x, col)
        if reduce == "sum":
            return x.new_zeros(num_rows, x.shape[1]).index_add_(0, row, msg)
        mode = {"mean": "mean", "max": "amax", "min": "amin"}[reduce]
        index = row.unsqueeze(1).expand_as(msg)
        return x.new_zeros(num_rows, x.shape[1]).scatter_reduce_(
            0, index, msg, mode, include_self=False
        )

    return run


def pyg_sparse_tensor(inputs: Inputs) -> Callable[[], object]:
    """PyG with a ``SparseTensor`` adjacency (``torch_geometric.utils.spmm``), which needs torch_sparse."""
    if importlib.util.find_spec("torch_sparse") is None:
        raise PeerAbsent("PyG's SparseTensor needs torch_sparse, which is not installed")
    typing = _require("torch_geometric.typing")
    if not getattr(typing, "WITH_TORCH_SPARSE", False):
        raise PeerAbsent(
            "PyG's SparseTensor needs a working torch_sparse (torch_geometric.typing.WITH_TORCH_SPARSE is False)"
        )
    utils = _require("torch_geometric.utils")
    value = inputs.value
    adj = typing.SparseTensor(
        rowptr=inputs.graph.rowptr, col=inputs.col, value=value, sparse_sizes=inputs.graph.shape
    )
    reduce = inputs.reduce
    return lambda: utils.spmm(adj, inputs.x, reduce=reduce)


def torch_scatter_csr(inputs: Inputs) -> Callable[[], object]:
    """torch_scatter's gather + ``segment_csr``, when installed."""
    torch_scatter = _require("torch_scatter")
    rowptr, col, reduce = inputs.graph.rowptr, inputs.col, inputs.reduce
    return lambda: torch_scatter.segment_csr(
        _weighted_msg(inputs, inputs.x, col), rowptr, reduce=reduce
    )


def torch_sparse_spmm(inputs: Inputs) -> Callable[[], object]:
    """torch_sparse's ``SparseTensor.matmul``, when installed."""
    torch_sparse = _require("torch_sparse")
    adj = torch_sparse.SparseTensor(
        rowptr=inputs.graph.rowptr,
        col=inputs.col,
        value=inputs.value,
        sparse_sizes=inputs.graph.shape,
    )
    reduce = inputs.reduce
    return lambda: adj.matmul(inputs.x, reduce=reduce)


# --------------------------------------------------------------------------------- segment
def torch_segment_reduce(inputs: Inputs) -> Callable[[], object]:
    """``torch.segment_reduce(src, reduce, offsets=rowptr)`` (empty segments get 0)."""
    src, offsets, reduce = inputs.src, inputs.graph.rowptr, inputs.reduce
    return lambda: torch.segment_reduce(src, reduce, offsets=offsets, axis=0, initial=0.0)


def pyg_scatter_segment(inputs: Inputs) -> Callable[[], object]:
    """PyG's ``scatter`` over the row index: ``index_add_`` / ``scatter_reduce_``."""
    src, row, reduce, num_rows = inputs.src, inputs.row, inputs.reduce, inputs.graph.num_nodes
    if reduce == "sum":
        return lambda: src.new_zeros(num_rows, src.shape[1]).index_add_(0, row, src)
    mode = {"mean": "mean", "max": "amax", "min": "amin"}[reduce]
    index = row.unsqueeze(1).expand_as(src)
    return lambda: src.new_zeros(num_rows, src.shape[1]).scatter_reduce_(
        0, index, src, mode, include_self=False
    )


def torch_scatter_segment(inputs: Inputs) -> Callable[[], object]:
    """torch_scatter's ``segment_csr``, when installed."""
    torch_scatter = _require("torch_scatter")
    src, rowptr, reduce = inputs.src, inputs.graph.rowptr, inputs.reduce
    return lambda: torch_scatter.segment_csr(src, rowptr, reduce=reduce)


# ----------------------------------------------------------------------------------- sddmm
def torch_sampled_addmm(inputs: Inputs) -> Callable[[], object]:
    """``torch.sparse.sampled_addmm(A, a, b^T, beta=0)``: the dense product sampled at A's pattern."""
    if inputs.device.type == "cpu" and inputs.dtype in (torch.bfloat16, torch.float16):
        raise PeerAbsent(f"torch.sparse.sampled_addmm has no {str(inputs.dtype)[6:]} on the CPU")
    pattern = torch.sparse_csr_tensor(
        inputs.graph.rowptr,
        inputs.col,
        torch.zeros(inputs.graph.nnz, dtype=inputs.dtype, device=inputs.device),
        size=inputs.graph.shape,
    )
    a, bt = inputs.a, inputs.b.t()
    return lambda: torch.sparse.sampled_addmm(pattern, a, bt, beta=0.0)


def pyg_gather_dot(inputs: Inputs) -> Callable[[], object]:
    """PyG-style edge scores: gather both endpoints then a row-wise dot product."""
    a, b, row, col = inputs.a, inputs.b, inputs.row, inputs.col
    return lambda: (a.index_select(0, row) * b.index_select(0, col)).sum(-1)


def dgl_sddmm(inputs: Inputs) -> Callable[[], object]:
    """DGL's ``u_dot_v`` (when installed)."""
    dgl = _require("dgl")
    graph = dgl.graph(
        (inputs.col, inputs.row), num_nodes=max(inputs.graph.num_nodes, inputs.graph.num_cols)
    )
    a, b = inputs.a, inputs.b
    return lambda: dgl.ops.u_dot_v(graph, b, a)


# ------------------------------------------------------------------------------------ int8
def fp32_torch_sparse(inputs: Inputs) -> Callable[[], object]:
    """The float32 SpMM that INT8 replaces: ``torch.sparse.mm`` on the dequantized features."""
    adj, x = inputs.csr(torch.float32), inputs.x.float()
    return lambda: torch.sparse.mm(adj, x)


def fp32_sparsegnn(inputs: Inputs) -> Callable[[], object]:
    """The float32 sparsegnn SpMM (``backend="auto"``) on the dequantized features."""
    from .. import ops

    graph, x = inputs.graph, inputs.x.float()
    return lambda: ops.spmm(graph, x, "sum")


# -------------------------------------------------------------------------------- layer/step
@functools.lru_cache(maxsize=1)
def _gcn_conv():
    return _require("torch_geometric.nn").GCNConv


def _pyg_layer(inputs: Inputs, adjacency: str) -> tuple[torch.nn.Module, object]:
    gcn = _gcn_conv()
    feat = inputs.feat
    if adjacency == "edge_index":
        conv = gcn(feat, feat, cached=True)
        adj: object = inputs.graph.edge_index()
    else:
        conv = gcn(feat, feat, normalize=False)
        adj = inputs.norm_csr
    return conv.to(device=inputs.device, dtype=inputs.dtype), adj


def pyg_gcn_layer(inputs: Inputs) -> Callable[[], object]:
    """PyG ``GCNConv`` forward on ``edge_index`` (cached normalisation, the scatter path)."""
    conv, edge_index = _pyg_layer(inputs, "edge_index")
    x = inputs.x

    @torch.no_grad()
    def run():
        return conv(x, edge_index)

    return run


def pyg_gcn_layer_sparse(inputs: Inputs) -> Callable[[], object]:
    """PyG ``GCNConv(normalize=False)`` forward on a torch.sparse CSR ``adj_t`` (pre-normalised)."""
    conv, adj = _pyg_layer(inputs, "sparse")
    x = inputs.x

    @torch.no_grad()
    def run():
        return conv(x, adj)

    return run


def torch_sparse_layer(inputs: Inputs) -> Callable[[], object]:
    """A hand-written GCN layer: ``torch.sparse.mm(A_hat, X W) + b``."""
    lin = torch.nn.Linear(inputs.feat, inputs.feat).to(device=inputs.device, dtype=inputs.dtype)
    adj, x = inputs.norm_csr, inputs.x

    @torch.no_grad()
    def run():
        return torch.sparse.mm(adj, lin(x))

    return run


class _PygGCN(torch.nn.Module):
    """A 2-layer GCN on PyG's GCNConv: ``forward(x, adj)``."""

    def __init__(self, convs: list[torch.nn.Module]) -> None:
        super().__init__()
        self.convs = torch.nn.ModuleList(convs)

    def forward(self, x: Tensor, adj: object) -> Tensor:
        return self.convs[1](torch.relu(self.convs[0](x, adj)), adj)


def _pyg_step(inputs: Inputs, adjacency: str) -> Callable[[], object]:
    gcn = _gcn_conv()
    feat, classes = inputs.feat, inputs.num_classes
    if adjacency == "edge_index":
        convs = [gcn(feat, feat, cached=True), gcn(feat, classes, cached=True)]
        adj: object = inputs.graph.edge_index()
    else:
        convs = [gcn(feat, feat, normalize=False), gcn(feat, classes, normalize=False)]
        adj = inputs.norm_csr
    model = _PygGCN(convs).to(device=inputs.device, dtype=inputs.dtype)
    return train_step(model, adj, inputs)


def train_step(model: torch.nn.Module, adj: object, inputs: Inputs) -> Callable[[], object]:
    """One full-batch step of ``model(x, adj)`` through :class:`sparsegnn.train.Trainer`:
    forward, cross-entropy on every node, backward, Adam (lr 0.01)."""
    from ..train import FullBatch, Trainer

    labels = inputs.labels
    method = FullBatch(inputs.x, adj, labels, torch.ones_like(labels, dtype=torch.bool))
    trainer = Trainer(model, method, labels, {}, lr=0.01, select="last")
    batch = next(iter(method.batches(0)))
    return lambda: trainer.step(batch)


PEERS: dict[str, dict[str, PeerBuilder]] = {
    "spmm": {
        "torch.sparse": torch_sparse_csr,
        "torch.sparse-coo": torch_sparse_coo,
        "scipy": scipy_csr,
        "pyg-scatter": pyg_scatter,
        "pyg-sparsetensor": pyg_sparse_tensor,
        "torch_scatter": torch_scatter_csr,
        "torch_sparse": torch_sparse_spmm,
        "cusparse": cusparse,
    },
    "segment": {
        "torch.segment_reduce": torch_segment_reduce,
        "pyg-scatter": pyg_scatter_segment,
        "torch_scatter": torch_scatter_segment,
    },
    "sddmm": {
        "torch.sampled_addmm": torch_sampled_addmm,
        "pyg-gather": pyg_gather_dot,
        "dgl": dgl_sddmm,
    },
    "int8": {
        "fp32-torch.sparse": fp32_torch_sparse,
        "fp32-sparsegnn": fp32_sparsegnn,
    },
    "layer": {
        "pyg-GCNConv": pyg_gcn_layer,
        "pyg-GCNConv-sparse": pyg_gcn_layer_sparse,
        "torch.sparse": torch_sparse_layer,
    },
    "qlayer": {
        "pyg-GCNConv": pyg_gcn_layer,
        "torch.sparse": torch_sparse_layer,
    },
    "step": {
        "pyg-GCN": lambda inputs: _pyg_step(inputs, "edge_index"),
        "pyg-GCN-sparse": lambda inputs: _pyg_step(inputs, "sparse"),
    },
}

BASELINES = {
    "spmm": "torch.sparse",
    "segment": "torch.segment_reduce",
    "sddmm": "torch.sampled_addmm",
    "int8": "fp32-torch.sparse",
    "layer": "pyg-GCNConv",
    "qlayer": "pyg-GCNConv",
    "step": "pyg-GCN",
}
