"""``profile_ops()``: record every sparsegnn op call of a block of user code.

It is a :class:`~torch.utils._python_dispatch.TorchDispatchMode`, so it sees the calls where the
public ops enter ``torch.ops.sparsegnn.*`` (and the native ``torch.ops.sparsegnn_C.*`` kernels
when code calls them directly), forward *and* backward, without touching the ops layer. For each
call it records the op, the backend that ran it (``ops.policy.resolve``, the same function the op
uses), the input shapes, the dtype and the wall time (CUDA synchronised when ``sync=True``).

Example::

    from sparsegnn.profile import profile_ops
    with profile_ops() as prof:
        loss = model(graph, x).sum()
        loss.backward()
    # the summary is printed at exit; prof.records holds every call, prof.summary() the table
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

import torch
from torch.utils._python_dispatch import TorchDispatchMode

_NAMESPACES = ("sparsegnn", "sparsegnn_C")


@dataclass
class OpCall:
    """One recorded call: ``op`` (``"spmm"``...), ``backend``, input ``shapes``, ``dtype``, ``ms``."""

    op: str
    backend: str
    shapes: tuple
    dtype: str
    device: str
    ms: float
    phase: str  # "forward" or "backward" (called while autograd runs a backward pass)


def _arg(schema_args: list[str], args: tuple, kwargs: dict, name: str, default: Any = None) -> Any:
    if name in kwargs:
        return kwargs[name]
    return (
        args[schema_args.index(name)]
        if name in schema_args and schema_args.index(name) < len(args)
        else default
    )


def _resolve_backend(func, args: tuple, kwargs: dict) -> str:
    """The backend the op call runs on (its ``backend`` argument resolved as the op resolves it)."""
    names = [a.name for a in func._schema.arguments]
    get = lambda name: _arg(names, args, kwargs, name)
    op = func._schema.name.split("::")[-1]
    if func.namespace == "sparsegnn_C":
        tensor = next((a for a in args if isinstance(a, torch.Tensor)), None)
        return f"native-{tensor.device.type}" if tensor is not None else "native"
    backend = get("backend")
    if backend is None:
        return "?"
    try:
        from ..ops.library import BACKEND_RESOLVERS

        return BACKEND_RESOLVERS[op](*(get(name) for name in names)).name
    except Exception:  # noqa: BLE001 - the op itself will raise the real error
        return backend


def _shapes(args: tuple) -> tuple:
    return tuple(tuple(a.shape) for a in args if isinstance(a, torch.Tensor))


class profile_ops(TorchDispatchMode):  # a context manager named like a function
    """Context manager recording every sparsegnn op call; prints :meth:`summary` at exit.

    Args:
        summary: print the summary table when the block exits (default True).
        file: where to print it (default ``sys.stdout``).
        sync: synchronise CUDA around each call so ``ms`` is the kernel's time (default True).
    """

    def __init__(self, summary: bool = True, file: TextIO | None = None, sync: bool = True) -> None:
        super().__init__()
        self.records: list[OpCall] = []
        self._print = summary
        self._file = file
        self._sync = sync

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func.namespace not in _NAMESPACES:
            return func(*args, **kwargs)
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        device = tensors[0].device if tensors else torch.device("cpu")
        cuda = self._sync and device.type == "cuda"
        backend = _resolve_backend(func, args, kwargs)
        if cuda:
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        out = func(*args, **kwargs)
        if cuda:
            torch.cuda.synchronize(device)
        ms = (time.perf_counter() - start) * 1e3
        floats = [t for t in tensors if t.is_floating_point()]
        dtype = str((floats or tensors or [torch.empty(0)])[-1].dtype).replace("torch.", "")
        phase = "backward" if torch._C._current_graph_task_id() != -1 else "forward"
        self.records.append(
            OpCall(
                func._schema.name.split("::")[-1],
                backend,
                _shapes(args),
                dtype,
                device.type,
                ms,
                phase,
            )
        )
        return out

    def __exit__(self, exc_type, exc, tb):
        result = super().__exit__(exc_type, exc, tb)
        if self._print and self.records:
            print(self.summary(), file=self._file or sys.stdout)
        return result

    def totals(self) -> list[dict]:
        """Aggregates per (op, backend, phase, dtype, device): calls, total/mean/max ms, shapes seen."""
        groups: dict[tuple, dict] = {}
        for r in self.records:
            key = (r.op, r.backend, r.phase, r.dtype, r.device)
            g = groups.setdefault(
                key,
                {
                    "op": r.op,
                    "backend": r.backend,
                    "phase": r.phase,
                    "dtype": r.dtype,
                    "device": r.device,
                    "calls": 0,
                    "total_ms": 0.0,
                    "max_ms": 0.0,
                    "shapes": [],
                },
            )
            g["calls"] += 1
            g["total_ms"] += r.ms
            g["max_ms"] = max(g["max_ms"], r.ms)
            if r.shapes not in g["shapes"]:
                g["shapes"].append(r.shapes)
        out = sorted(groups.values(), key=lambda g: -g["total_ms"])
        for g in out:
            g["mean_ms"] = g["total_ms"] / g["calls"]
        return out

    def summary(self) -> str:
        """An aligned table of :meth:`totals`, largest total first."""
        total = sum(r.ms for r in self.records)
        header = (
            "op",
            "backend",
            "phase",
            "dtype",
            "calls",
            "total ms",
            "mean ms",
            "max ms",
            "% time",
            "shapes (first)",
        )
        rows = [header]
        for g in self.totals():
            first = " ".join("x".join(map(str, s)) for s in g["shapes"][0][:4])
            more = f" (+{len(g['shapes']) - 1})" if len(g["shapes"]) > 1 else ""
            rows.append(
                (
                    g["op"],
                    g["backend"],
                    g["phase"],
                    g["dtype"],
                    str(g["calls"]),
                    f"{g['total_ms']:.3f}",
                    f"{g['mean_ms']:.3f}",
                    f"{g['max_ms']:.3f}",
                    f"{100 * g['total_ms'] / total:.1f}" if total else "-",
                    first + more,
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = [f"sparsegnn ops: {len(self.records)} calls, {total:.3f} ms"]
        for row in rows:
            lines.append(
                "  ".join(
                    c.ljust(w) if i < 4 or i == 9 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(row, widths))
                )
            )
        return "\n".join(lines)
