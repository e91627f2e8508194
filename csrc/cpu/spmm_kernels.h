// Row kernels of the CPU SpMM / segment reduce: a portable loop and the AVX-512 and AVX2 paths.
#pragma once

#include <ATen/OpMathType.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "common.h"
#include "simd_avx2.h"
#include "simd_avx512.h"
#include "sparsegnn/reducer.h"

namespace sparsegnn {
namespace cpu {

inline bool has_arg_reduce(Reduce r) { return r == Reduce::Max || r == Reduce::Min; }

template <typename scalar_t, typename idx_t>
struct Args {
  const int64_t* rp;
  const idx_t* col;      // nullptr when the column of edge e is e (segment reduce)
  const scalar_t* val;   // nullptr when unweighted
  const scalar_t* x;     // [m, F]
  int64_t m, F, nnz;
  Prefetch prefetch;  // of the x rows of upcoming edges (common.h)
  // Finished rows go out with non-temporal stores (no read-for-ownership): set for outputs too
  // large to stay in cache, whose rows are whole 64-byte lines (row bytes % 64 == 0, base aligned).
  bool stream = false;
};

// Portable reference loop over one edge range into acc/arg ([F] each), starting from the identity.
template <typename scalar_t, typename idx_t, bool HasValue, bool Identity, Reduce R>
inline void generic_accumulate(const Args<scalar_t, idx_t>& a, int64_t e0, int64_t e1,
                               at::opmath_type<scalar_t>* acc, int64_t* ag, bool& bad) {
  using acc_t = at::opmath_type<scalar_t>;
  using Red = Reducer<R, acc_t>;
  const int64_t F = a.F;
  for (int64_t f = 0; f < F; ++f) acc[f] = Red::init();
  if (has_arg<R>())
    for (int64_t f = 0; f < F; ++f) ag[f] = -1;
  int64_t dummy = 0;
  for (int64_t e = e0; e < e1; ++e) {
    const int64_t c = Identity ? e : static_cast<int64_t>(a.col[e]);
    if (c < 0 || c >= a.m) { bad = true; continue; }
    const scalar_t* xr = a.x + c * F;
    if (HasValue) {
      const acc_t w = static_cast<acc_t>(a.val[e]);
      if (has_arg<R>()) {
        for (int64_t f = 0; f < F; ++f) Red::update(acc[f], w * static_cast<acc_t>(xr[f]), ag[f], e);
      } else {
        for (int64_t f = 0; f < F; ++f) acc[f] += w * static_cast<acc_t>(xr[f]);
      }
    } else {
      if (has_arg<R>()) {
        for (int64_t f = 0; f < F; ++f) Red::update(acc[f], static_cast<acc_t>(xr[f]), ag[f], e);
      } else {
        for (int64_t f = 0; f < F; ++f) acc[f] += static_cast<acc_t>(xr[f]);
      }
    }
  }
  (void)dummy;
}


// The SIMD paths: one kernel body (spmm_tile.inc) compiled per ISA, in its namespace and target
// region, over that ISA's register traits.
#if defined(__x86_64__) || defined(_M_X64)
SPARSEGNN_BEGIN_AVX512
namespace avx512 {
#include "spmm_tile.inc"
}  // namespace avx512
SPARSEGNN_END_TARGET

SPARSEGNN_BEGIN_AVX2
namespace avx2 {
#include "spmm_tile.inc"
}  // namespace avx2
SPARSEGNN_END_TARGET
#endif

// Arg = false: max/min without the arg (out only; arg pointers are then null and ag scratch unused).
template <typename scalar_t, typename idx_t, bool HasValue, bool Identity, Reduce R, bool Arg = has_arg<R>()>
struct RowKernel {
  using acc_t = at::opmath_type<scalar_t>;
  using Red = Reducer<R, acc_t>;

  // Whole rows [r0, r1): out/arg rows written once.
  static void rows(const Args<scalar_t, idx_t>& a, Isa isa, int64_t r0, int64_t r1, scalar_t* out,
                   int64_t* arg, bool& bad);

  // One hub piece: the unfinalized accumulator (and arg, -1 = none) into acc/ag.
  static void piece(const Args<scalar_t, idx_t>& a, Isa isa, int64_t e0, int64_t e1, acc_t* acc,
                    int64_t* ag, bool& bad) {
#if defined(__x86_64__) || defined(_M_X64)
    if (isa == Isa::Avx512) return avx512::piece<scalar_t, idx_t, HasValue, Identity, R, Arg>(a, e0, e1, acc, ag, bad);
    if (isa == Isa::Avx2) return avx2::piece<scalar_t, idx_t, HasValue, Identity, R, Arg>(a, e0, e1, acc, ag, bad);
#endif
    (void)isa;
    generic_accumulate<scalar_t, idx_t, HasValue, Identity, R>(a, e0, e1, acc, ag, bad);
  }

  static void generic_rows(const Args<scalar_t, idx_t>& a, int64_t r0, int64_t r1, scalar_t* out,
                           int64_t* arg, bool& bad) {
    const int64_t F = a.F;
    std::vector<acc_t> acc(F);
    std::vector<int64_t> ag(has_arg<R>() ? F : 0);
    for (int64_t i = r0; i < r1; ++i) {
      const int64_t e0 = a.rp[i], e1 = a.rp[i + 1];
      generic_accumulate<scalar_t, idx_t, HasValue, Identity, R>(a, e0, e1, acc.data(), ag.data(), bad);
      scalar_t* o = out + i * F;
      for (int64_t f = 0; f < F; ++f) {
        int64_t af = has_arg<R>() ? ag[f] : 0;
        o[f] = static_cast<scalar_t>(Red::finalize(acc[f], e1 - e0, af, a.nnz));
        if (Arg) arg[i * F + f] = af;
      }
    }
  }
};

template <typename scalar_t, typename idx_t, bool HasValue, bool Identity, Reduce R, bool Arg>
void RowKernel<scalar_t, idx_t, HasValue, Identity, R, Arg>::rows(const Args<scalar_t, idx_t>& a, Isa isa,
                                                                  int64_t r0, int64_t r1, scalar_t* out,
                                                                  int64_t* arg, bool& bad) {
#if defined(__x86_64__) || defined(_M_X64)
  if (isa == Isa::Avx512) return avx512::rows<scalar_t, idx_t, HasValue, Identity, R, Arg>(a, r0, r1, out, arg, bad);
  if (isa == Isa::Avx2) return avx2::rows<scalar_t, idx_t, HasValue, Identity, R, Arg>(a, r0, r1, out, arg, bad);
#endif
  (void)isa;
  generic_rows(a, r0, r1, out, arg, bad);
}

}  // namespace cpu
}  // namespace sparsegnn
