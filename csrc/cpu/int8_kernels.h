// Row kernels of the CPU INT8 SpMM: a portable loop, an AVX2 path and an AVX-512 VNNI path.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "common.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace sparsegnn {
namespace cpu {

struct Int8Args {
  const int64_t* rp;
  const int8_t* val;  // nullptr: every weight is 1
  const int8_t* xq;   // [m, F]
  int64_t m, F;
  int64_t nnz;  // col's length: prefetch runs across row ends up to it
  const float* row_scale;  // [N]
  const float* col_scale;  // [F]
  float* out;              // [N, F]
  Prefetch prefetch;       // of the xq rows of upcoming edges (common.h)
  // Non-temporal stores of whole rows (SIMD paths): out is huge, 64-byte aligned, rows a multiple
  // of 64 bytes, as the float SpMM decides (spmm_cpu.cpp); saves the read-for-ownership of out.
  bool stream = false;
};

// fn(std::integral_constant<int, K>{}) for K = min(chunks, Max) >= 1: picks the compile-time
// chunk count of a feature tile (the tiles keep their accumulators in registers).
template <int Max, typename Fn>
inline void with_chunks(int64_t chunks, Fn&& fn) {
  if constexpr (Max <= 1) {
    fn(std::integral_constant<int, 1>{});
  } else {
    if (chunks >= Max)
      fn(std::integral_constant<int, Max>{});
    else
      with_chunks<Max - 1>(chunks, fn);
  }
}

// Edges an int16 sum of int8 values holds exactly (256 * 127 and 256 * -128 fit in int16): the
// unweighted SIMD kernels add features in int16 and widen to int32 every kAddEdges edges.
constexpr int64_t kAddEdges = 256;

// out[i, f] = float(acc[f]) * row_scale[i] * col_scale[f]; the one expression both paths use.
inline void int8_store_row(const Int8Args& a, int64_t i, const int32_t* acc) {
  const float rs = a.row_scale[i];
  float* o = a.out + i * a.F;
  for (int64_t f = 0; f < a.F; ++f) o[f] = static_cast<float>(acc[f]) * rs * a.col_scale[f];
}

// Wrapping int32 sums of value[e] * xq[col[e], :] over [e0, e1) into acc [F].
template <typename idx_t>
inline void int8_accumulate_generic(const Int8Args& a, const idx_t* col, int64_t e0, int64_t e1, int32_t* acc,
                                    bool& bad) {
  const int64_t F = a.F;
  uint32_t* u = reinterpret_cast<uint32_t*>(acc);  // wrapping arithmetic in place
  for (int64_t f = 0; f < F; ++f) u[f] = 0u;
  for (int64_t e = e0; e < e1; ++e) {
    const int64_t c = static_cast<int64_t>(col[e]);
    if (c < 0 || c >= a.m) { bad = true; continue; }
    const int32_t w = a.val ? static_cast<int32_t>(a.val[e]) : 1;
    const int8_t* xr = a.xq + c * F;
    for (int64_t f = 0; f < F; ++f) u[f] += static_cast<uint32_t>(w * static_cast<int32_t>(xr[f]));
  }
}

#if defined(__x86_64__) || defined(_M_X64)
// acc gets the raw sums when row < 0; otherwise out[row] gets the finalized floats (acc unused).
// AVX-512 VNNI (int8_cpu.cpp), and AVX2 vpmaddwd or AVX-VNNI (int8_avx2.cpp; vnni: the latter).
template <typename idx_t>
void int8_accumulate_vnni(const Int8Args& a, const idx_t* col, int64_t e0, int64_t e1, int32_t* acc, int64_t row,
                          bool& bad);
template <typename idx_t>
void int8_accumulate_avx2(const Int8Args& a, const idx_t* col, int64_t e0, int64_t e1, int32_t* acc, int64_t row,
                          bool vnni, bool& bad);
#endif

// The edges [e0, e1) on path p: raw sums into acc when row < 0, else finalized into out[row]
// (acc then unused by the SIMD paths, scratch of F int32 for the portable one).
template <typename idx_t>
inline void int8_accumulate(const Int8Args& a, const idx_t* col, int64_t e0, int64_t e1, int32_t* acc, int64_t row,
                            Int8Path p, bool& bad) {
#if defined(__x86_64__) || defined(_M_X64)
  if (p == Int8Path::Avx512Vnni) return int8_accumulate_vnni(a, col, e0, e1, acc, row, bad);
  if (p == Int8Path::Avx2 || p == Int8Path::AvxVnni)
    return int8_accumulate_avx2(a, col, e0, e1, acc, row, p == Int8Path::AvxVnni, bad);
#endif
  (void)p;
  int8_accumulate_generic(a, col, e0, e1, acc, bad);
  if (row >= 0) int8_store_row(a, row, acc);
}

template <typename idx_t>
inline void int8_rows(const Int8Args& a, const idx_t* col, int64_t r0, int64_t r1, Int8Path p, bool& bad) {
  std::vector<int32_t> acc(p == Int8Path::Portable ? a.F : 0);
  for (int64_t i = r0; i < r1; ++i) int8_accumulate(a, col, a.rp[i], a.rp[i + 1], acc.data(), i, p, bad);
#if defined(__x86_64__) || defined(_M_X64)
  if (a.stream) _mm_sfence();  // order this thread's non-temporal stores before the join
#endif
}

}  // namespace cpu
}  // namespace sparsegnn
