// AVX2 paths of the CPU INT8 SpMM (int8_cpu.cpp has the op, the portable loop and AVX-512 VNNI).
//
// Both sum in wrapping int32 arithmetic, which is associative, so the integers are the portable
// loop's and the scaled floats (the same scalar expression, IEEE products) its bits.
//
// vpmaddwd (any AVX2 CPU): two gathered rows (edges) are sign-extended to int16 and interleaved
// word-wise, so that each int32 lane holds one feature of both edges; vpmaddwd multiplies them
// with the two edge weights (int16, broadcast as a pair) and adds the pair: x0 * w0 + x1 * w1, at
// most 2 * 128 * 128 in magnitude, exact in int32. A tile covers up to 64 features (8
// accumulators) in chunks of 16; the interleave puts features [0-3 | 8-11] in one register and
// [4-7 | 12-15] in the other, which one 128-bit swap undoes when the tile is written.
//
// AVX-VNNI (256-bit vpdpbusd, where the CPU has it): four rows interleaved byte-wise, each shifted
// by +128 to u8, times the four weights (s8), as the AVX-512 VNNI kernel on 32-byte chunks (lane
// L, register k, dword j holds feature 16L + 4k + j), the row's 128 * sum(weights) subtracted.
//
// A partial chunk (F % 16, F % 32) is loaded through a zeroed buffer; lanes past F are never stored.
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

// N int8 of p (n >= 1 of them valid, the rest 0).
template <int N>
inline void load_bytes(const int8_t* p, int64_t n, int8_t* buf) {
  std::memset(buf, 0, N);
  std::memcpy(buf, p, static_cast<size_t>(std::min<int64_t>(n, N)));
}

// Columns and weights of edges e .. e + J - 1 (those past e1, or out of range, get column 0 and
// weight 0); prefetches `lines` cache lines at xb of the rows of the edges pf ahead.
template <int J, typename idx_t>
inline void edges(const Int8Args& a, const idx_t* col, int64_t e, int64_t e1, const int8_t* xb, int64_t pf,
                  int64_t lines, int64_t* c, int32_t* w, bool& bad) {
  for (int j = 0; j < J; ++j) {
    const int64_t ej = e + j;
    c[j] = 0;
    w[j] = 0;
    if (ej < e1) {
      c[j] = static_cast<int64_t>(col[ej]);
      w[j] = a.val ? static_cast<int32_t>(a.val[ej]) : 1;
      if (c[j] < 0 || c[j] >= a.m) { bad = true; c[j] = 0; w[j] = 0; }
    }
  }
  if (pf > 0 && e + pf + J - 1 < a.nnz) {  // across row ends: rows are short
    for (int j = 0; j < J; ++j) Prefetch::row(xb, static_cast<int64_t>(col[e + pf + j]), a.m, a.F, lines);
  }
}

// Features [base, base + 8) of v (those below F): finalized into out[row] when row >= 0, else the
// int32 sums into acc. Whole chunks take plain (or non-temporal) stores; vmaskmovps, slow on AMD,
// only the tail.
inline void store8(const Int8Args& a, int64_t row, int32_t* acc, int64_t base, __m256i v) {
  const int64_t n = a.F - base;
  const __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(std::min<int64_t>(n, 8))),
                                        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  if (row >= 0) {
    // float(acc) * row_scale * col_scale, the portable path's expression (IEEE products).
    const __m256 cs = n >= 8 ? _mm256_loadu_ps(a.col_scale + base) : _mm256_maskload_ps(a.col_scale + base, mk);
    const __m256 fv = _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(v), _mm256_set1_ps(a.row_scale[row])), cs);
    float* o = a.out + row * a.F + base;
    if (n < 8)
      _mm256_maskstore_ps(o, mk, fv);
    else if (a.stream)
      _mm256_stream_ps(o, fv);
    else
      _mm256_storeu_ps(o, fv);
  } else if (n >= 8) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + base), v);
  } else {
    _mm256_maskstore_epi32(acc + base, mk, v);
  }
}

// 16 int8 of p (n >= 1 of them valid) as int16.
inline __m256i load16(const int8_t* p, int64_t n) {
  if (n >= 16) return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  alignas(16) int8_t buf[16];
  load_bytes<16>(p, n, buf);
  return _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(buf)));
}

// The vpmaddwd tile [f0, f0 + 16 NC) of edges [e0, e1).
template <int NC, typename idx_t>
inline void madd_tile(const Int8Args& a, const idx_t* col, int64_t e0, int64_t e1, int64_t f0, int32_t* acc,
                      int64_t row, bool& bad) {
  const int64_t F = a.F;
  __m256i q[NC][2];
  int64_t rem[NC];
  for (int k = 0; k < NC; ++k) {
    q[k][0] = q[k][1] = _mm256_setzero_si256();
    rem[k] = F - (f0 + 16 * k);
  }
  const int8_t* xb = a.xq + f0;
  const int64_t pf = a.prefetch.edges(1);
  for (int64_t e = e0; e < e1; e += 2) {
    int64_t c[2];
    int32_t w[2];
    edges<2>(a, col, e, e1, xb, pf, 1, c, w, bad);
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
  for (int k = 0; k < NC; ++k) {
    const int64_t base = f0 + 16 * k;
    store8(a, row, acc, base, _mm256_permute2x128_si256(q[k][0], q[k][1], 0x20));
    if (F - base > 8) store8(a, row, acc, base + 8, _mm256_permute2x128_si256(q[k][0], q[k][1], 0x31));
  }
}

// Unweighted rows (every weight 1): an edge's int8 features are sign-extended and added in int16,
// exact for kAddEdges = 256 edges (256 * 127 = 32512 and 256 * -128 = -32768 fit), so 16 features
// of an edge cost one vpmovsxbw and one vpaddw. Rows longer than that widen their int16 sums into
// int32 every kAddEdges edges. A tile covers up to 128 features (8 accumulators of 16) in feature
// order: no interleave, no padding edges.
template <int NC, typename idx_t>
inline void add_tile(const Int8Args& a, const idx_t* col, int64_t e0, int64_t e1, int64_t f0, int32_t* acc,
                     int64_t row, bool& bad) {
  const int64_t F = a.F;
  int64_t rem[NC];
  for (int k = 0; k < NC; ++k) rem[k] = F - (f0 + 16 * k);
  const int8_t* xb = a.xq + f0;
  const int64_t lines = (16 * NC + 63) / 64;
  const int64_t pf = a.prefetch.edges(lines);
  const bool whole = F - f0 >= 16 * NC;  // no chunk of the tile is partial
  alignas(32) int32_t wide[16 * NC];  // int32 sums of the finished chunks (rows over kAddEdges)
  const bool chunked = e1 - e0 > kAddEdges;
  if (chunked) std::memset(wide, 0, sizeof(wide));
  __m256i s[NC];
  for (int64_t c0 = e0;; c0 += kAddEdges) {
    const int64_t c1 = std::min(e1, c0 + kAddEdges);
    for (int k = 0; k < NC; ++k) s[k] = _mm256_setzero_si256();
    for (int64_t e = c0; e < c1; ++e) {
      if (pf > 0 && e + pf < a.nnz) Prefetch::row(xb, static_cast<int64_t>(col[e + pf]), a.m, F, lines);
      const int64_t c = static_cast<int64_t>(col[e]);
      if (static_cast<uint64_t>(c) >= static_cast<uint64_t>(a.m)) {  // reported, not gathered
        bad = true;
        continue;
      }
      const int8_t* r = xb + c * F;
      if (whole) {
        for (int k = 0; k < NC; ++k)
          s[k] = _mm256_add_epi16(s[k], _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(r + 16 * k))));
      } else {
        for (int k = 0; k < NC; ++k) s[k] = _mm256_add_epi16(s[k], load16(r + 16 * k, rem[k]));
      }
    }
    if (!chunked) break;
    for (int k = 0; k < NC; ++k) {
      __m256i* wv = reinterpret_cast<__m256i*>(wide + 16 * k);
      wv[0] = _mm256_add_epi32(wv[0], _mm256_cvtepi16_epi32(_mm256_castsi256_si128(s[k])));
      wv[1] = _mm256_add_epi32(wv[1], _mm256_cvtepi16_epi32(_mm256_extracti128_si256(s[k], 1)));
    }
    if (c1 == e1) break;
  }
  for (int k = 0; k < NC; ++k) {
    const int64_t base = f0 + 16 * k;
    const __m256i lo = chunked ? _mm256_load_si256(reinterpret_cast<const __m256i*>(wide + 16 * k))
                               : _mm256_cvtepi16_epi32(_mm256_castsi256_si128(s[k]));
    store8(a, row, acc, base, lo);
    if (F - base > 8) {
      const __m256i hi = chunked ? _mm256_load_si256(reinterpret_cast<const __m256i*>(wide + 16 * k + 8))
                                 : _mm256_cvtepi16_epi32(_mm256_extracti128_si256(s[k], 1));
      store8(a, row, acc, base + 8, hi);
    }
  }
}

}  // namespace

SPARSEGNN_END_TARGET

SPARSEGNN_BEGIN_AVX_VNNI

namespace {

// 32 int8 of p (n >= 1 of them valid), each + 128 as u8 (padding included: it gets no weight in
// the correction, and lanes past F are never stored).
inline __m256i load32_u8(const int8_t* p, int64_t n) {
  const __m256i sign = _mm256_set1_epi8(static_cast<char>(0x80));
  if (n >= 32) return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), sign);
  alignas(32) int8_t buf[32];
  load_bytes<32>(p, n, buf);
  return _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(buf)), sign);
}

// The AVX-VNNI tile [f0, f0 + 32 NC) of edges [e0, e1).
template <int NC, typename idx_t>
inline void vnni_tile(const Int8Args& a, const idx_t* col, int64_t e0, int64_t e1, int64_t f0, int32_t* acc,
                      int64_t row, bool& bad) {
  const int64_t F = a.F;
  __m256i q[NC][4];
  int64_t rem[NC];
  for (int k = 0; k < NC; ++k) {
    for (int r = 0; r < 4; ++r) q[k][r] = _mm256_setzero_si256();
    rem[k] = F - (f0 + 32 * k);
  }
  const int8_t* xb = a.xq + f0;
  const int64_t lines = (32 * NC + 63) / 64;
  const int64_t pf = a.prefetch.edges(lines);
  uint32_t wsum = 0;
  for (int64_t e = e0; e < e1; e += 4) {
    int64_t c[4];
    int32_t w[4];
    edges<4>(a, col, e, e1, xb, pf, lines, c, w, bad);
    wsum += static_cast<uint32_t>(w[0] + w[1] + w[2] + w[3]);
    uint32_t packed = 0;
    for (int j = 0; j < 4; ++j) packed |= static_cast<uint32_t>(static_cast<uint8_t>(w[j])) << (8 * j);
    const __m256i wv = _mm256_set1_epi32(static_cast<int32_t>(packed));
    for (int k = 0; k < NC; ++k) {
      const __m256i r0 = load32_u8(xb + c[0] * F + 32 * k, rem[k]), r1 = load32_u8(xb + c[1] * F + 32 * k, rem[k]);
      const __m256i t0 = _mm256_unpacklo_epi8(r0, r1), t1 = _mm256_unpackhi_epi8(r0, r1);
      const __m256i r2 = load32_u8(xb + c[2] * F + 32 * k, rem[k]), r3 = load32_u8(xb + c[3] * F + 32 * k, rem[k]);
      const __m256i t2 = _mm256_unpacklo_epi8(r2, r3), t3 = _mm256_unpackhi_epi8(r2, r3);
      q[k][0] = _mm256_dpbusd_avx_epi32(q[k][0], _mm256_unpacklo_epi16(t0, t2), wv);
      q[k][1] = _mm256_dpbusd_avx_epi32(q[k][1], _mm256_unpackhi_epi16(t0, t2), wv);
      q[k][2] = _mm256_dpbusd_avx_epi32(q[k][2], _mm256_unpacklo_epi16(t1, t3), wv);
      q[k][3] = _mm256_dpbusd_avx_epi32(q[k][3], _mm256_unpackhi_epi16(t1, t3), wv);
    }
  }
  // Undo the +128 shift; features 8h .. 8h + 7 of the chunk are 128-bit halves of two registers.
  const __m256i corr = _mm256_set1_epi32(static_cast<int32_t>(128u * wsum));
  for (int k = 0; k < NC; ++k) {
    const __m256i o[4] = {_mm256_permute2x128_si256(q[k][0], q[k][1], 0x20),
                          _mm256_permute2x128_si256(q[k][2], q[k][3], 0x20),
                          _mm256_permute2x128_si256(q[k][0], q[k][1], 0x31),
                          _mm256_permute2x128_si256(q[k][2], q[k][3], 0x31)};
    for (int h = 0; h < 4 && F - (f0 + 32 * k + 8 * h) > 0; ++h)
      store8(a, row, acc, f0 + 32 * k + 8 * h, _mm256_sub_epi32(o[h], corr));
  }
}

}  // namespace

SPARSEGNN_END_TARGET

template <typename idx_t>
void int8_accumulate_avx2(const Int8Args& a, const idx_t* col, int64_t e0, int64_t e1, int32_t* acc, int64_t row,
                          bool vnni, bool& bad) {
  const int64_t F = a.F;
  if (e1 > e0 && a.m == 0) {
    bad = true;
    e1 = e0;  // nothing to gather: the tiles then write zeros
  }
  if (a.val == nullptr) {
    for (int64_t f0 = 0; f0 < F; f0 += 128)  // tiles of up to 8 chunks of 16, none of them empty
      with_chunks<8>((F - f0 + 15) / 16, [&](auto nc) { add_tile<decltype(nc)::value>(a, col, e0, e1, f0, acc, row, bad); });
    return;
  }
  if (vnni) {
    for (int64_t f0 = 0; f0 < F; f0 += 64) {  // two chunks of 32 (8 accumulators), or one
      if (F - f0 > 32)
        vnni_tile<2>(a, col, e0, e1, f0, acc, row, bad);
      else
        vnni_tile<1>(a, col, e0, e1, f0, acc, row, bad);
    }
    return;
  }
  for (int64_t f0 = 0; f0 < F; f0 += 64)  // tiles of up to 4 chunks of 16, none of them empty
    with_chunks<4>((F - f0 + 15) / 16, [&](auto nc) { madd_tile<decltype(nc)::value>(a, col, e0, e1, f0, acc, row, bad); });
}

template void int8_accumulate_avx2<int32_t>(const Int8Args&, const int32_t*, int64_t, int64_t, int32_t*, int64_t,
                                            bool, bool&);
template void int8_accumulate_avx2<int64_t>(const Int8Args&, const int64_t*, int64_t, int64_t, int32_t*, int64_t,
                                            bool, bool&);
#endif

}  // namespace cpu
}  // namespace sparsegnn
