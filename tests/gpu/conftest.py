"""GPU suite: every test under tests/gpu/ carries the ``gpu`` marker and is skipped without CUDA.

The skip reason says which is missing: a CUDA device, or CUDA kernels in the built extension
(``sparsegnn._C.has_cuda()`` is False when it was built by a CPU-only torch or without nvcc).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

_HERE = Path(__file__).resolve().parent


def _skip_reason() -> str | None:
    if not torch.cuda.is_available():
        return "CUDA is not available"
    try:
        import sparsegnn._C as C
    except ImportError as exc:  # pragma: no cover - the extension is always built by `make test`
        return f"sparsegnn._C is not importable: {exc}"
    if not C.has_cuda():
        return "sparsegnn._C was built without its CUDA kernels (no nvcc or a CPU torch at build time)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = None
    checked = False
    for item in items:
        if _HERE not in Path(str(item.fspath)).resolve().parents:
            continue
        item.add_marker(pytest.mark.gpu)
        if not checked:
            reason, checked = _skip_reason(), True
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))
