"""Build check of the CUDA sources: `bash csrc/cuda/check.sh` must succeed.

This compiles every csrc/cuda/*.cu with nvcc for sm_80 and sm_90 (compile only, with torch's
include paths and defines, `-Xptxas -v`), so a CUDA source that does not compile fails CI even on a
machine without a GPU or a CUDA build of torch. It needs no GPU; it is skipped where nvcc is absent.
Slow-ish: about two minutes on a 2-core machine (marked `slow`; `-m 'not slow'` deselects it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "csrc" / "cuda" / "check.sh"


def _have_nvcc() -> bool:
    home = os.environ.get("CUDA_HOME")
    return bool(
        shutil.which("nvcc")
        or (home and (Path(home) / "bin" / "nvcc").exists())
        or Path("/usr/local/cuda/bin/nvcc").exists()
    )


@pytest.mark.slow
@pytest.mark.skipif(not _have_nvcc(), reason="nvcc not found: the CUDA compile check needs a CUDA toolkit")
def test_cuda_sources_compile_for_sm80_and_sm90():
    proc = subprocess.run(
        ["bash", str(SCRIPT)], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    report = proc.stdout + proc.stderr
    sys.stdout.write(report)  # the register / spill table, visible with -s or on failure
    assert proc.returncode == 0, f"csrc/cuda/check.sh failed (exit {proc.returncode}):\n{report[-6000:]}"
    assert "cuda-check: ok" in proc.stdout
    assert "FAIL" not in proc.stdout
