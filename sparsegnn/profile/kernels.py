"""The profiled kernels: for each, how a sparsegnn backend runs it, its peers, its cost model.

==========  ======================================================  ===================
kernel      sparsegnn side (one row per backend)                    baseline peer
==========  ======================================================  ===================
spmm        ``ops.spmm(graph, x, reduce, backend)``                 torch.sparse (CSR)
segment     ``ops.segment_reduce(src [nnz, F], rowptr, reduce)``    torch.segment_reduce
sddmm       ``ops.sddmm(graph, a, b, backend)``                     torch.sampled_addmm
int8        ``spmm_int8`` op (int8 features, int32 accumulation)    fp32 torch.sparse
layer       GCN layer forward ``spmm(A_hat, X W)``                  PyG GCNConv
qlayer      the converted INT8 GCN layer forward (``sparsegnn.quant``)  PyG GCNConv
step        one training step of a 2-layer GCN (fwd + bwd + Adam)   PyG GCN
==========  ======================================================  ===================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .. import ops
from ..nn import GCN
from . import costs
from .cases import Inputs
from .peers import BASELINES, PEERS, PeerAbsent, PeerBuilder, train_step

REFERENCE_BACKEND = "torch"


@dataclass(frozen=True)
class Kernel:
    """One profiled kernel. ``op`` is the ``sparsegnn.ops`` op whose backends are listed;
    ``reduces`` the reductions it has (``("sum",)`` when it has none); ``dtype`` fixes the
    dtype (int8) instead of ``--dtype``."""

    name: str
    op: str
    run: Callable[[Inputs, str], Callable[[], object]]
    cost: Callable[..., costs.Cost]
    reduces: tuple[str, ...] = ("sum",)
    dtype: str | None = None

    @property
    def peers(self) -> dict[str, PeerBuilder]:
        return PEERS[self.name]

    @property
    def baseline(self) -> str:
        return BASELINES[self.name]


def _spmm(inputs: Inputs, backend: str):
    graph, x, reduce = inputs.graph, inputs.x, inputs.reduce
    return lambda: ops.spmm(graph, x, reduce, backend=backend)


def _segment(inputs: Inputs, backend: str):
    src, rowptr, reduce = inputs.src, inputs.graph.rowptr, inputs.reduce
    return lambda: ops.segment_reduce(src, rowptr, reduce, backend=backend)


def _sddmm(inputs: Inputs, backend: str):
    graph, a, b = inputs.graph, inputs.a, inputs.b
    return lambda: ops.sddmm(graph, a, b, backend=backend)


def _int8(inputs: Inputs, backend: str):
    try:
        from ..ops.int8 import quantize_edge_weights
        from ..ops.library import spmm_int8_op
    except ImportError as error:
        raise PeerAbsent(f"sparsegnn.ops.int8 is not available ({error})") from None
    graph = inputs.graph
    xq, scale = inputs.quantized
    col_scale = scale.reshape(-1).float().expand(inputs.feat).contiguous().to(inputs.device)
    if graph.value is not None:
        vq, row_scale = quantize_edge_weights(graph.rowptr, graph.value)
    else:
        vq, row_scale = None, torch.ones(graph.num_nodes, dtype=torch.float32, device=inputs.device)
    rowptr, col = graph.rowptr, graph.col
    return lambda: spmm_int8_op(rowptr, col, vq, xq, row_scale, col_scale, backend)


def _gcn(inputs: Inputs, dims: list[int]) -> GCN:
    """``sparsegnn.nn.GCN`` of ``dims`` in the case's dtype and device, without dropout."""
    model = GCN(dims[0], dims[1], dims[-1], num_layers=len(dims) - 1, dropout=0.0)
    return model.to(device=inputs.device, dtype=inputs.dtype)


def _layer(inputs: Inputs, backend: str):
    model = _gcn(inputs, [inputs.feat, inputs.feat])
    norm, x = inputs.norm, inputs.x  # norm is tagged "gcn": the layer uses it as it is

    @torch.no_grad()
    def run():
        with ops.use_backend(backend):
            return model(x, norm)

    return run


def _qlayer(inputs: Inputs, backend: str):
    """The INT8 GCN layer ``quantize_`` converts, its observers calibrated on one forward."""
    from ..quant import ConvertConfig, QATConfig, quantize_

    model = quantize_(_gcn(inputs, [inputs.feat, inputs.feat]), QATConfig(bits=8, degree_quant=False))
    norm, x = inputs.norm, inputs.x
    with torch.no_grad():
        model.train()(x, norm)
    qmodel = quantize_(model.eval(), ConvertConfig(backend=backend))

    @torch.no_grad()
    def run():
        return qmodel(x, norm)

    return run


def _step(inputs: Inputs, backend: str):
    model = _gcn(inputs, [inputs.feat, inputs.feat, inputs.num_classes])
    step = train_step(model, inputs.norm, inputs)

    def run():
        with ops.use_backend(backend):
            return step()

    return run


KERNELS: dict[str, Kernel] = {
    k.name: k
    for k in (
        Kernel("spmm", "spmm", _spmm, costs.spmm_cost, ("sum", "mean", "max", "min")),
        Kernel(
            "segment", "segment_reduce", _segment, costs.segment_cost, ("sum", "mean", "max", "min")
        ),
        Kernel("sddmm", "sddmm", _sddmm, costs.sddmm_cost),
        Kernel("int8", "spmm_int8", _int8, costs.int8_cost, dtype="int8"),
        Kernel("layer", "spmm", _layer, costs.layer_cost),
        Kernel("qlayer", "spmm_int8", _qlayer, costs.layer_cost, dtype="fp32"),
        Kernel("step", "spmm", _step, costs.step_cost),
    )
}


def backend_rows(
    kernel: Kernel, device: torch.device, requested: list[str] | None
) -> list[tuple[str, str | None]]:
    """``(backend, why_not)`` for the table: every registered backend, ``why_not`` None when it
    runs in this sweep, else why not (absent here, the slow reference left out, not requested)."""
    rows = []
    for name in ops.registered_backends():
        if requested is not None and name not in requested:
            continue
        backend = ops.get_backend(name)
        if getattr(backend, kernel.op) is None:
            if requested is not None:
                rows.append((name, f"absent: backend {name!r} has no {kernel.op}"))
            continue  # not asked for and does not implement the op: nothing to list
        if not backend.supports(kernel.op, device):
            reason = backend.unavailable() or f"runs on {', '.join(sorted(backend.devices))} only"
            rows.append((name, f"absent: {reason}"))
        elif requested is None and name == REFERENCE_BACKEND:
            rows.append(
                (
                    name,
                    "skipped: the plain-torch reference (slow); include it with --backend all,torch",
                )
            )
        else:
            rows.append((name, None))
    if requested is not None:
        rows += [
            (name, f"absent: unknown backend; registered: {ops.registered_backends()}")
            for name in requested
            if name not in ops.registered_backends()
        ]
    return rows
