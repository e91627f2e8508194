"""The CSR graph container every sparsegnn op takes.

``Graph`` holds the adjacency for aggregation ``out[i] = reduce_j A[i, j] * x[j]``: row ``i`` is
a target node, its entries are the source nodes whose messages it receives (PyG's
source-to-target convention, so ``edge_index[1]`` becomes the row and ``edge_index[0]`` the
column). It validates its arrays once on construction, so kernels may trust them, and caches
what kernels need more than once (the transpose for backward, degrees, GCN normalisation).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:  # pragma: no cover
    import scipy.sparse

    from ..blocksparse import BlockSparse

INDEX_DTYPES = (torch.int32, torch.int64)
DUPLICATE_POLICIES = ("keep", "sum")


class Graph:
    """A sparse adjacency in CSR form.

    Args:
        rowptr: int64 ``[num_nodes + 1]``, monotone, ``rowptr[0] == 0``, ``rowptr[-1] == nnz``
            (an int32 rowptr is widened to int64).
        col: int32 or int64 ``[nnz]``, the column (source node) of every entry, in
            ``[0, num_cols)``.
        value: optional floating ``[nnz]`` edge weights; ``None`` means every weight is 1.
        num_cols: number of columns (source nodes); defaults to ``num_nodes`` (square).
        validate: check every invariant (on by default; internal constructors that build a
            valid CSR by construction skip the O(nnz) checks).
        norm: the normalisation ``value`` already carries (``"gcn"`` for :meth:`gcn_norm`'s
            result, a sampler's tag such as ``"saint"``), or ``None`` for raw weights. A layer
            that normalises (GCNConv, EGConv's symnorm) uses a graph whose ``norm`` is set as it
            is, so a mini-batch is normalised once, by its maker, with the degrees its method
            prescribes.

    Attributes:
        rowptr, col, value, norm: as above. ``num_nodes`` (rows), ``num_cols``, ``nnz``.
    """

    __slots__ = ("rowptr", "col", "value", "num_nodes", "num_cols", "norm", "_cache")

    def __init__(
        self,
        rowptr: Tensor,
        col: Tensor,
        value: Tensor | None = None,
        num_cols: int | None = None,
        *,
        validate: bool = True,
        norm: str | None = None,
    ) -> None:
        if not isinstance(rowptr, Tensor) or not isinstance(col, Tensor):
            raise TypeError("rowptr and col must be torch.Tensor")
        if rowptr.dtype == torch.int32:
            rowptr = rowptr.long()
        self.rowptr = rowptr
        self.col = col
        self.value = value
        self.num_nodes = int(rowptr.numel()) - 1
        self.num_cols = self.num_nodes if num_cols is None else int(num_cols)
        self.norm = norm
        self._cache: dict[Any, Any] = {}
        if validate:
            self._validate()

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        rowptr, col, value = self.rowptr, self.col, self.value
        if rowptr.dim() != 1 or rowptr.numel() < 1:
            raise ValueError(f"rowptr: expected a 1-D tensor of length num_nodes + 1, got shape {tuple(rowptr.shape)}")
        if rowptr.dtype != torch.int64:
            raise ValueError(f"rowptr: expected dtype int64 (or int32), got {rowptr.dtype}")
        if col.dim() != 1:
            raise ValueError(f"col: expected a 1-D tensor, got shape {tuple(col.shape)}")
        if col.dtype not in INDEX_DTYPES:
            raise ValueError(f"col: expected dtype int32 or int64, got {col.dtype}")
        if col.device != rowptr.device:
            raise ValueError(f"col: on {col.device} but rowptr is on {rowptr.device}")
        if self.num_cols < 0:
            raise ValueError(f"num_cols: must be >= 0, got {self.num_cols}")
        nnz = col.numel()
        if int(rowptr[0]) != 0:
            raise ValueError(f"rowptr: rowptr[0] must be 0, got {int(rowptr[0])}")
        if int(rowptr[-1]) != nnz:
            raise ValueError(f"rowptr: rowptr[-1] must equal nnz = len(col) = {nnz}, got {int(rowptr[-1])}")
        if self.num_nodes > 0 and bool((rowptr[1:] < rowptr[:-1]).any()):
            raise ValueError("rowptr: must be non-decreasing")
        if nnz > 0:
            lo, hi = int(col.min()), int(col.max())
            if lo < 0 or hi >= self.num_cols:
                raise ValueError(f"col: indices must lie in [0, num_cols={self.num_cols}), found range [{lo}, {hi}]")
        if value is not None:
            if not isinstance(value, Tensor) or not value.is_floating_point():
                raise ValueError("value: expected a floating-point tensor or None")
            if value.shape != (nnz,):
                raise ValueError(f"value: expected shape ({nnz},) (one weight per entry), got {tuple(value.shape)}")
            if value.device != rowptr.device:
                raise ValueError(f"value: on {value.device} but rowptr is on {rowptr.device}")

    # ------------------------------------------------------------------ basic facts
    @property
    def nnz(self) -> int:
        """Number of stored entries (edges)."""
        return self.col.numel()

    @property
    def device(self) -> torch.device:
        return self.rowptr.device

    @property
    def shape(self) -> tuple[int, int]:
        """``(num_nodes, num_cols)``."""
        return (self.num_nodes, self.num_cols)

    @property
    def is_square(self) -> bool:
        return self.num_nodes == self.num_cols

    def __repr__(self) -> str:
        weighted = "weighted" if self.value is not None else "unweighted"
        norm = f", norm={self.norm!r}" if self.norm is not None else ""
        return (
            f"Graph(num_nodes={self.num_nodes}, num_cols={self.num_cols}, nnz={self.nnz}, "
            f"{weighted}{norm}, index={str(self.col.dtype).replace('torch.', '')}, device={self.device})"
        )

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_edge_index(
        cls,
        edge_index: Tensor,
        num_nodes: int | None = None,
        edge_weight: Tensor | None = None,
        duplicates: str = "keep",
    ) -> Graph:
        """Build from a PyG-style ``edge_index`` ``[2, E]`` (row 0 = source, row 1 = target).

        Args:
            edge_index: integer ``[2, E]``.
            num_nodes: node count; defaults to ``max(edge_index) + 1`` (0 for no edges).
            edge_weight: optional floating ``[E]``.
            duplicates: ``"keep"`` stores repeated edges as separate entries (what message
                passing does); ``"sum"`` merges them into one entry whose weight is the sum
                (the multiplicity for an unweighted graph).
        """
        if not isinstance(edge_index, Tensor):
            raise TypeError("edge_index: expected a torch.Tensor of shape [2, E]")
        if edge_index.dim() != 2 or edge_index.shape[0] != 2:
            raise ValueError(f"edge_index: expected shape [2, E], got {tuple(edge_index.shape)}")
        if edge_index.dtype.is_floating_point or edge_index.dtype == torch.bool:
            raise ValueError(f"edge_index: expected an integer dtype, got {edge_index.dtype}")
        if duplicates not in DUPLICATE_POLICIES:
            raise ValueError(f"duplicates: expected one of {DUPLICATE_POLICIES}, got {duplicates!r}")
        num_edges = edge_index.shape[1]
        if edge_weight is not None:
            if not isinstance(edge_weight, Tensor) or not edge_weight.is_floating_point():
                raise ValueError("edge_weight: expected a floating-point tensor")
            if edge_weight.shape != (num_edges,):
                raise ValueError(f"edge_weight: expected shape ({num_edges},), got {tuple(edge_weight.shape)}")
        edge_index = edge_index.long()
        if num_edges > 0 and int(edge_index.min()) < 0:
            raise ValueError("edge_index: node indices must be >= 0")
        inferred = int(edge_index.max()) + 1 if num_edges > 0 else 0
        if num_nodes is None:
            num_nodes = inferred
        elif num_nodes < inferred:
            raise ValueError(f"num_nodes: {num_nodes} is smaller than max(edge_index) + 1 = {inferred}")
        return cls.from_coo(edge_index[1], edge_index[0], edge_weight, num_nodes, num_nodes, duplicates)

    @classmethod
    def from_coo(
        cls,
        row: Tensor,
        col: Tensor,
        value: Tensor | None,
        num_rows: int,
        num_cols: int,
        duplicates: str = "keep",
        norm: str | None = None,
    ) -> Graph:
        """CSR from COO arrays, entries sorted by (row, col) with a stable sort.

        Shapes: ``row``, ``col`` int64 ``[nnz]`` already in ``[0, num_rows)`` / ``[0, num_cols)``
        (trusted: no range check), ``value`` floating ``[nnz]`` or None. ``duplicates`` as in
        :meth:`from_edge_index`; ``norm`` tags the values (see the class docstring)."""
        key = row * max(num_cols, 1) + col
        key, perm = torch.sort(key, stable=True)
        row, col = row[perm], col[perm]
        value = value[perm] if value is not None else None
        if duplicates == "sum" and key.numel() > 0:
            unique, inverse = torch.unique_consecutive(key, return_inverse=True)
            if unique.numel() < key.numel():
                weights = value if value is not None else torch.ones(key.numel(), device=key.device)
                value = weights.new_zeros(unique.numel()).index_add_(0, inverse, weights)
                row, col = unique // max(num_cols, 1), unique % max(num_cols, 1)
        counts = torch.bincount(row, minlength=num_rows) if row.numel() else row.new_zeros(num_rows)
        rowptr = torch.zeros(num_rows + 1, dtype=torch.int64, device=row.device)
        torch.cumsum(counts, 0, out=rowptr[1:])
        return cls(rowptr, col, value, num_cols, validate=False, norm=norm)

    @classmethod
    def from_scipy(cls, matrix: scipy.sparse.spmatrix | scipy.sparse.sparray) -> Graph:
        """Build from any scipy sparse matrix (``A[i, j]`` = weight of the message j -> i)."""
        import numpy as np
        import scipy.sparse as sp

        if not sp.issparse(matrix):
            raise TypeError(f"matrix: expected a scipy sparse matrix, got {type(matrix).__name__}")
        csr = sp.csr_matrix(matrix, copy=True)
        csr.sort_indices()
        rowptr = torch.from_numpy(csr.indptr.astype(np.int64))
        col = torch.from_numpy(csr.indices.astype(np.int64))
        data = csr.data
        if not np.issubdtype(data.dtype, np.floating):
            data = data.astype(np.float32)
        return cls(rowptr, col, torch.from_numpy(data), csr.shape[1])

    @classmethod
    def from_torch_sparse(cls, tensor: Tensor) -> Graph:
        """Build from a 2-D torch sparse tensor (COO, CSR or CSC layout)."""
        if not isinstance(tensor, Tensor) or tensor.layout == torch.strided:
            raise TypeError("tensor: expected a torch sparse tensor (COO, CSR or CSC)")
        if tensor.dim() != 2:
            raise ValueError(f"tensor: expected a 2-D sparse tensor, got {tensor.dim()} dims")
        if tensor.layout == torch.sparse_coo:
            tensor = tensor.coalesce()
            row, col = tensor.indices()
            value = tensor.values()
            return cls.from_coo(row, col, _as_float(value), tensor.shape[0], tensor.shape[1])
        csr = tensor.to_sparse_csr()
        return cls(csr.crow_indices().long(), csr.col_indices().long(), _as_float(csr.values()), csr.shape[1])

    @classmethod
    def from_dense(cls, matrix: Tensor) -> Graph:
        """Build from a dense ``[num_nodes, num_cols]`` matrix; its nonzeros become entries."""
        if not isinstance(matrix, Tensor) or matrix.dim() != 2:
            raise ValueError("matrix: expected a 2-D dense torch.Tensor")
        row, col = matrix.nonzero(as_tuple=True)
        value = _as_float(matrix[row, col])
        return cls.from_coo(row, col, value, matrix.shape[0], matrix.shape[1])

    @classmethod
    def from_pyg(cls, data: Any) -> Graph:
        """Build from a torch_geometric ``Data`` (its ``edge_index`` and 1-D ``edge_weight`` or
        ``edge_attr`` when present)."""
        edge_index = getattr(data, "edge_index", None)
        if edge_index is None:
            raise ValueError("data: has no edge_index")
        weight = getattr(data, "edge_weight", None)
        if weight is None:
            attr = getattr(data, "edge_attr", None)
            weight = attr if attr is not None and attr.dim() == 1 else None
        return cls.from_edge_index(edge_index, data.num_nodes, weight)

    # ------------------------------------------------------------------ conversions
    def to(self, device: str | torch.device) -> Graph:
        """A copy on ``device`` (the caches move lazily: they are recomputed there)."""
        value = self.value.to(device) if self.value is not None else None
        return Graph(self.rowptr.to(device), self.col.to(device), value, self.num_cols, validate=False, norm=self.norm)

    def with_value(self, value: Tensor | None, norm: str | None = None) -> Graph:
        """The same structure with other edge weights (``[nnz]`` or None), tagged ``norm``.

        The structure's transpose, once computed, is shared rather than sorted again: the CSC and
        its permutation do not depend on the values, so every re-weighting of one structure (edge
        weights that carry a gradient, a per-batch normalisation) pays for one sort only."""
        graph = Graph(self.rowptr, self.col, value, self.num_cols, validate=False, norm=norm)
        if value is not None:
            graph._validate_value()
        if "transpose" in self._cache and not self.marked_symmetric:  # other values need not be symmetric
            transposed, perm = self._cache["transpose"], self._cache["transpose_perm"]
            weighted_t = Graph(
                transposed.rowptr, transposed.col, value[perm] if value is not None else None,
                transposed.num_cols, validate=False, norm=norm,
            )
            graph._cache.update(transpose=weighted_t, transpose_perm=perm)
            weighted_t._cache.update(transpose=graph, transpose_perm=transposed._cache["transpose_perm"])
        return graph

    def _validate_value(self) -> None:
        value = self.value
        if not isinstance(value, Tensor) or not value.is_floating_point() or value.shape != (self.nnz,):
            raise ValueError(f"value: expected a floating tensor of shape ({self.nnz},)")

    def to_index_dtype(self, dtype: torch.dtype) -> Graph:
        """The same graph with ``col`` stored as ``dtype`` (int32 halves index traffic)."""
        if dtype not in INDEX_DTYPES:
            raise ValueError(f"dtype: expected int32 or int64, got {dtype}")
        if dtype == torch.int32 and max(self.num_cols, self.nnz) >= 2**31:
            raise ValueError("dtype: int32 cannot index this graph")
        return Graph(self.rowptr, self.col.to(dtype), self.value, self.num_cols, validate=False, norm=self.norm)

    def row_index(self) -> Tensor:
        """int64 ``[nnz]``: the row of every entry (COO row indices)."""
        return self.memo("row", self._compute_row)

    def _compute_row(self) -> Tensor:
        counts = self.rowptr.diff()
        rows = torch.arange(self.num_nodes, device=self.device)
        return torch.repeat_interleave(rows, counts, output_size=self.nnz)

    def edge_index(self) -> Tensor:
        """int64 ``[2, nnz]`` in PyG's convention (row 0 = source = col, row 1 = target = row)."""
        return torch.stack([self.col.long(), self.row_index()])

    def to_scipy(self) -> scipy.sparse.csr_matrix:
        """A scipy CSR matrix (weights 1 where the graph is unweighted)."""
        import numpy as np
        import scipy.sparse as sp

        value = self.value.detach().cpu().numpy() if self.value is not None else np.ones(self.nnz, np.float32)
        return sp.csr_matrix(
            (value, self.col.cpu().numpy(), self.rowptr.cpu().numpy()), shape=self.shape
        )

    def to_dense(self, dtype: torch.dtype = torch.float32) -> Tensor:
        """The dense ``[num_nodes, num_cols]`` matrix (duplicate entries summed)."""
        dense = torch.zeros(self.shape, dtype=dtype, device=self.device)
        value = self.value.to(dtype) if self.value is not None else torch.ones(self.nnz, dtype=dtype, device=self.device)
        return dense.index_put_((self.row_index(), self.col.long()), value, accumulate=True)

    def to_torch_sparse(self) -> Tensor:
        """A torch sparse CSR tensor of the same matrix."""
        value = self.value if self.value is not None else torch.ones(self.nnz, device=self.device)
        return torch.sparse_csr_tensor(self.rowptr, self.col.long(), value, size=self.shape)

    def to_block_sparse(self, block: int = 32) -> BlockSparse:
        """The tile structure for the block-sparse (tensor-core) SpMM, cached per block size."""
        from ..blocksparse import BlockSparse

        return self.memo(
            f"block_sparse_{block}",
            lambda: BlockSparse.from_csr(self.rowptr, self.col, self.value, self.num_nodes, self.num_cols, block=block),
        )

    # ------------------------------------------------------------------ node order
    def permute(self, perm: Tensor) -> Graph:
        """The graph with its nodes renumbered: node ``i`` of the result is node ``perm[i]`` of
        this one; entries and weights move with their nodes, ``col`` keeps its dtype. Features
        move alike (``x[perm]``) and results come back with ``out[inverse]``, where
        ``inverse[perm] = arange(N)``. Square graphs only.

        Shapes: ``perm`` integer ``[num_nodes]``, a permutation of ``0 .. num_nodes - 1``. On
        CPU a compiled pass renumbers the CSR (when the counting-sort rule of :meth:`transpose`
        says numba pays), with no COO copy.
        """
        if not self.is_square:
            raise ValueError(f"permute: needs a square graph, got shape {self.shape}")
        n = self.num_nodes
        if not isinstance(perm, Tensor) or perm.dtype.is_floating_point or perm.dtype == torch.bool:
            raise ValueError("perm: expected an integer tensor")
        perm = perm.to(self.device, torch.int64)
        if perm.shape != (n,) or not torch.equal(torch.sort(perm).values, torch.arange(n, device=self.device)):
            raise ValueError(f"perm: expected a permutation of 0..{n - 1} of shape ({n},)")
        inverse = torch.empty_like(perm)
        inverse[perm] = torch.arange(n, device=self.device)
        if self._counting_sort_pays():  # one compiled pass, no COO: the same entries in the same order
            from .kernels import csr_permute

            rowptr, col, pos = csr_permute(self.rowptr.numpy(), self.col.numpy(), perm.numpy(), inverse.numpy(),
                                           self.value is not None)
            value = self.value[torch.from_numpy(pos)] if self.value is not None else None
            return Graph(torch.from_numpy(rowptr), torch.from_numpy(col), value, n, validate=False, norm=self.norm)
        graph = Graph.from_coo(
            inverse[self.row_index()], inverse[self.col.long()], self.value, n, n, norm=self.norm
        )
        return graph if self.col.dtype == torch.int64 else graph.to_index_dtype(self.col.dtype)

    def rcm_order(self) -> Tensor:
        """Reverse Cuthill-McKee order for :meth:`permute`: :func:`sparsegnn.graph.rcm_order`."""
        from .order import rcm_order

        return rcm_order(self)

    def metis_order(self, num_parts: int | None = None) -> Tensor:
        """METIS part order for :meth:`permute`: :func:`sparsegnn.graph.metis_order`."""
        from .order import metis_order

        return metis_order(self, num_parts)

    def symmetric_pattern(self, cache: bool = True) -> scipy.sparse.csr_matrix:
        """``A + A^T`` as a 0/1 scipy CSR without the diagonal (the undirected structure that
        METIS and RCM take), cached; ``cache=False``: a cached one or a new one, not kept (for a
        one-off use: at 4 x 10^7 entries it holds 0.5 GB). Square graphs only."""
        if not self.is_square:
            raise ValueError(f"symmetric_pattern: needs a square graph, got shape {self.shape}")

        def compute() -> scipy.sparse.csr_matrix:
            pattern = self.with_value(None).to_scipy()  # ones: weights cannot cancel in the sum
            sym = (pattern + pattern.T).tocsr()
            sym.setdiag(0)
            sym.eliminate_zeros()
            sym.data[:] = 1
            return sym

        if not cache and "symmetric_pattern" not in self._cache:
            return compute()
        return self.memo("symmetric_pattern", compute)

    # ------------------------------------------------------------------ cached derived data
    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``, computed once per graph and ``key`` and kept with the graph (the
        transpose, degrees, normalisations, partitions): derived data lives and dies with it."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def transpose(self) -> Graph:
        """The transposed graph (CSC of this one, as a CSR), cached.

        Its ``perm`` (see :meth:`transpose_perm`) maps each transposed entry to its position here,
        so ``transpose().value == value[transpose_perm()]``.
        """
        return self.memo("transpose", self._compute_transpose)

    def transpose_perm(self) -> Tensor:
        """int64 ``[nnz]``: position in this graph of every entry of :meth:`transpose`."""
        if "transpose_perm" not in self._cache:
            if self.marked_symmetric:  # its own transpose, but where each entry's mirror lies is not known yet
                self._cache["transpose_perm"] = self._transpose_arrays()[2]
            else:
                self.transpose()
        return self._cache["transpose_perm"]

    def mark_symmetric(self) -> Graph:
        """Record that this square graph equals its transpose, values included (the caller's word:
        not checked), and return it. :meth:`transpose` is then the graph itself, with no sort,
        and ``ops.spmm``'s backward reads ``A^T g`` as ``A g``; :meth:`transpose_perm` (each
        entry's mirror, which sddmm's backward needs) is still computed when asked. A ClusterGCN
        batch of an undirected graph, GCN-normalised, is one."""
        if self.num_nodes != self.num_cols:
            raise ValueError(f"mark_symmetric: needs a square graph, got shape {self.shape}")
        self._cache["transpose"] = self
        return self

    @property
    def marked_symmetric(self) -> bool:
        """Whether :meth:`mark_symmetric` was called on this graph."""
        return self._cache.get("transpose") is self

    def _counting_sort_pays(self) -> bool:
        """Whether the compiled counting sort (O(nnz), no row index kept; the same result as the
        stable sort) runs: CPU, not tracing, and numba loaded already (the samplers load it) or a
        graph large enough (4M entries) that a sort costs more than importing numba (~0.4 s)."""
        if self.device.type != "cpu" or torch.compiler.is_compiling():
            return False
        return "numba" in sys.modules or self.nnz >= 1 << 22

    def _transpose_arrays(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(colptr, row, perm)``: the CSC of this graph and each CSC entry's position here."""
        if self._counting_sort_pays():
            from .kernels import csr_transpose

            arrays = csr_transpose(self.rowptr.numpy(), self.col.numpy(), self.num_cols)
            return tuple(torch.from_numpy(a) for a in arrays)
        sorted_col, perm = torch.sort(self.col, stable=True)
        boundaries = torch.arange(self.num_cols + 1, device=self.device, dtype=self.col.dtype)
        colptr = torch.searchsorted(sorted_col, boundaries).long()
        return colptr, self.row_index()[perm].to(self.col.dtype), perm

    def _compute_transpose(self) -> Graph:
        colptr, t_col, perm = self._transpose_arrays()
        value = self.value[perm] if self.value is not None else None
        self._cache["transpose_perm"] = perm
        transposed = Graph(colptr, t_col, value, self.num_nodes, validate=False, norm=self.norm)
        transposed._cache["transpose"] = self
        inverse = torch.empty_like(perm)
        inverse[perm] = torch.arange(perm.numel(), device=self.device)  # a permutation's inverse, no sort
        transposed._cache["transpose_perm"] = inverse
        return transposed

    def in_degree(self) -> Tensor:
        """int64 ``[num_nodes]``: entries per row (messages each target receives)."""
        return self.memo("in_degree", lambda: self.rowptr.diff())

    def out_degree(self) -> Tensor:
        """int64 ``[num_cols]``: entries per column (messages each source sends)."""
        return self.memo(
            "out_degree",
            lambda: torch.zeros(self.num_cols, dtype=torch.int64, device=self.device).index_add_(
                0, self.col.long(), torch.ones_like(self.col, dtype=torch.int64)
            ),
        )

    def has_duplicates(self) -> bool:
        """Whether some (row, col) pair is stored more than once."""

        def compute() -> bool:
            key = self.row_index() * max(self.num_cols, 1) + self.col.long()
            return bool(torch.unique(key).numel() < key.numel())

        return self.memo("has_duplicates", compute)

    def degree_stats(self) -> dict[str, float]:
        """Mean, max and coefficient of variation of the row lengths (for backend choice)."""

        def compute() -> dict[str, float]:
            deg = self.in_degree().double()
            if deg.numel() == 0:
                return {"mean": 0.0, "max": 0.0, "cv": 0.0}
            mean = float(deg.mean())
            return {"mean": mean, "max": float(deg.max()), "cv": float(deg.std(unbiased=False) / mean) if mean else 0.0}

        return self.memo("degree_stats", compute)

    def gcn_norm(self, add_self_loops: bool = True, improved: bool = False,
                 index_dtype: torch.dtype | None = None) -> Graph:
        """A new graph with GCN's weights ``D^-1/2 (A + I) D^-1/2`` (Kipf & Welling).

        Self loops follow PyG's ``add_remaining_self_loops``: every node gets exactly one, with
        weight 1 (2 when ``improved``) unless it already had one, whose weight is kept. Degrees
        are row sums of the (weighted) adjacency, as in PyG's ``gcn_norm``. ``index_dtype``: the
        result's column dtype (int32 or int64; default this graph's). Cached per arguments.

        On CPU, with loops added and columns ascending in each row (every CSR this package
        builds), one compiled pass computes it (``graph.kernels.gcn_normalise``, when the
        counting-sort rule of :meth:`transpose` says numba pays), leaving no row index behind.
        """
        if not self.is_square:
            raise ValueError(f"gcn_norm: needs a square graph, got shape {self.shape}")
        index_dtype = self.col.dtype if index_dtype is None else index_dtype
        if index_dtype not in (torch.int32, torch.int64):
            raise ValueError(f"index_dtype: expected torch.int32 or torch.int64, got {index_dtype}")
        return self.memo(f"gcn_norm_{add_self_loops}_{improved}_{index_dtype}",
                         lambda: self._compute_gcn_norm(add_self_loops, improved, index_dtype))

    def _compute_gcn_norm(self, add_self_loops: bool, improved: bool, index_dtype: torch.dtype) -> Graph:
        plain = self.value is None or (self.value.dtype in (torch.float32, torch.float64) and not self.value.requires_grad)
        if add_self_loops and plain and self._counting_sort_pays():  # weights that need a gradient: torch ops
            graph = compiled_gcn_norm(self.rowptr.numpy(), self.col.numpy(), self.value, 2.0 if improved else 1.0)
            if graph is not None:
                return graph.to_index_dtype(index_dtype) if graph.col.dtype != index_dtype else graph
        dtype = self.value.dtype if self.value is not None else torch.float32
        row = self._cache["row"] if "row" in self._cache else self._compute_row()  # not kept: nnz int64s
        col = self.col.long()
        value = self.value if self.value is not None else torch.ones(self.nnz, dtype=dtype, device=self.device)
        if add_self_loops:
            fill = 2.0 if improved else 1.0
            is_loop = row == col
            loop_weight = torch.full((self.num_nodes,), fill, dtype=dtype, device=self.device)
            loop_weight[row[is_loop]] = value[is_loop]
            keep = ~is_loop
            nodes = torch.arange(self.num_nodes, device=self.device)
            row = torch.cat([row[keep], nodes])
            col = torch.cat([col[keep], nodes])
            value = torch.cat([value[keep], loop_weight])
        deg = torch.zeros(self.num_nodes, dtype=dtype, device=self.device).index_add_(0, row, value)
        dinv = deg.pow(-0.5)
        dinv.masked_fill_(torch.isinf(dinv), 0.0)
        value = dinv[row] * value * dinv[col]
        graph = Graph.from_coo(row, col, value, self.num_nodes, self.num_cols, norm="gcn")
        return graph.to_index_dtype(index_dtype) if index_dtype != torch.int64 else graph


def compiled_gcn_norm(rowptr: np.ndarray, col: np.ndarray, value: Tensor | None, fill: float = 1.0) -> Graph | None:
    """:meth:`Graph.gcn_norm` with loops of a square CSR (numpy int64 ``rowptr``, int32 / int64
    ``col``; ``value`` float ``[nnz]`` or None for ones) by the compiled pass
    (``kernels.gcn_normalise``: missing loops weigh ``fill``), columns in ``col``'s dtype, tagged
    ``"gcn"``; or None where the pass does not apply (columns not ascending in a row, or a loop
    stored twice)."""
    from .kernels import gcn_normalise

    weights = value.numpy() if value is not None else np.ones(col.shape[0], dtype=np.float32)
    ok, out_ptr, out_col, out_value = gcn_normalise(rowptr, col, weights, fill)
    if not ok:
        return None
    return Graph(torch.from_numpy(out_ptr), torch.from_numpy(out_col), torch.from_numpy(out_value), validate=False,
                 norm="gcn")


def _as_float(value: Tensor) -> Tensor:
    return value if value.is_floating_point() else value.float()
