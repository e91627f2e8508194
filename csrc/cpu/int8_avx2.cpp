// AVX2 path of the CPU INT8 SpMM (int8_cpu.cpp has the op, the portable loop and AVX-512 VNNI).
//
// vpmaddwd: two gathered rows (edges) are sign-extended to int16 and interleaved word-wise, so
// that each int32 lane holds one feature of both edges; vpmaddwd multiplies them with the two
// edge weights (int16, broadcast as a pair) and adds the pair: x0 * w0 + x1 * w1, at most
// 2 * 128 * 128 in magnitude, exact in int32. The sums go on in wrapping int32 arithmetic, which
// is associative, so the integers are the portable loop's and the scaled floats (the same scalar
// expression, IEEE products) its bits. A tile covers up to 64 features (8 accumulators) in
// chunks of 16; the interleave puts features [0-3 | 8-11] in one register and [4-7 | 12-15] in the
// other, which one 128-bit swap undoes when the tile is written. A partial chunk (F % 16) is
// loaded through a zeroed 16-byte buffer; lanes past F are never stored.
#include "common.h"
#include "int8_kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace sparsegnn {
namespace cpu {

#if defined(__x86_64__) || defined(_M_X64)
SPARSEGNN_BEGIN_AVX2

namespace {

// 16 int8 of p (n >= 1 of them valid, the rest 0) as int16.
inline __m256i load16(const int8_t* p, int64_t n) {
  if (n >= 16) return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  alignas(16) int8_t buf[16] = {};
  std::memcpy(buf, p, static_cast<size_t>(n));
  return _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(buf)));
}

// The tile [f0, f0 + 16 NC) of edges [e0, e1): int32 sums into acc (raw) when row < 0, else
// finalized into out[row].
template <int NC, typename idx_t>
inline void madd_tile(const Int8Args& a, const idx_t* col, int64_t e0, int64_t e1, int64_t f0, int32_t* acc,
                      int64_t row, bool& bad) {
  const int64_t F = a.F, m = a.m;
  __m256i q[NC][2];
  int64_t rem[NC];
  for (int k = 0; k < NC; ++k) {
    q[k][0] = q[k][1] = _mm256_setzero_si256();
    rem[k] = F - (f0 + 16 * k);
  }
  const int8_t* xb = a.xq + f0;
  const int64_t lines = (16 * NC + 63) / 64;
  const int64_t pf = a.prefetch.edges(lines);
  for (int64_t e = e0; e < e1; e += 2) {
    int64_t c[2];
    int32_t w[2];
    for (int j = 0; j < 2; ++j) {
      const int64_t ej = e + j;
      c[j] = 0;
      w[j] = 0;
      if (ej < e1) {
        c[j] = static_cast<int64_t>(col[ej]);
        w[j] = a.val ? static_cast<int32_t>(a.val[ej]) : 1;
        if (c[j] < 0 || c[j] >= m) { bad = true; c[j] = 0; w[j] = 0; }
      }
    }
    if (pf > 0 && e + pf + 1 < a.nnz) {  // across row ends: rows are short
      for (int j = 0; j < 2; ++j) Prefetch::row(xb, static_cast<int64_t>(col[e + pf + j]), m, F, lines);
    }
    const __m256i wv = _mm256_set1_epi32(static_cast<int32_t>((static_cast<uint32_t>(w[1]) << 16) |
                                                              (static_cast<uint32_t>(w[0]) & 0xFFFFu)));
    const int8_t* r0 = xb + c[0] * F;
    const int8_t* r1 = xb + c[1] * F;
    for (int k = 0; k < NC; ++k) {
      const __m256i x0 = load16(r0 + 16 * k, rem[k]), x1 = load16(r1 + 16 * k, rem[k]);
      q[k][0] = _mm256_add_epi32(q[k][0], _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1), wv));
      q[k][1] = _mm256_add_epi32(q[k][1], _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1), wv));
    }
  }
  const __m256 rs = _mm256_set1_ps(row >= 0 ? a.row_scale[row] : 0.f);
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int k = 0; k < NC; ++k) {
    const __m256i o[2] = {_mm256_permute2x128_si256(q[k][0], q[k][1], 0x20),
                          _mm256_permute2x128_si256(q[k][0], q[k][1], 0x31)};
    for (int h = 0; h < 2; ++h) {
      const int64_t base = f0 + 16 * k + 8 * h;
      const int64_t n = F - base;
      if (n <= 0) break;
      const __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(std::min<int64_t>(n, 8))), idx);
      if (row >= 0) {
        // float(acc) * row_scale * col_scale, the portable path's expression (IEEE products).
        const __m256 fv = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(o[h]), rs),
                                        _mm256_maskload_ps(a.col_scale + base, mk));
        _mm256_maskstore_ps(a.out + row * F + base, mk, fv);
      } else {
        _mm256_maskstore_epi32(acc + base, mk, o[h]);
      }
    }
  }
}

}  // namespace

template <typename idx_t>
void int8_accumulate_avx2(const Int8Args& a, const idx_t* col, int64_t e0, int64_t e1, int32_t* acc, int64_t row,
                          bool& bad) {
  const int64_t F = a.F;
  if (e1 > e0 && a.m == 0) {
    bad = true;
    e1 = e0;  // nothing to gather: the tiles then write zeros
  }
  for (int64_t f0 = 0; f0 < F; f0 += 64) {
    switch (std::min<int64_t>((F - f0 + 15) / 16, 4)) {  // chunks of the tile, none of them empty
      case 4: madd_tile<4>(a, col, e0, e1, f0, acc, row, bad); break;
      case 3: madd_tile<3>(a, col, e0, e1, f0, acc, row, bad); break;
      case 2: madd_tile<2>(a, col, e0, e1, f0, acc, row, bad); break;
      default: madd_tile<1>(a, col, e0, e1, f0, acc, row, bad); break;
    }
  }
}

template void int8_accumulate_avx2<int32_t>(const Int8Args&, const int32_t*, int64_t, int64_t, int32_t*, int64_t,
                                            bool&);
template void int8_accumulate_avx2<int64_t>(const Int8Args&, const int64_t*, int64_t, int64_t, int32_t*, int64_t,
                                            bool&);

SPARSEGNN_END_TARGET
#endif

}  // namespace cpu
}  // namespace sparsegnn
