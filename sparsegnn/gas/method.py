"""GNNAutoScale training (Fey et al., ICML 2021) as a :class:`~sparsegnn.train.Method`.

The graph is cut into ``num_parts`` METIS parts once (cached on disk with ``cache_dir``); each
epoch the parts are shuffled and taken ``batch_size`` at a time, and a batch is those parts'
nodes with their 1-hop halo (:mod:`.halo`) on the adjacency normalised once with full-graph
degrees. The model is the :class:`~sparsegnn.gas.GASModel` that :meth:`GAS.wrap` makes of the
built GCN / SAGE / EGC. Before the first step the histories are warm-started by one layer-wise
pass (:meth:`GASModel.inference`); evaluation is that pass too, which refreshes every history
row each epoch, as PyGAS's test step does. A batch without a training node is skipped.

PyGAS's regularisers, as its Planetoid configurations set them:

- gradient clipping: total 2-norm 1.0 on Cora and PubMed, none on CiteSeer (PyGAS's
  ``grad_norm``; ``grad_clip``, which :func:`~sparsegnn.train.fit_recipe` hands to the loop);
- separate weight decay for the first layer: ``first_layer_decay_only`` of the recipe
  (5e-4 on the first conv, 0 on the others: PyGAS's ``reg_weight_decay`` /
  ``nonreg_weight_decay``), applied by the recipe's parameter groups; :data:`PYGAS_RECIPE`
  sets it for every model (the GCN recipe has it already; EGC's decays both layers, and under
  GAS with both decayed Cora's seed 0 never leaves the uniform prediction);
- selection: the first epoch of the best validation accuracy (:data:`PYGAS_RECIPE`).

Checkpoints keep the histories (:meth:`GAS.state_dict`), so a resumed run continues with the
rows it stopped with. Under torchrun each rank trains its share of the batches and pushes only
its targets' rows; :meth:`GAS.end_epoch` then makes the histories agree: every row takes the
value of the rank whose share held its batch this epoch (one all-reduce per storage tensor, the
other ranks contributing zeros). Rank 0 then evaluates, which refreshes its copy, and at the
start of the next epoch broadcasts it to every rank, so all ranks train from the rows a
checkpoint (rank 0's) holds and a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from ..graph import Graph
from ..nn import LayerStack
from ..sampling.cluster import check_parts, shuffled_groups
from ..sampling.common import SampledMethod, take_rows
from ..sampling.partition_cache import cached_partition
from ..train import Batch, batch_loss
from .halo import GASBatch, HaloBatcher
from .history import storage_dtype
from .model import GASModel

#: PyGAS's Cora settings (GCN 2 x 16): 40 METIS parts, 10 per batch; gradient clipping at 1.0
DEFAULTS = {"num_parts": 40, "batch_size": 10}
GRAD_CLIP = 1.0
#: PyGAS's Planetoid settings (``small_benchmark/conf/model/gcn.yaml``): METIS parts, parts per
#: batch and gradient clipping (``grad_norm``; ``null`` on CiteSeer): :class:`GAS` arguments.
PYGAS = {
    "cora": {"num_parts": 40, "batch_size": 10, "grad_clip": 1.0},
    "citeseer": {"num_parts": 24, "batch_size": 8, "grad_clip": None},
    "pubmed": {"num_parts": 8, "batch_size": 4, "grad_clip": 1.0},
}
#: PyGAS's training settings as :class:`~sparsegnn.train.Recipe` overrides, for every model:
#: weight decay on the first layer only (``reg_weight_decay`` on all layers but the last,
#: ``nonreg_weight_decay = 0`` on the last: the same for two layers) and the first epoch of the
#: best validation accuracy (``if val_acc > best_val_acc`` in ``small_benchmark/main.py``).
PYGAS_RECIPE = {"first_layer_decay_only": True, "select": "val-first"}


class GAS(SampledMethod):
    """GNNAutoScale's batches, histories and layer-wise evaluation.

    Args:
        x, graph, y, train_mask, seed, num_workers: as
            :class:`~sparsegnn.sampling.common.SampledMethod`.
        num_parts: METIS parts, in ``[1, N]`` (PyGAS: Cora 40, CiteSeer 24, PubMed 8).
        batch_size: parts per batch (PyGAS: Cora 10, CiteSeer 8, PubMed 4).
        history_dtype: ``"float32"``, ``"float16"``, ``"bfloat16"`` or ``"int8"``.
        history_device: where the histories live (default: the host).
        cache_dir: folder of the on-disk partition cache (``None``: in memory only).
        recursive: METIS recursive bisection instead of k-way.
        grad_clip: total gradient 2-norm the loop clips to (``None``: no clipping; PyGAS: 1.0,
            CiteSeer none, see :data:`PYGAS`).

    A batch is a :class:`~sparsegnn.gas.halo.GASBatch`: ``x [t + h, F]``, the ``[t, t + h]``
    graph, ``y`` and ``loss_rows`` of its training targets, ``node_ids [t + h]``, ``halo``.
    """

    def __init__(
        self,
        x: Tensor,
        graph: Graph,
        y: Tensor,
        train_mask: Tensor,
        num_parts: int = DEFAULTS["num_parts"],
        batch_size: int = DEFAULTS["batch_size"],
        history_dtype: str = "float32",
        history_device: str | torch.device = "cpu",
        cache_dir: str | os.PathLike | None = None,
        recursive: bool = False,
        grad_clip: float | None = GRAD_CLIP,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(x, graph, y, train_mask, seed, num_workers)
        self.num_parts, self.batch_size = check_parts(graph, num_parts, batch_size)
        if grad_clip is not None and not (isinstance(grad_clip, (int, float)) and grad_clip > 0):
            raise ValueError(f"grad_clip: expected a number > 0 or None, got {grad_clip!r}")
        self.grad_clip = None if grad_clip is None else float(grad_clip)
        self.history_dtype = storage_dtype(history_dtype)
        self.history_device = torch.device(history_device)
        self.partition = cached_partition(graph, self.num_parts, cache_dir, recursive)
        self.train_mask = train_mask
        self.model: GASModel | None = None
        self.batcher: HaloBatcher | None = None
        self.warm = False

    # -- the model --------------------------------------------------------------------------
    def wrap(self, model: torch.nn.Module) -> GASModel:
        """The :class:`GASModel` of the built ``model`` (a GCN, SAGE or EGC) on this method's
        partition and ``batch_size``, histories of ``history_dtype``."""
        if not isinstance(model, LayerStack):
            raise TypeError(f"model: GAS wraps a GCN, SAGE or EGC, got {type(model).__name__}")
        return GASModel(model, self.partition, self.batch_size, self.history_dtype, self.history_device)

    def bind(self, model: torch.nn.Module) -> None:
        if not isinstance(model, GASModel):
            raise TypeError(f"model: GAS trains a GASModel (GAS.wrap(model)), got {type(model).__name__}")
        if model.num_nodes != self.graph.num_nodes:
            raise ValueError(f"model: its histories have {model.num_nodes} rows, the graph {self.graph.num_nodes} nodes")
        if model.partition is not self.partition and not torch.equal(model.partition.part, self.partition.part):
            raise ValueError("model: its histories are laid out by another partition (GAS.wrap(model) uses this one)")
        self.model = model
        self.batcher = model.halo_batcher(self.graph)

    def _bound(self) -> GASModel:
        if self.model is None:
            raise RuntimeError("GAS: bind(model) first (the Trainer does)")
        return self.model

    # -- batches ----------------------------------------------------------------------------
    def plan(self, epoch: int) -> list[Tensor]:
        """The epoch's groups of ``batch_size`` shuffled parts."""
        return shuffled_groups(self.seed, epoch, self.num_parts, self.batch_size)

    def make_batch(self, epoch: int, index: int, item: Tensor) -> Batch | None:
        self._bound()
        targets = torch.cat([self.partition.nodes(int(p)) for p in item])
        loss_rows = self.train_mask[targets].nonzero().flatten()
        if loss_rows.numel() == 0:
            return None
        halo = self.batcher(item)
        return GASBatch(take_rows(self.x, halo.node_ids), halo.graph, self.y[targets[loss_rows]],
                        loss_rows=loss_rows, node_ids=halo.node_ids, halo=halo)

    def batches(self, epoch: int) -> Iterable[Batch]:
        if not self.warm:  # PyGAS fills the histories with one full pass before training
            self.predict(self._bound())
            self.warm = True
        if self._distributed():  # rank 0's copy, refreshed by its evaluation, for every rank
            for storage in self._storages():
                bits = as_bits(storage)
                wide = bits.to(torch.int32)  # gloo moves no 8- or 16-bit integers
                dist.broadcast(wide, src=0)
                bits.copy_(wide)
        return super().batches(epoch)

    def _distributed(self) -> bool:
        return self.world > 1 and dist.is_available() and dist.is_initialized()

    def _storages(self) -> list[Tensor]:
        model = self._bound()
        model.transfers.wait_all()
        return [t for h in model.histories for t in (h.emb, h.scale) if t is not None]

    def loss(self, model: torch.nn.Module, batch: Batch) -> Tensor:
        return batch_loss(model(batch.x, batch.graph, batch.halo), batch)

    def predict(self, model: torch.nn.Module) -> Tensor:
        return self._bound().inference(self)

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        model = self._bound()
        model.transfers.wait_all()
        return {"warm": self.warm, "histories": [h.state() for h in model.histories]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        model = self._bound()
        histories = state.get("histories")
        if not isinstance(histories, list) or len(histories) != len(model.histories):
            raise ValueError(f"state: expected {len(model.histories)} histories, got "
                             f"{len(histories) if isinstance(histories, list) else histories!r}")
        model.transfers.wait_all()
        for history, saved in zip(model.histories, histories):
            history.load_state(saved)
        self.warm = bool(state.get("warm", True))

    def end_epoch(self, epoch: int) -> None:
        if not self._distributed():
            return
        owner = torch.zeros(self.graph.num_nodes, dtype=torch.int64)
        for index, parts in enumerate(self.plan(epoch)):
            for p in parts.tolist():
                owner[self.partition.partptr[p]:self.partition.partptr[p + 1]] = index % self.world
        mine = owner == self.rank
        for storage in self._storages():
            storage.copy_(agreed(storage, mine))


#: integer views of the storages, so collectives move bit patterns and the all-reduce adds
#: them exactly (one rank contributes a row, the others zeros)
_BITS = {1: torch.int8, 2: torch.int16, 4: torch.int32}


def as_bits(storage: Tensor) -> Tensor:
    """``storage`` viewed as the signed integers of its width (the same memory)."""
    return storage.view(_BITS[storage.element_size()]) if storage.dtype.is_floating_point else storage


def agreed(storage: Tensor, mine: Tensor) -> Tensor:
    """Every rank's rows where ``mine`` (bool ``[N]``), summed over the ranks: the agreed copy."""
    bits = as_bits(storage)
    mask = mine.view(-1, *([1] * (bits.dim() - 1)))
    contribution = torch.where(mask, bits, torch.zeros((), dtype=bits.dtype)).to(torch.int32 if bits.element_size() < 4 else bits.dtype)
    dist.all_reduce(contribution)
    return contribution.to(bits.dtype).view(storage.dtype)
