"""Block-sparse (BSR) view of a CSR adjacency, for tensor-core SpMM (backend ``triton_bsr``).

Torch only (graph layer). The adjacency [num_rows, num_cols] is cut into ``block x block`` tiles;
every tile holding at least one stored entry is kept as a dense tile, all others are dropped:

    block_rowptr  int64 [R + 1]        R = ceil(num_rows / block); tiles of block-row r are
                                        block_rowptr[r]:block_rowptr[r+1]
    block_col     int64 [T]            block-column of each tile, increasing within a block-row
    tiles         [T, block, block]    dense values (the CSR values, or 1 per stored entry when
                                        the CSR has none; duplicate entries add up, as they do
                                        in a sum SpMM); rows/columns past the matrix edge are 0
    tile_nnz      int64 [T]            distinct (row, col) positions stored in each tile

Fill ratio = distinct stored positions / (T * block^2): the fraction of the multiply-adds done on
the tiles that are real edges. Reordering (METIS, RCM) raises it by gathering clusters into
diagonal blocks; :meth:`BlockSparse.stats` reports it with the tile count and the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

BLOCKS = (16, 32, 64)


@dataclass(frozen=True)
class BlockSparse:
    """A BSR adjacency with dense ``block x block`` tiles (attributes in the module docstring)."""

    block_rowptr: torch.Tensor
    block_col: torch.Tensor
    tiles: torch.Tensor
    tile_nnz: torch.Tensor
    num_rows: int
    num_cols: int
    block: int
    nnz: int

    @property
    def num_tiles(self) -> int:
        return int(self.block_col.numel())

    @property
    def num_block_rows(self) -> int:
        return int(self.block_rowptr.numel()) - 1

    @property
    def fill_ratio(self) -> float:
        """Distinct stored positions over tile area (0.0 when there are no tiles)."""
        area = self.num_tiles * self.block * self.block
        return float(self.tile_nnz.sum().item()) / area if area else 0.0

    @property
    def device(self) -> torch.device:
        return self.tiles.device

    def stats(self) -> dict[str, float | int]:
        """Tile statistics: counts, fill ratio (mean and quartiles per tile), tile bytes."""
        b2 = self.block * self.block
        fills = self.tile_nnz.to(torch.float64) / b2
        q = (
            torch.quantile(fills, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64,
                                               device=fills.device)).tolist()
            if fills.numel()
            else [0.0, 0.0, 0.0]
        )
        return {
            "block": self.block,
            "num_rows": self.num_rows,
            "num_cols": self.num_cols,
            "nnz": self.nnz,
            "num_tiles": self.num_tiles,
            "fill_ratio": self.fill_ratio,
            "tile_fill_p25": q[0],
            "tile_fill_p50": q[1],
            "tile_fill_p75": q[2],
            "tile_bytes": self.tiles.numel() * self.tiles.element_size(),
        }

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None
           ) -> BlockSparse:
        """A copy with tiles of ``dtype`` and/or everything on ``device``."""
        dev = self.tiles.device if device is None else torch.device(device)
        return BlockSparse(
            self.block_rowptr.to(dev), self.block_col.to(dev),
            self.tiles.to(device=dev, dtype=dtype or self.tiles.dtype), self.tile_nnz.to(dev),
            self.num_rows, self.num_cols, self.block, self.nnz,
        )

    def to_dense(self) -> torch.Tensor:
        """The adjacency as a dense [num_rows, num_cols] tensor (for tests and small graphs)."""
        b = self.block
        R = self.num_block_rows
        C = max(1, -(-self.num_cols // b))
        dense = torch.zeros(R * b, C * b, dtype=self.tiles.dtype, device=self.device)
        counts = self.block_rowptr[1:] - self.block_rowptr[:-1]
        brow = torch.repeat_interleave(torch.arange(R, device=self.device), counts)
        for t in range(self.num_tiles):
            r, c = int(brow[t]), int(self.block_col[t])
            dense[r * b:(r + 1) * b, c * b:(c + 1) * b] = self.tiles[t]
        return dense[: self.num_rows, : self.num_cols]

    @staticmethod
    def from_csr(
        rowptr: torch.Tensor,
        col: torch.Tensor,
        value: torch.Tensor | None,
        num_rows: int,
        num_cols: int,
        block: int = 32,
        dtype: torch.dtype | None = None,
        max_tile_bytes: int | None = None,
    ) -> BlockSparse:
        """Build the tiles of a CSR adjacency.

        Args:
            rowptr: int64 [num_rows + 1]; col: int32|int64 [nnz] (validated by the caller).
            value: [nnz] float or None (every stored entry then counts 1).
            block: tile side, 16, 32 or 64.
            dtype: tile dtype (default: value's dtype, or float32).
            max_tile_bytes: raise ValueError instead of allocating more tile memory than this
                (a scattered graph makes about one mostly empty tile per edge).
        """
        if block not in BLOCKS:
            raise ValueError(f"block: expected one of {BLOCKS}, got {block!r}")
        if rowptr.numel() != num_rows + 1:
            raise ValueError(f"rowptr: expected {num_rows + 1} entries, got {rowptr.numel()}")
        device = rowptr.device
        if dtype is None:
            dtype = value.dtype if value is not None else torch.float32
        nnz = int(col.numel())
        R = -(-num_rows // block) if num_rows > 0 else 0
        C = max(1, -(-num_cols // block))
        deg = rowptr[1:] - rowptr[:-1]
        rows = torch.repeat_interleave(torch.arange(num_rows, device=device), deg,
                                       output_size=nnz)
        c64 = col.to(torch.int64)
        key = (rows // block) * C + c64 // block
        uniq, tile_of = torch.unique(key, sorted=True, return_inverse=True)
        T = int(uniq.numel())
        need = T * block * block * torch.empty(0, dtype=dtype).element_size()
        if max_tile_bytes is not None and need > max_tile_bytes:
            raise ValueError(
                f"block: {T} tiles of {block}x{block} would take {need / 2**30:.2f} GiB "
                f"(fill ratio {nnz / max(T * block * block, 1):.4f}, limit "
                f"{max_tile_bytes / 2**30:.2f} GiB); reorder the graph or use a row-wise backend"
            )
        tiles = torch.zeros(T, block, block, dtype=dtype, device=device)
        vals = (value.to(dtype) if value is not None
                else torch.ones(nnz, dtype=dtype, device=device))
        tiles.index_put_((tile_of, rows % block, c64 % block), vals, accumulate=True)
        # distinct positions per tile (duplicate edges count once in the fill ratio)
        pos = (tile_of * block + rows % block) * block + c64 % block
        upos = torch.unique(pos)
        tile_nnz = torch.bincount(upos // (block * block), minlength=T)
        block_rowptr = torch.zeros(R + 1, dtype=torch.int64, device=device)
        if T:
            torch.cumsum(torch.bincount(uniq // C, minlength=R), 0, out=block_rowptr[1:])
        return BlockSparse(block_rowptr, (uniq % C).contiguous(), tiles, tile_nnz,
                           int(num_rows), int(num_cols), int(block), nnz)
