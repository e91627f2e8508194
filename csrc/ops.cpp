// The one registration file: schemas of every native op of sparsegnn._C.
//
// CPU implementations live in csrc/cpu/*.cpp and CUDA ones in csrc/cuda/*.cu; each registers
// itself with TORCH_LIBRARY_IMPL(sparsegnn_C, CPU|CUDA, m). The Python layer
// (sparsegnn/ops/backends/native.py) calls them as torch.ops.sparsegnn_C.<op>.
//
// Conventions shared by every implementation (the contract the Python layer relies on):
//   rowptr int64 [N+1], col int32|int64 [nnz], value same dtype as x [nnz] or None.
//   x, a, b, src, grad_out: float16|bfloat16|float32|float64, contiguous, 2-D.
//   Accumulation is float32 for 16-bit inputs; outputs keep the input dtype.
//   reduce is "sum" | "mean" | "max" | "min". mean divides by the row's entry count.
//   arg (max/min only): int64 [N, F], the first edge position (0..nnz-1) reaching the extreme,
//   nnz for empty rows (whose output is 0). For sum/mean (and spmm with need_arg = false) arg is an
//   empty int64 tensor.
// pybind11 and the op registry only: <torch/extension.h> would add the C++ frontend to the build.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/library.h>

#include <string>

#include "cpu/isa.h"
#include "cpu/output_alloc.h"
#include "sparsegnn/cpu_features.h"

TORCH_LIBRARY(sparsegnn_C, m) {
  // out[i] = reduce_{e in row i} value[e] * x[col[e]]; need_arg = false (forward-only calls): max/min
  // return an empty arg too, and the CPU kernels skip tracking it.
  m.def("spmm(Tensor rowptr, Tensor col, Tensor? value, Tensor x, str reduce, bool need_arg=True) -> (Tensor, Tensor)");
  // out[i] = reduce_{e in rowptr[i]..rowptr[i+1]} src[e]; arg indexes src rows.
  m.def("segment_reduce(Tensor src, Tensor rowptr, str reduce) -> (Tensor, Tensor)");
  // out[e] = dot(a[row(e)], b[col[e]]) for every stored entry e; out dtype = a's.
  m.def("sddmm(Tensor rowptr, Tensor col, Tensor a, Tensor b) -> Tensor");
  // Backward of max/min SpMM w.r.t. x: grad_x[col[arg[i,f]], f] += grad_out[i,f] * value[arg[i,f]]
  // (skipping arg == nnz); grad_x is [num_cols, F]. Deterministic.
  m.def("spmm_arg_backward(Tensor col, Tensor? value, Tensor arg, Tensor grad_out, int num_cols) -> Tensor");
  // INT8 SpMM: acc[i,f] = sum_e value[e] * xq[col[e], f] in int32 (value int8 [nnz], or 1 when
  // None); out float32 [N, F] = acc * row_scale[i] * col_scale[f] (row_scale [N], col_scale [F]).
  m.def("spmm_int8(Tensor rowptr, Tensor col, Tensor? value, Tensor xq, Tensor row_scale, Tensor col_scale) -> Tensor");
  // Dropout by a counter-based draw: out = x * keep / (1 - p), keep a function of (seed, position)
  // only, kept with probability 1 - p; the same call on grad_out is its backward. CPU only.
  m.def("dropout(Tensor x, float p, int seed) -> Tensor");
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "sparsegnn native kernels; ops are registered as torch.ops.sparsegnn_C.*";
  m.def("has_cuda", []() {
#ifdef SPARSEGNN_WITH_CUDA
    return true;
#else
    return false;
#endif
  });
  m.def("cpu_has_avx512", &sparsegnn::cpu_has_avx512, "AVX-512F/BW/VL available at run time");
  m.def("cpu_has_vnni", &sparsegnn::cpu_has_vnni, "AVX-512 VNNI available at run time");
  m.def("cpu_has_avx2", &sparsegnn::cpu_has_avx2, "AVX2 + FMA + F16C available at run time");
  m.def("cpu_has_avx_vnni", &sparsegnn::cpu_has_avx_vnni, "AVX-VNNI (256-bit vpdpbusd) available at run time");
  m.def("cpu_isa_paths", &sparsegnn::cpu::isa_paths, "the CPU kernel paths this CPU can run, widest first");
  m.def("cpu_isa", []() { return std::string(sparsegnn::cpu::isa_name(sparsegnn::cpu::requested_isa())); },
        "the path a CPU kernel call takes now (SPARSEGNN_ISA read here; an error if it names a path the CPU lacks)");
  m.def("cpu_last_isa", &sparsegnn::cpu::last_isa_name,
        "the path the latest float CPU kernel call (spmm, segment_reduce, sddmm) ran ('' before any)");
  m.def("cpu_last_int8_path", &sparsegnn::cpu::last_int8_path_name,
        "the kernel the latest spmm_int8 call ran: 'avx512-vnni', 'avx-vnni', 'avx2' or 'portable' ('' before any)");
  m.def("cpu_cached_output_bytes", &sparsegnn::cpu::cached_output_bytes,
        "bytes of freed huge-page output blocks the CPU kernels keep for reuse");
  m.def("cpu_release_cached_outputs", &sparsegnn::cpu::release_cached_outputs,
        "free the CPU kernels' cached output blocks");
}
