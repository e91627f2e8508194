// Per-edge dot products of the CPU SDDMM: a portable loop and an AVX-512 path.
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

#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")
namespace avx512 {
// Lane-wise FMA over feature chunks, then one horizontal sum (a fixed order). The b rows of upcoming
// edges are prefetched across row ends, up to col's length nnz.
template <typename scalar_t, typename idx_t>
void sddmm_row(const scalar_t* arow, const scalar_t* b, const idx_t* col, int64_t e0, int64_t e1, int64_t nnz,
               int64_t m, int64_t F, const Prefetch& pre, scalar_t* out, bool& bad) {
  using P = VP<scalar_t>;
  using reg = typename P::reg;
  constexpr int L = P::L;
  const int64_t lines = (F * static_cast<int64_t>(sizeof(scalar_t)) + 63) / 64;
  const int64_t pf = pre.edges(lines);
  for (int64_t e = e0; e < e1; ++e) {
    if (pf > 0 && e + pf < nnz) {  // across row ends (up to col's length nnz): rows are short
      Prefetch::row(b, static_cast<int64_t>(col[e + pf]), m, F, lines);
    }
    const int64_t c = static_cast<int64_t>(col[e]);
    if (c < 0 || c >= m) { bad = true; out[e] = scalar_t(0); continue; }
    const scalar_t* br = b + c * F;
    reg acc = P::set1(0);
    for (int64_t f = 0; f < F; f += L) {
      const auto mk = P::tail(F - f);
      acc = P::fmadd(P::load(mk, arow + f), P::load(mk, br + f), acc);
    }
    out[e] = static_cast<scalar_t>(P::hsum(acc));
  }
}
}  // namespace avx512
#pragma GCC pop_options
#endif

template <typename scalar_t, typename idx_t>
inline void sddmm_row(const scalar_t* arow, const scalar_t* b, const idx_t* col, int64_t e0, int64_t e1,
                      int64_t nnz, int64_t m, int64_t F, const Prefetch& pre, scalar_t* out, bool avx, bool& bad) {
#if defined(__x86_64__) || defined(_M_X64)
  if (avx) return avx512::sddmm_row(arow, b, col, e0, e1, nnz, m, F, pre, out, bad);
#endif
  (void)avx;
  (void)pre;
  sddmm_row_generic(arow, b, col, e0, e1, m, F, out, bad);
}

}  // namespace cpu
}  // namespace sparsegnn
