"""Data-parallel training under ``torchrun`` with torch.distributed (DistributedDataParallel).

``torchrun --nproc_per_node=N -m sparsegnn train ...`` starts ``N`` ranks; :func:`from_env`
joins them into one process group (gloo: the training loop runs on the CPU) and
:class:`~sparsegnn.train.Trainer` then

- wraps the model in ``DistributedDataParallel`` (gradients all-reduced every step; the ranks
  start from rank 0's parameters);
- gives each rank a disjoint share of every epoch's batches (:meth:`Method.shard`: batch ``i``
  of the epoch's plan goes to rank ``i mod N``), uneven shares handled by DDP's ``join``;
- evaluates, selects and writes checkpoints on rank 0 only, broadcasting what the other ranks
  need (the accuracies, the stop decision); every rank's RNG state goes into the checkpoint so
  that a resumed distributed run draws exactly what the uninterrupted one would have.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Distributed:
    """This process's place in the process group: ``rank`` of ``world``."""

    rank: int
    world: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: torch.nn.Module) -> torch.nn.parallel.DistributedDataParallel:
        """``model`` under DDP (CPU, gloo)."""
        return torch.nn.parallel.DistributedDataParallel(model)

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        """Wait for every rank, then leave the process group (before the interpreter exits:
        leaving it to exit-time teardown can abort a rank with "terminate called without an
        active exception")."""
        gc.collect()  # DDP modules in reference cycles still hold the group's pending work
        if dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def sum(self, *values: float) -> list[float]:
        """The sums over the ranks of ``values``."""
        total = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(total)
        return total.tolist()


def world_size() -> int:
    """``WORLD_SIZE`` as torchrun sets it (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def from_env() -> Distributed | None:
    """Join torchrun's process group (``RANK`` / ``WORLD_SIZE`` / ``MASTER_ADDR`` set by it), or
    ``None`` when this is a single process."""
    if world_size() <= 1:
        return None
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    return Distributed(dist.get_rank(), dist.get_world_size())


def threads_per_rank(world: int) -> int:
    """The cores this process may use, shared evenly by ``world`` ranks (at least 1)."""
    return max(1, len(os.sched_getaffinity(0)) // max(world, 1))
