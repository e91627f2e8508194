// Per-edge dot products of the CPU SDDMM: a portable loop and the AVX-512 and AVX2 paths.
#pragma once

#include <ATen/OpMathType.h>

#include <cstdint>

#include "spmm_kernels.h"

namespace sparsegnn {
namespace cpu {

// out[e] = dot(arow, b[col[e]]) for e in [e0, e1).
template <typename scalar_t, typename idx_t>
inline void sddmm_row_generic(const scalar_t* arow, const scalar_t* b, const idx_t* col, int64_t e0, int64_t e1,
                              int64_t m, int64_t F, scalar_t* out, bool& bad) {
  using acc_t = at::opmath_type<scalar_t>;
  for (int64_t e = e0; e < e1; ++e) {
    const int64_t c = static_cast<int64_t>(col[e]);
    if (c < 0 || c >= m) { bad = true; out[e] = scalar_t(0); continue; }
    const scalar_t* br = b + c * F;
    acc_t s = 0;
    for (int64_t f = 0; f < F; ++f) s += static_cast<acc_t>(arow[f]) * static_cast<acc_t>(br[f]);
    out[e] = static_cast<scalar_t>(s);
  }
}

// The SIMD paths: one body (sddmm_dot.inc) per ISA, next to that ISA's SpMM body.
#if defined(__x86_64__) || defined(_M_X64)
SPARSEGNN_BEGIN_AVX512
namespace avx512 {
#include "sddmm_dot.inc"
}  // namespace avx512
SPARSEGNN_END_TARGET

SPARSEGNN_BEGIN_AVX2
namespace avx2 {
#include "sddmm_dot.inc"
}  // namespace avx2
SPARSEGNN_END_TARGET
#endif

template <typename scalar_t, typename idx_t>
inline void sddmm_row(const scalar_t* arow, const scalar_t* b, const idx_t* col, int64_t e0, int64_t e1,
                      int64_t nnz, int64_t m, int64_t F, const Prefetch& pre, scalar_t* out, Isa isa, bool& bad) {
#if defined(__x86_64__) || defined(_M_X64)
  if (isa == Isa::Avx512) return avx512::sddmm_row(arow, b, col, e0, e1, nnz, m, F, pre, out, bad);
  if (isa == Isa::Avx2) return avx2::sddmm_row(arow, b, col, e0, e1, nnz, m, F, pre, out, bad);
#endif
  (void)isa;
  (void)pre;
  sddmm_row_generic(arow, b, col, e0, e1, m, F, out, bad);
}

}  // namespace cpu
}  // namespace sparsegnn
