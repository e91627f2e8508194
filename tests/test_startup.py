"""The first op call of a process stays cheap: ``import sparsegnn`` plus one ``ops.spmm`` in a fresh
interpreter loads neither ``torch._dynamo`` (which ``torch.library.custom_op`` kernels import at their
first call) nor numba (imported by the numba backend at its first call). No timing is asserted."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sparsegnn import ops

ROOT = Path(__file__).resolve().parents[1]


def test_first_spmm_loads_neither_dynamo_nor_numba():
    spec = importlib.util.spec_from_file_location("bench_startup", ROOT / "bench" / "startup.py")
    startup = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(startup)
    (run,) = startup.measure(ROOT, 1)
    assert Path(run["file"]).resolve().parent == ROOT / "sparsegnn"
    assert not run["dynamo"]
    if "cpu" in ops.available_backends("cpu"):  # without the extension, the spmm itself runs on numba
        assert not run["numba"]
