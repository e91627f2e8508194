"""The machine the figures come from: environment, and the roofs measured at start.

- **Bandwidth roof** (GB/s). CPU: the best of a few streaming reads (``sum``) over a float32
  buffer far larger than the last-level cache (512 MB by default), bytes read / time. GPU: a
  device-to-device copy of a 1 GB buffer, counting the bytes read and written (2x the size).
- **Compute roof** (GFLOP/s): the best of a few square float32 GEMMs (``2 n^3`` flops), a practical
  ceiling for the dtype the kernels accumulate in.

Both are measured by the tool at start, with the threads the sweep uses, so a kernel's
"roofline fraction" (its achieved GB/s over the bandwidth roof) compares like with like.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import torch


@dataclass
class Roofs:
    """Measured roofs of one device: ``bandwidth_gbps`` (GB/s) and ``peak_gflops`` (GFLOP/s)."""

    device: str
    bandwidth_gbps: float
    peak_gflops: float
    bandwidth_method: str
    threads: int

    def to_dict(self) -> dict:
        return asdict(self)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_bandwidth(
    device: str | torch.device = "cpu", megabytes: int = 512, repeat: int = 3
) -> tuple[float, str]:
    """``(GB/s, method)``: the best of ``repeat`` streaming passes over a ``megabytes`` buffer
    (CPU: a read-only ``sum``; CUDA: a device-to-device copy, read + write counted)."""
    device = torch.device(device)
    numel = max(1, megabytes * (1 << 20) // 4)
    best = float("inf")
    if device.type == "cuda":
        src = torch.empty(numel, dtype=torch.float32, device=device)
        dst = torch.empty_like(src)
        dst.copy_(src)
        for _ in range(repeat):
            _sync(device)
            start = time.perf_counter()
            dst.copy_(src)
            _sync(device)
            best = min(best, time.perf_counter() - start)
        del src, dst
        return 2 * numel * 4 / best / 1e9, f"device-to-device copy of {megabytes} MB (read + write)"
    buf = torch.ones(numel, dtype=torch.float32, device=device)
    buf.sum()
    for _ in range(repeat):
        start = time.perf_counter()
        buf.sum()
        best = min(best, time.perf_counter() - start)
    del buf
    return numel * 4 / best / 1e9, f"streaming read (sum) of a {megabytes} MB float32 buffer"


def measure_peak_gflops(
    device: str | torch.device = "cpu", n: int = 1024, repeat: int = 3
) -> float:
    """GFLOP/s of the best of ``repeat`` float32 ``n x n`` GEMMs (``2 n^3`` flops each)."""
    device = torch.device(device)
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b
    best = float("inf")
    for _ in range(repeat):
        _sync(device)
        start = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def measure_roofs(device: str | torch.device = "cpu", megabytes: int = 512) -> Roofs:
    """Both roofs of ``device`` with the current torch thread count."""
    device = torch.device(device)
    bandwidth, method = measure_bandwidth(device, megabytes)
    return Roofs(
        device.type, bandwidth, measure_peak_gflops(device), method, torch.get_num_threads()
    )


def cpu_model() -> str:
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            name = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                name,
            )
    except OSError:
        pass
    return name


def _version(distribution: str) -> str | None:
    """The installed version of ``distribution`` from its metadata (no import: importing
    triton or torch_geometric takes seconds), or None when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def environment() -> dict:
    """What the figures depend on: machine, threads, versions, date (UTC)."""
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "torch": torch.__version__,
            **{
                name: _version(name)
                for name in (
                    "numpy",
                    "scipy",
                    "numba",
                    "triton",
                    "torch_geometric",
                    "torch_scatter",
                    "torch_sparse",
                    "matplotlib",
                )
            },
        },
    }
