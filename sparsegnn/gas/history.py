"""Historical embeddings (Fey et al., "GNNAutoScale", ICML 2021): one ``[N, C]`` table per
hidden layer, holding every node's most recent output of that layer.

A :class:`History` stores its rows as float32, float16, bfloat16 or int8. Pulls always return
float32 (int8 rows are dequantised); pushes take any float tensor and round it to the storage.
Per-row symmetric int8: row ``i`` is stored as ``q_i = round(x_i / s_i)`` in ``[-127, 127]``
with ``s_i = max_j |x_ij| / 127`` kept as bfloat16, rounded *up* so that ``|x_i / s_i| <= 127``
(no clipping). The round trip error is then bounded per row:

    |x_ij - s_i q_ij| <= s_i / 2 <= max_j |x_ij| / 254 * (1 + 2^-7)

and float16 / bfloat16 round to nearest, ``|x - x̂| <= 2^-11 |x|`` / ``2^-8 |x|`` (normal
range). An int8 history takes ``N (C + 2)`` bytes: ``(C + 2) / 4C`` of float32, at most 0.3x
from ``C = 10`` channels on.

Rows are addressed by id (``pull(n_id)`` / ``push(x, n_id)``) or, for GNNAutoScale's
contiguous METIS parts, by chunks (``offsets`` / ``counts``: rows ``offsets[k] ..
offsets[k] + counts[k] - 1`` in order, the rows of ``x`` concatenated chunk by chunk), which
are plain slice copies. With ``pin_memory`` (the default when CUDA is available and the history
lives on the host) the storage is page-locked, so host-device copies can run asynchronously
(:mod:`sparsegnn.gas.transfer`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int8": torch.int8,
}
SCALE_DTYPE = torch.bfloat16
QMAX = 127


def storage_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """The storage dtype named by ``dtype`` (a :data:`DTYPES` key or one of its values)."""
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    raise ValueError(f"dtype: expected one of {tuple(DTYPES)}, got {dtype!r}")


def quantize_rows(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-row symmetric int8 of a float ``[n, C]``: ``(q int8 [n, C], scale bfloat16 [n])``
    with ``x ≈ scale[:, None] * q`` (the scale rounded up, see the module docstring; a zero
    row has scale 0)."""
    x = x.float()
    scale = (x.abs().amax(1) / QMAX) if x.size(1) else x.new_zeros(x.size(0))
    stored = scale.to(SCALE_DTYPE)
    low = stored.float() < scale
    stored = torch.where(low, torch.nextafter(stored, stored.new_full((), float("inf"))), stored)
    safe = stored.float().masked_fill(stored == 0, 1.0)
    q = torch.round(x / safe[:, None]).clamp_(-QMAX, QMAX).to(torch.int8)
    return q, stored


class History:
    """``num_nodes`` rows of ``channels`` historical embeddings.

    Args:
        num_nodes: rows (``>= 1``).
        channels: columns (``>= 1``): the width of the layer output it stores.
        dtype: storage, ``"float32"``, ``"float16"``, ``"bfloat16"`` or ``"int8"`` (or the
            torch dtype).
        device: where the rows live (``"cpu"``: host memory, PyGAS's choice for large graphs).
        pin_memory: page-lock host storage (default: when CUDA is available and ``device`` is
            the CPU).

    Attributes:
        emb: ``[num_nodes, channels]`` of ``dtype`` (int8: the quantised rows).
        scale: bfloat16 ``[num_nodes]`` per-row scales (int8 only; else ``None``).

    A History is not a module and holds no parameters or buffers: its rows are state of the
    training method, checkpointed by it (:meth:`state`), not model weights, and
    DistributedDataParallel must not broadcast them every step.
    """

    def __init__(
        self,
        num_nodes: int,
        channels: int,
        dtype: str | torch.dtype = "float32",
        device: str | torch.device = "cpu",
        pin_memory: bool | None = None,
    ) -> None:
        for name, value in (("num_nodes", num_nodes), ("channels", channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
        self.num_nodes, self.channels = num_nodes, channels
        self.dtype = storage_dtype(dtype)
        device = torch.device(device)
        if pin_memory is None:
            pin_memory = device.type == "cpu" and torch.cuda.is_available()
        pin = bool(pin_memory) and device.type == "cpu"
        self.emb = torch.zeros(num_nodes, channels, dtype=self.dtype, device=device, pin_memory=pin)
        self.scale = (torch.zeros(num_nodes, dtype=SCALE_DTYPE, device=device, pin_memory=pin)
                      if self.dtype == torch.int8 else None)

    @property
    def device(self) -> torch.device:
        return self.emb.device

    @property
    def nbytes(self) -> int:
        """Bytes of storage (rows and scales)."""
        size = self.emb.numel() * self.emb.element_size()
        return size + (0 if self.scale is None else self.scale.numel() * self.scale.element_size())

    def __repr__(self) -> str:
        return f"History({self.num_nodes}, {self.channels}, dtype={str(self.dtype).replace('torch.', '')}, device={self.device})"

    def reset(self) -> None:
        """Zero every row."""
        self.emb.zero_()
        if self.scale is not None:
            self.scale.zero_()

    # -- checks ------------------------------------------------------------------------------
    def check_ids(self, n_id: Tensor) -> Tensor:
        """``n_id`` as int64 on the history's device, or a ValueError (not 1-D integer, or out of
        range)."""
        if not isinstance(n_id, Tensor) or n_id.dtype.is_floating_point or n_id.dtype == torch.bool or n_id.dim() != 1:
            raise ValueError("n_id: expected a 1-D integer tensor of row ids")
        if n_id.numel() and (int(n_id.min()) < 0 or int(n_id.max()) >= self.num_nodes):
            raise ValueError(f"n_id: ids must lie in [0, {self.num_nodes}), found range "
                             f"[{int(n_id.min())}, {int(n_id.max())}]")
        return n_id.to(self.device, torch.int64)

    def _chunks(self, offsets: Tensor, counts: Tensor) -> list[tuple[int, int]]:
        offsets, counts = torch.as_tensor(offsets).flatten().tolist(), torch.as_tensor(counts).flatten().tolist()
        if len(offsets) != len(counts):
            raise ValueError(f"offsets, counts: expected equal lengths, got {len(offsets)} and {len(counts)}")
        for offset, count in zip(offsets, counts):
            if count < 0 or offset < 0 or offset + count > self.num_nodes:
                raise ValueError(f"offsets, counts: chunk [{offset}, {offset + count}) is outside "
                                 f"[0, {self.num_nodes})")
        return list(zip(offsets, counts))

    def check_rows(self, x: Tensor, rows: int) -> Tensor:
        """``x`` detached on the history's device, or a ValueError (not a 2-D float tensor, a
        channel mismatch with the history, or not ``rows`` rows)."""
        if not isinstance(x, Tensor) or not x.dtype.is_floating_point or x.dim() != 2:
            raise ValueError("x: expected a 2-D float tensor")
        if x.size(1) != self.channels:
            raise ValueError(f"x: the history has {self.channels} channels, the layer output has {x.size(1)}")
        if x.size(0) != rows:
            raise ValueError(f"x: expected {rows} rows for the ids given, got {x.size(0)}")
        return x.detach().to(self.device)

    # -- storage <-> float32 ------------------------------------------------------------------
    def _decode(self, emb: Tensor, scale: Tensor | None) -> Tensor:
        if scale is None:
            return emb.float()
        return emb.float() * scale.float()[:, None]

    def _store(self, rows: slice | Tensor, x: Tensor) -> None:
        if self.scale is None:
            self.emb[rows] = x.to(self.dtype)
            return
        q, scale = quantize_rows(x)
        self.emb[rows], self.scale[rows] = q, scale

    # -- the API ------------------------------------------------------------------------------
    def pull(self, n_id: Tensor | None = None) -> Tensor:
        """float32 ``[len(n_id), C]``: the rows ``n_id`` (``None``: all rows)."""
        if n_id is None:
            return self._decode(self.emb, self.scale)
        n_id = self.check_ids(n_id)
        return self._decode(self.emb.index_select(0, n_id),
                            None if self.scale is None else self.scale.index_select(0, n_id))

    def push(self, x: Tensor, n_id: Tensor | None = None) -> None:
        """Store float ``[len(n_id), C]`` ``x`` as the rows ``n_id`` (``None``: all rows; ``x``
        is detached)."""
        if n_id is None:
            self._store(slice(None), self.check_rows(x, self.num_nodes))
            return
        n_id = self.check_ids(n_id)
        self._store(n_id, self.check_rows(x, n_id.numel()))

    def pull_chunks(self, offsets: Tensor, counts: Tensor) -> Tensor:
        """float32 ``[sum(counts), C]``: the chunks' rows, concatenated in order."""
        chunks = self._chunks(offsets, counts)
        emb = torch.cat([self.emb[o:o + c] for o, c in chunks]) if chunks else self.emb[:0]
        scale = None
        if self.scale is not None:
            scale = torch.cat([self.scale[o:o + c] for o, c in chunks]) if chunks else self.scale[:0]
        return self._decode(emb, scale)

    def push_chunks(self, x: Tensor, offsets: Tensor, counts: Tensor) -> None:
        """Store ``x`` (``[sum(counts), C]``, chunk after chunk) as the chunks' rows."""
        chunks = self._chunks(offsets, counts)
        x = self.check_rows(x, sum(c for _, c in chunks))
        start = 0
        for offset, count in chunks:
            self._store(slice(offset, offset + count), x[start:start + count])
            start += count

    def state(self) -> dict[str, Any]:
        """The rows (and scales) as tensors on the CPU, for a checkpoint."""
        return {"emb": self.emb.cpu(), "scale": None if self.scale is None else self.scale.cpu()}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` returned (same size and dtype, or a ValueError)."""
        emb, scale = state.get("emb"), state.get("scale")
        if not isinstance(emb, Tensor) or emb.shape != self.emb.shape or emb.dtype != self.dtype:
            raise ValueError(f"state: expected history rows {tuple(self.emb.shape)} of {self.dtype}, got "
                             f"{None if not isinstance(emb, Tensor) else (tuple(emb.shape), emb.dtype)}")
        if (scale is None) != (self.scale is None) or (scale is not None and scale.shape != self.scale.shape):
            raise ValueError("state: the history's per-row scales do not match its dtype")
        self.emb.copy_(emb)
        if self.scale is not None:
            self.scale.copy_(scale)
