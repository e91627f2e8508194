"""Wall-clock timing of a callable: warm-up, repeats, median and interquartile range."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass
class Stats:
    """Timing statistics in milliseconds; ``times`` holds every repeat."""

    median: float
    p25: float
    p75: float
    times: list[float] = field(default_factory=list)

    @property
    def iqr(self) -> float:
        return self.p75 - self.p25


def _sync(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


def benchmark(
    fn: Callable[..., object],
    *args: object,
    warmup: int = 2,
    repeat: int = 10,
    min_time: float = 0.0,
    device: torch.device | str | None = None,
    max_time: float | None = None,
) -> Stats:
    """Time ``fn(*args)``: ``warmup`` untimed calls, then at least ``repeat`` timed ones (more
    until ``min_time`` seconds have passed). CUDA work is synchronised around each call.

    ``max_time`` (seconds) caps a slow implementation: once the timed calls have taken that long,
    stop after at least 3 of them (or fewer when ``repeat`` asks for fewer), so one slow peer
    cannot stall a sweep. ``Stats.times`` says how many ran."""
    if repeat < 1:
        raise ValueError(f"repeat: must be >= 1, got {repeat}")
    if warmup < 0:
        raise ValueError(f"warmup: must be >= 0, got {warmup}")
    device = torch.device(device) if device is not None else None
    for _ in range(warmup):
        fn(*args)
    _sync(device)
    times: list[float] = []
    start_all = time.perf_counter()
    floor = min(3, repeat)
    while len(times) < repeat or time.perf_counter() - start_all < min_time:
        if (
            max_time is not None
            and len(times) >= floor
            and time.perf_counter() - start_all > max_time
        ):
            break
        start = time.perf_counter()
        fn(*args)
        _sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    if len(times) == 1:
        return Stats(times[0], times[0], times[0], times)
    quartiles = statistics.quantiles(times, n=4, method="inclusive")
    return Stats(statistics.median(times), quartiles[0], quartiles[2], times)
