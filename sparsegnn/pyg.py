"""Run PyG's message passing on sparsegnn kernels: ``patch()``, ``unpatch()``, ``patched()``.

One table-driven patcher. Each row of :data:`PATCHES` names a PyG object and its replacement;
:func:`patch` swaps every reference to it (in every loaded ``torch_geometric`` module, or the
class attribute) and records what it replaced, :func:`unpatch` puts everything back. The rows:

- ``torch_geometric.utils.scatter`` -> :func:`scatter` (gcn_norm's degrees, EGConv's
  aggregate, any ``utils.scatter`` call): a CSR by one stable sort, then ``ops.spmm``.
- ``torch_geometric.utils.segment`` -> :func:`segment` (``ops.segment_reduce``).
- ``torch_geometric.utils.spmm`` -> :func:`spmm`: the fused ``message_and_aggregate`` path of
  GCNConv, SAGEConv, GINConv, GraphConv and EGConv for torch.sparse / SparseTensor inputs.
- ``propagate`` of the five listed convs -> :func:`fused_propagate`: with an ``edge_index``
  (LongTensor) input, their messages are ``x_j`` or ``w_ji * x_j``, so message + aggregate is
  one SpMM over the CSR of ``edge_index`` (cached per tensor) with no ``[E, F]`` message tensor.
  Hooks, explain mode, decomposed layers, ``target_to_source`` flow, a non-string ``aggr``
  (``["mean", "max"]``, ``MultiAggregation``) or zero-size inputs fall back to PyG's own
  propagate (whose aggregation is then still routed by the rows above: PyG's
  ``Aggregation.reduce`` calls ``utils.scatter`` / ``utils.segment``). Sizes come from
  ``size=``, else an ``EdgeIndex``'s ``sparse_size``, else the node features.
- ``__prepare_scriptable__`` of the five convs -> :func:`prepare_scriptable`: ``torch.jit.script``
  of a model holding them compiles PyG's own (jinja) propagate instead: the conv's class is
  swapped for a subclass that keeps it, so the scripted model runs PyG's code (and, through the
  replaced ``utils`` functions, which fall back to PyG's under TorchScript, without error).

Anything a replacement cannot run (integer data, reduces the kernels lack such as ``mul``,
gradients w.r.t. sparse-tensor values, an index out of range, which PyG then reports in its
own words) is passed to the original function, so patched PyG computes what unpatched PyG
computes. Under ``torch.jit.trace`` and ``torch.compile`` every replacement defers to PyG's
code (they validate on the host, which a trace would freeze and dynamo would break on).
Scripting a conv swaps its class for good: that module runs PyG's propagate from then on. :class:`SumAggregation`, :class:`MeanAggregation`,
:class:`MaxAggregation` and :class:`MinAggregation` (base :class:`Aggregation`) run on the
kernels whether or not PyG is patched and are usable as ``aggr=`` in any ``MessagePassing``.
"""

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import Tensor

try:
    import torch_geometric  # noqa: F401
    import torch_geometric.nn.aggr as pyg_aggr
    import torch_geometric.nn.conv as pyg_conv
    import torch_geometric.utils as pyg_utils
    from torch_geometric.nn.conv import MessagePassing
    from torch_geometric.typing import Adj
    from torch_geometric import EdgeIndex
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("sparsegnn.pyg needs torch_geometric (pip install torch-geometric)") from err

from . import ops
from .compat import torch_scatter as ts
from .nn.norm import as_graph, is_sparse_tensor, is_torch_sparse_sparse_tensor
from .ops.multi import multi_aggregate

_KERNEL_REDUCES = {"sum": "sum", "add": "sum", "mean": "mean", "max": "max", "min": "min"}


# ------------------------------------------------------------------------------ replacements
# PyG's own functions, captured at import (before any patch); TorchScript compiles the
# replacements below with only their fallback branch, which calls these.
_pyg_scatter = pyg_utils.scatter
_pyg_segment = pyg_utils.segment
_pyg_spmm = pyg_utils.spmm


def _plain_eager() -> bool:
    """Not traced (``torch.jit.trace``) nor compiled (``torch.compile``): the replacements check
    their inputs on the host, which a trace would freeze and dynamo would break its graph on,
    so those go to PyG's code. (TorchScript is told apart by ``torch.jit.is_scripting``.)"""
    return not (torch.jit.is_tracing() or torch.compiler.is_compiling())


def _runs_on_kernels(src: Tensor, reduce: str) -> bool:
    return (
        reduce in _KERNEL_REDUCES
        and src.is_floating_point()
        and src.dim() >= 1
        and src.numel() > 0
    )


def scatter(
    src: Tensor, index: Tensor, dim: int = 0, dim_size: Optional[int] = None, reduce: str = "sum"
) -> Tensor:
    """``torch_geometric.utils.scatter`` on sparsegnn kernels (same signature and results)."""
    if not torch.jit.is_scripting():
        if (
            _plain_eager()
            and _runs_on_kernels(src, reduce)
            and isinstance(index, Tensor)
            and index.dim() == 1
            and _index_fits(index, dim_size)
        ):
            return ts.scatter(src, index, dim, None, dim_size, _KERNEL_REDUCES[reduce])
    return _pyg_scatter(src, index, dim, dim_size, reduce)


def _index_fits(index: Tensor, dim_size: Optional[int]) -> bool:
    """In range for ``dim_size`` (else PyG's scatter reports the error in its own words)."""
    if index.numel() == 0:
        return True
    low, high = torch.aminmax(index)
    return int(low) >= 0 and (dim_size is None or int(high) < dim_size)


def segment(src: Tensor, ptr: Tensor, reduce: str = "sum") -> Tensor:
    """``torch_geometric.utils.segment`` on sparsegnn kernels."""
    if not torch.jit.is_scripting():
        if _plain_eager() and _runs_on_kernels(src, reduce):
            return ts.segment_csr(src, ptr, None, _KERNEL_REDUCES[reduce])
    return _pyg_segment(src, ptr, reduce)


def spmm(src: Adj, other: Tensor, reduce: str = "sum") -> Tensor:
    """``torch_geometric.utils.spmm`` on sparsegnn kernels for torch.sparse and SparseTensor
    ``adj_t`` (others, and sparse values that need a gradient, go to PyG's)."""
    if not torch.jit.is_scripting():
        sparse = is_sparse_tensor(src) or is_torch_sparse_sparse_tensor(src)
        values_need_grad = sparse and getattr(src, "requires_grad", False)
        if (
            _plain_eager()
            and sparse
            and not values_need_grad
            and _runs_on_kernels(other, reduce)
            and other.dim() == 2
        ):
            return ops.spmm(as_graph(src), other, _KERNEL_REDUCES[reduce])
    return _pyg_spmm(src, other, reduce)


# ------------------------------------------------------------------------- fused propagate
@dataclass(frozen=True)
class FusedSpec:
    """How a conv's message + aggregate maps to one SpMM: ``x_key`` holds the (pair of) node
    features, ``weight_key`` the optional per-edge scalar multiplying ``x_j``; ``multi`` marks
    EGConv's several aggregators (with ``symnorm_weight``); ``example`` builds a small instance
    (so that PyG compiles the class's jinja propagate before it is replaced)."""

    example: Callable[[], Any]
    x_key: str = "x"
    weight_key: str | None = None
    multi: bool = False


FUSED: dict[type, FusedSpec] = {
    pyg_conv.GCNConv: FusedSpec(lambda: pyg_conv.GCNConv(1, 1), weight_key="edge_weight"),
    pyg_conv.SAGEConv: FusedSpec(lambda: pyg_conv.SAGEConv(1, 1)),
    pyg_conv.GINConv: FusedSpec(lambda: pyg_conv.GINConv(torch.nn.Identity())),
    pyg_conv.GraphConv: FusedSpec(lambda: pyg_conv.GraphConv(1, 1), weight_key="edge_weight"),
    pyg_conv.EGConv: FusedSpec(lambda: pyg_conv.EGConv(8, 8), multi=True),
}

_HOOK_DICTS = (
    "_propagate_forward_pre_hooks",
    "_propagate_forward_hooks",
    "_message_forward_pre_hooks",
    "_message_forward_hooks",
    "_aggregate_forward_pre_hooks",
    "_aggregate_forward_hooks",
    "_message_and_aggregate_forward_pre_hooks",
    "_message_and_aggregate_forward_hooks",
)


def _fusable(conv: Any, spec: FusedSpec, edge_index: Any, kwargs: dict[str, Any]) -> bool:
    if not isinstance(edge_index, Tensor) or is_sparse_tensor(edge_index) or edge_index.dim() != 2:
        return False
    if conv.explain or conv.decomposed_layers != 1 or conv.flow != "source_to_target":
        return False
    if not _plain_eager():
        return False
    if any(getattr(conv, name, None) for name in _HOOK_DICTS):
        return False
    if (
        type(conv).message is not FUSED_MESSAGES.get(type(conv))
        or type(conv).update is not MessagePassing.update
    ):
        return False
    if not spec.multi and not (isinstance(conv.aggr, str) and conv.aggr in _KERNEL_REDUCES):
        return False
    x = kwargs.get(spec.x_key)
    x_src = x[0] if isinstance(x, (tuple, list)) else x
    if not isinstance(x_src, Tensor) or not x_src.is_floating_point() or x_src.dim() != 2:
        return False
    if x_src.numel() == 0 or edge_index.numel() == 0:
        return False
    weight = kwargs.get(spec.weight_key) if spec.weight_key else None
    return weight is None or (isinstance(weight, Tensor) and weight.dim() == 1)


def fused_propagate(self: Any, edge_index: Any, size: Any = None, **kwargs: Any) -> Tensor:
    """The propagate installed on the listed convs: one SpMM for ``edge_index`` inputs, PyG's
    own propagate for everything else."""
    spec = FUSED.get(type(self))
    if spec is None or not _fusable(self, spec, edge_index, kwargs):
        # decomposed layers and explain mode need PyG's generic propagate, as PyG itself picks
        generic = self.explain or self.decomposed_layers != 1
        previous = MessagePassing.propagate if generic else _PREVIOUS_PROPAGATE.get(type(self))
        return (previous or MessagePassing.propagate)(self, edge_index, size=size, **kwargs)
    x = kwargs[spec.x_key]
    pair = isinstance(x, (tuple, list))
    x_src = x[0] if pair else x
    sizes = [None, None] if size is None else list(size)
    if isinstance(edge_index, EdgeIndex):
        sizes = [s if s is not None else e for s, e in zip(sizes, edge_index.sparse_size())]
    num_src = sizes[0] if sizes[0] is not None else x_src.size(0)
    if sizes[1] is not None:
        num_dst = sizes[1]
    elif pair and x[1] is not None:
        num_dst = x[1].size(0)
    else:
        num_dst = num_src
    if spec.multi:
        structure = as_graph(edge_index, num_src, None, num_dst)
        weight = kwargs.get("symnorm_weight")
        symnorm = as_graph(edge_index, num_src, weight, num_dst) if weight is not None else None
        return multi_aggregate(structure, x_src, self.aggregators, symnorm)
    weight = kwargs.get(spec.weight_key) if spec.weight_key else None
    graph = as_graph(edge_index, num_src, weight, num_dst)
    return ops.spmm(graph, x_src.contiguous(), _KERNEL_REDUCES[self.aggr])


def prepare_scriptable(self: Any) -> Any:
    """``__prepare_scriptable__`` of the fused convs: ``torch.jit.script`` gets this conv with
    its class swapped for a subclass holding PyG's propagate (the jinja one compiled before
    the patch), so TorchScript compiles PyG's code."""
    cls = type(self)
    if cls not in _SCRIPTABLE:
        previous = _PREVIOUS_PROPAGATE.get(cls, MessagePassing.propagate)
        _SCRIPTABLE[cls] = type(
            cls.__name__,
            (cls,),
            {"propagate": previous, "__prepare_scriptable__": _as_is, "__module__": cls.__module__},
        )
    self.__class__ = _SCRIPTABLE[cls]
    return self


def _as_is(self: Any) -> Any:
    return self


_SCRIPTABLE: dict[type, type] = {}


FUSED_MESSAGES = {cls: cls.message for cls in FUSED}
_PREVIOUS_PROPAGATE: dict[type, Callable] = {}


# ----------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Patch:
    """One row: ``key`` names the original; ``find`` returns it; ``replacement`` replaces it;
    ``owners`` lists where to swap it: ``"modules"`` (every loaded torch_geometric module that
    holds it by name) or a tuple of ``(object, attribute)``."""

    key: str
    find: Callable[[], Any]
    replacement: Any
    owners: Any = "modules"


PATCHES: list[Patch] = [
    Patch("scatter", lambda: pyg_utils.scatter, scatter),
    Patch("segment", lambda: pyg_utils.segment, segment),
    Patch("spmm", lambda: pyg_utils.spmm, spmm),
] + [
    Patch(
        f"{cls.__name__}.propagate",
        lambda cls=cls: cls.propagate,
        fused_propagate,
        ((cls, "propagate"), (cls, "_orig_propagate"), (cls, "_jinja_propagate")),
    )
    for cls in FUSED
] + [
    Patch(
        f"{cls.__name__}.__prepare_scriptable__",
        lambda cls=cls: getattr(cls, "__prepare_scriptable__", None),
        prepare_scriptable,
        ((cls, "__prepare_scriptable__"),),
    )
    for cls in FUSED
]

# PyG's own functions, captured once at import (before any patch).
_SAVED: list[tuple[Any, str, Any]] = []  # (owner, attribute, previous value or _MISSING)
_MISSING = object()
_LOCK = threading.RLock()


def _module_owners(original: Any) -> list[tuple[Any, str]]:
    owners = []
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "torch_geometric" or name.startswith("torch_geometric.")):
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                owners.append((module, attr))
    return owners


def is_patched() -> bool:
    """Whether :func:`patch` is in effect."""
    return bool(_SAVED)


def patch() -> None:
    """Route PyG's aggregation to sparsegnn kernels (idempotent). See the module docstring."""
    with _LOCK:
        if _SAVED:
            return
        for cls, spec in FUSED.items():  # PyG's jinja propagate, compiled now if not yet
            if "_jinja_propagate" not in cls.__dict__:
                spec.example()
            _PREVIOUS_PROPAGATE[cls] = cls.propagate
        for row in PATCHES:
            original = row.find()
            owners = _module_owners(original) if row.owners == "modules" else row.owners
            for owner, attr in owners:
                _SAVED.append(
                    (
                        owner,
                        attr,
                        owner.__dict__.get(attr, _MISSING)
                        if isinstance(owner, type)
                        else getattr(owner, attr),
                    )
                )
                setattr(owner, attr, row.replacement)


def unpatch() -> None:
    """Undo :func:`patch` exactly (a no-op when not patched)."""
    with _LOCK:
        while _SAVED:
            owner, attr, previous = _SAVED.pop()
            if previous is _MISSING:
                with contextlib.suppress(AttributeError):
                    delattr(owner, attr)
            else:
                setattr(owner, attr, previous)
        _PREVIOUS_PROPAGATE.clear()


@contextlib.contextmanager
def patched() -> Iterator[None]:
    """``with sparsegnn.pyg.patched(): ...`` patches for the block (and restores the previous
    state: nested or already-patched use is fine)."""
    was = is_patched()
    patch()
    try:
        yield
    finally:
        if not was:
            unpatch()


# ----------------------------------------------------------------------------- aggregations
class Aggregation(pyg_aggr.Aggregation):
    """Base of the sparsegnn aggregations: ``reduce`` always runs on sparsegnn kernels (through
    :func:`segment` for a ``ptr``, else :func:`scatter`; PyG's code where those defer to it)."""

    def reduce(
        self,
        x: Tensor,
        index: Optional[Tensor] = None,
        ptr: Optional[Tensor] = None,
        dim_size: Optional[int] = None,
        dim: int = -2,
        reduce: str = "sum",
    ) -> Tensor:
        dim = dim + x.dim() if dim < 0 else dim
        if ptr is not None and (index is None or self._deterministic):
            return segment(x, ptr.view([1] * dim + [-1]), reduce)
        if index is None:
            raise RuntimeError("Aggregation requires 'index' to be specified")
        return scatter(x, index, dim, dim_size, reduce)


def _aggregation(name: str, reduce: str, doc: str) -> type:
    def __init__(self) -> None:
        Aggregation.__init__(self)
        self.reduce_name = reduce  # a str attribute, so TorchScript can compile forward

    def forward(
        self,
        x: Tensor,
        index: Optional[Tensor] = None,
        ptr: Optional[Tensor] = None,
        dim_size: Optional[int] = None,
        dim: int = -2,
    ) -> Tensor:
        return self.reduce(x, index, ptr, dim_size, dim, reduce=self.reduce_name)

    namespace = {"__init__": __init__, "forward": forward, "__doc__": doc, "__module__": __name__}
    return type(name, (Aggregation,), namespace)


SumAggregation = _aggregation(
    "SumAggregation", "sum", "Sum of the messages per node (sparsegnn kernels)."
)
MeanAggregation = _aggregation(
    "MeanAggregation", "mean", "Mean of the messages per node (0 where none)."
)
MaxAggregation = _aggregation("MaxAggregation", "max", "Feature-wise max per node (0 where none).")
MinAggregation = _aggregation("MinAggregation", "min", "Feature-wise min per node (0 where none).")

__all__ = [
    "FUSED",
    "PATCHES",
    "Aggregation",
    "MaxAggregation",
    "MeanAggregation",
    "MinAggregation",
    "SumAggregation",
    "is_patched",
    "patch",
    "patched",
    "unpatch",
]
