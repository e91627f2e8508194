"""Launch helpers shared by every Triton kernel of ``sparsegnn.kernels``.

Nothing in here is a ``@triton.jit`` kernel, so this module never has to be reloaded when the
interpreter mode changes (see :func:`sparsegnn.kernels.ensure_mode`); it holds

- :func:`interpreting`: whether ``TRITON_INTERPRET=1`` is in effect;
- :func:`autotune`: ``triton.autotune`` with a small config set, an F-based pruning step, and, under
  the interpreter, no benchmarking at all (the first surviving config is taken, see below);
- :func:`last_config` / :func:`record_config`: the config each kernel launched with last, for
  ``sparsegnn bench`` to record;
- :func:`degree_bucket`: the degree statistic that autotune keys on;
- small tensor helpers (:func:`ensure_contiguous`, :func:`acc_dtype`, :func:`dummy`).

Autotune under the interpreter (triton 3.9): ``Autotuner.run`` benchmarks every config that
survives ``prune_configs_by["early_config_prune"]`` with ``driver.active.get_benchmarker()``
unless exactly one survives, in which case it is taken without benchmarking. The interpreter
has no GPU benchmarker worth using (and every config would run the interpreted kernel several
times), so :func:`autotune` installs a pruner that returns only the first config under the
interpreter. Kernels here are pure functions of their inputs (no atomics, no in-place
accumulation into outputs), so benchmarking runs on a GPU never corrupt results.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
import triton
import triton.language as tl

_LAST_CONFIG: dict[str, dict[str, Any]] = {}


def interpreting() -> bool:
    """True when Triton kernels run through the CPU interpreter (``TRITON_INTERPRET=1``)."""
    try:
        return bool(triton.knobs.runtime.interpret)
    except AttributeError:  # older triton without knobs
        return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def ensure_contiguous(*tensors: torch.Tensor | None) -> list[torch.Tensor | None]:
    """The tensors, made contiguous (None stays None)."""
    return [t if t is None or t.is_contiguous() else t.contiguous() for t in tensors]


def acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """Accumulation dtype: float64 for float64, float32 for every other float dtype."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def tl_acc(dtype: torch.dtype):
    """The ``triton.language`` accumulation dtype for inputs of ``dtype``."""
    return tl.float64 if dtype == torch.float64 else tl.float32


def dummy(device: torch.device, dtype: torch.dtype = torch.int64) -> torch.Tensor:
    """A one-element tensor to pass where a pointer argument is unused (masked off)."""
    return torch.zeros(1, dtype=dtype, device=device)


def next_pow2(n: int) -> int:
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def degree_bucket(avg_degree: float, max_degree: int) -> int:
    """Autotune key for the degree distribution: log2 buckets of the mean and of the max degree.

    Two graphs in the same bucket share a tuned config; the bucket changes when the mean
    degree doubles or the max degree grows 16x, so a power-law graph and a regular graph of the
    same mean tune separately while retuning stays rare.
    """
    a = int(math.log2(max(avg_degree, 1.0)))
    m = int(math.log2(max(max_degree, 1))) // 4
    return a * 16 + m


def record_config(name: str, kernel: Any, **extra: Any) -> None:
    """Remember the config ``kernel`` (an autotuned kernel) was last launched with."""
    cfg = getattr(kernel, "best_config", None)
    rec: dict[str, Any] = dict(extra)
    if cfg is not None:
        rec.update(cfg.kwargs)
        rec["num_warps"] = cfg.num_warps
        rec["num_stages"] = cfg.num_stages
    rec["interpreted"] = interpreting()
    _LAST_CONFIG[name] = rec


def last_config(name: str) -> dict[str, Any] | None:
    """The config kernel ``name`` (e.g. ``"spmm"``, ``"bsr_spmm"``) last launched with.

    A dict of the block sizes, ``num_warps``, ``num_stages`` and launch facts (``split``,
    ``interpreted``...), or None if the kernel has not run in this process.
    """
    rec = _LAST_CONFIG.get(name)
    return None if rec is None else dict(rec)


def all_last_configs() -> dict[str, dict[str, Any]]:
    """Every recorded config, by kernel name."""
    return {k: dict(v) for k, v in _LAST_CONFIG.items()}


def _prune_for(f_arg: str | None, exclude: Callable | None = None) -> Callable:
    def prune(configs, named_args, **kwargs):
        if interpreting():
            return [configs[0]]
        if exclude is not None:
            configs = [c for c in configs if not exclude(c, {**named_args, **kwargs})] or configs
        if f_arg is None:
            return list(configs)
        f = named_args.get(f_arg, kwargs.get(f_arg))
        if f is None:
            return list(configs)
        cap = max(16, next_pow2(int(f)))
        kept = [c for c in configs if c.kwargs.get("BLOCK_F", 0) <= cap]
        return kept or [min(configs, key=lambda c: c.kwargs.get("BLOCK_F", 0))]

    return prune


def autotune(configs: Sequence[triton.Config], key: Sequence[str], f_arg: str | None = "F",
             exclude: Callable | None = None):
    """``triton.autotune`` over ``configs`` keyed on ``key``.

    Configs whose ``BLOCK_F`` exceeds the next power of two of the feature width are pruned
    before benchmarking, and so are those for which ``exclude(config, args)`` is true (e.g. a
    config that spills for one specialization, see the AOT report); under the interpreter only
    the first config is kept (no benchmark).
    The config list stays reachable as ``kernel.configs`` for the AOT compiler.
    """
    return triton.autotune(
        configs=list(configs),
        key=list(key),
        prune_configs_by={"early_config_prune": _prune_for(f_arg, exclude)},
    )


def combiners():
    """``(SUM, MAX, MIN)``: combine functions for ``tl.reduce``, built for the current mode.

    The kernels never call triton's own ``@jit`` library functions (``tl.sum``, ``tl.max``,
    ``tl.zeros``...): those are decorated once, when triton is imported, as compiled or as
    interpreted functions, and a compiled one cannot be called from an interpreted kernel
    ("Cannot call @triton.jit'd outside of the scope of a kernel"). Kernels use builtins only
    (``tl.full``, ``tl.where``, ``tl.maximum``, ``tl.reduce``...) plus these combiners, which a
    kernel module decorates itself, at its own import, under its own mode.

    Under the interpreter, triton's own combiners are returned when they exist: the interpreter
    recognises them by identity and reduces with numpy instead of element by element (it never
    calls them, so their mode does not matter).
    """

    @triton.jit
    def _sum_combine(a, b):
        return a + b

    @triton.jit
    def _max_combine(a, b):
        return tl.maximum(a, b)

    @triton.jit
    def _min_combine(a, b):
        return tl.minimum(a, b)

    if interpreting():
        std = getattr(tl, "standard", None)
        return (
            getattr(std, "_sum_combine", _sum_combine),
            getattr(std, "_elementwise_max", _max_combine),
            getattr(std, "_elementwise_min", _min_combine),
        )
    return _sum_combine, _max_combine, _min_combine


def cdiv(a: int, b: int) -> int:
    return (a + b - 1) // b
