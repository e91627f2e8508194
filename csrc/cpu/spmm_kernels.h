// Row kernels of the CPU SpMM / segment reduce: a portable loop and an AVX-512 path.
#pragma once

#include <ATen/OpMathType.h>

#include <algorithm>
#include <cstdint>
#include <vector>

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

template <typename scalar_t, typename idx_t, bool HasValue, bool Identity, Reduce R>
struct RowKernel {
  using acc_t = at::opmath_type<scalar_t>;
  using Red = Reducer<R, acc_t>;

  // Whole rows [r0, r1): out/arg rows written once.
  static void rows(const Args<scalar_t, idx_t>& a, bool avx, int64_t r0, int64_t r1, scalar_t* out,
                   int64_t* arg, bool& bad);

  // One hub piece: the unfinalized accumulator (and arg, -1 = none) into acc/ag.
  static void piece(const Args<scalar_t, idx_t>& a, bool avx, int64_t e0, int64_t e1, acc_t* acc,
                    int64_t* ag, bool& bad) {
    (void)avx;
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
        if (has_arg<R>()) arg[i * F + f] = af;
      }
    }
  }
};

template <typename scalar_t, typename idx_t, bool HasValue, bool Identity, Reduce R>
void RowKernel<scalar_t, idx_t, HasValue, Identity, R>::rows(const Args<scalar_t, idx_t>& a, bool avx,
                                                             int64_t r0, int64_t r1, scalar_t* out,
                                                             int64_t* arg, bool& bad) {
  (void)avx;
  generic_rows(a, r0, r1, out, arg, bad);
}

}  // namespace cpu
}  // namespace sparsegnn
