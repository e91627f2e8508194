"""Build sparsegnn and its C++ extension ``sparsegnn._C``.

The CPU kernels (csrc/ops.cpp, csrc/cpu/*.cpp) are always built. The CUDA kernels
(csrc/cuda/*.cu) are added where a CUDA toolkit and a CUDA build of torch are present;
``SPARSEGNN_CUDA=0`` forces them off and ``SPARSEGNN_CUDA=1`` forces them on.
``SPARSEGNN_NATIVE=1`` adds ``-march=native`` (a local build; the default build stays portable
and picks its AVX-512 / AVX2 code paths at run time, from ``#pragma GCC target`` regions inside
``#if`` x86-64 guards, so no ISA flag is ever passed: the same flags build on aarch64, checked by
``make aarch64-check``). ``SPARSEGNN_ASAN=1`` builds with
AddressSanitizer (``make asan``).
"""

import glob
import os

from setuptools import find_packages, setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension


def _want_cuda() -> bool:
    import torch

    forced = os.environ.get("SPARSEGNN_CUDA")
    if forced is not None:
        return forced == "1"
    return CUDA_HOME is not None and torch.version.cuda is not None


def cxx_flags() -> list[str]:
    """The C++ compile flags. None names an instruction set (``-march=native`` aside, which means
    the build machine's on any architecture), so they suit x86-64 and aarch64 alike."""
    # -g1 (line tables and function names, enough for perf and gdb backtraces) overrides the -g that
    # Python's own CFLAGS put first: full debug info of the kernels' template instances costs a third
    # of the build.
    cxx = ["-O3", "-g1", "-std=c++20", "-fopenmp", "-Wall", "-Wno-unknown-pragmas"]
    if os.environ.get("SPARSEGNN_NATIVE") == "1":
        cxx.append("-march=native")
    if os.environ.get("SPARSEGNN_ASAN") == "1":
        cxx += ["-fsanitize=address", "-fno-omit-frame-pointer", "-O1", "-g"]
    return cxx


def _extension():
    cxx = cxx_flags()
    link = ["-fopenmp"]
    if os.environ.get("SPARSEGNN_ASAN") == "1":
        link.append("-fsanitize=address")
    sources = ["csrc/ops.cpp"] + sorted(glob.glob("csrc/cpu/*.cpp"))
    include_dirs = [os.path.abspath("csrc")]
    if _want_cuda():
        sources += sorted(glob.glob("csrc/cuda/*.cu"))
        nvcc = ["-O3", "-std=c++20", "--expt-relaxed-constexpr", "-lineinfo"]
        return CUDAExtension(
            "sparsegnn._C",
            sources,
            include_dirs=include_dirs,
            define_macros=[("SPARSEGNN_WITH_CUDA", "1")],
            extra_compile_args={"cxx": cxx, "nvcc": nvcc},
            extra_link_args=link,
        )
    return CppExtension(
        "sparsegnn._C",
        sources,
        include_dirs=include_dirs,
        extra_compile_args={"cxx": cxx},
        extra_link_args=link,
    )


if __name__ == "__main__":  # pip and setuptools run this file as __main__; importing it gives cxx_flags
    setup(
        packages=find_packages(include=["sparsegnn", "sparsegnn.*"]) + ["sparsegnn.kernels"],
        package_dir={"sparsegnn.kernels": "kernels"},
        ext_modules=[_extension()],
        cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    )
