// AVX2 + FMA register traits of the CPU kernels: the same interface as simd_avx512.h on 256-bit
// registers, for the shared kernel bodies (spmm_tile.inc, sddmm_dot.inc). Masks are vector masks
// (all-ones lanes); tails load and store with vmaskmov, and 16-bit types (no 16-bit masked moves
// in AVX2) through a small zeroed buffer. float16 converts with F16C, bfloat16 with shifts.
// Arg offsets are int32 lanes for float, int64 lanes for double (one per double lane).
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cstdint>
#include <cstring>

#include "isa.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

SPARSEGNN_BEGIN_AVX2
namespace sparsegnn {
namespace cpu {
namespace avx2 {

template <typename scalar_t>
struct VP;

template <>
struct VP<float> {
  using acc_t = float;
  using reg = __m256;
  using ireg = __m256i;
  using mask = __m256;
  static constexpr int L = 8;
  // 16 ymm registers: 8 accumulators, or 4 accumulators + 4 arg registers; SDDMM steps over 16
  // floats in 2 registers, as the AVX-512 path's one (so its dot products are the same bits).
  static constexpr int kRegs = 8, kArgRegs = 4, kDotRegs = 2;
  // Lanes [0, n) set (none for n <= 0).
  static inline mask tail(int64_t n) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int32_t k = static_cast<int32_t>(n < 0 ? 0 : n > L ? L : n);
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(k), idx));
  }
  static inline reg load(mask m, const float* p) { return _mm256_maskload_ps(p, _mm256_castps_si256(m)); }
  static inline reg loadu(const float* p) { return _mm256_loadu_ps(p); }
  static inline void store(mask m, float* p, reg v) { _mm256_maskstore_ps(p, _mm256_castps_si256(m), v); }
  static inline void stream(float* p, reg v) { _mm256_stream_ps(p, v); }
  static inline reg set1(float v) { return _mm256_set1_ps(v); }
  static inline reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static inline reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  static inline reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static inline reg div(reg a, reg b) { return _mm256_div_ps(a, b); }
  // acc[1] + acc[0] is the AVX-512 register's upper + lower half; then its tree (simd_avx512.h).
  static inline float hsum(const reg* acc) {
    const __m256 a = _mm256_add_ps(acc[1], acc[0]);
    const __m128 b = _mm_add_ps(_mm256_extractf128_ps(a, 1), _mm256_castps256_ps128(a));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
  }
  static inline mask gt(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static inline mask lt(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static inline mask eq(reg a, reg b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  // vmaxps/vminps: a > b ? a : b (a < b ? a : b), so a NaN or tied a keeps b, as the strict update.
  static inline reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static inline reg min(reg a, reg b) { return _mm256_min_ps(a, b); }
  static inline reg blend(reg a, mask m, reg b) { return _mm256_blendv_ps(a, b, m); }
  static inline ireg iset1(int32_t v) { return _mm256_set1_epi32(v); }
  static inline ireg iblend(ireg a, mask m, ireg b) {
    return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), m));
  }
  static inline mask ineg(ireg a) { return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_setzero_si256(), a)); }
  // Stores lanes of `m` of (base + a) as int64 (lanes with a < 0 get `none`); nt: all lanes, with
  // non-temporal stores to 64-byte aligned p.
  static inline void store_arg(mask m, int64_t* p, ireg a, int64_t base, int64_t none, bool nt = false) {
    const __m256i b = _mm256_set1_epi64x(base), nn = _mm256_set1_epi64x(none), z = _mm256_setzero_si256();
    const __m256i a0 = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(a));
    const __m256i a1 = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(a, 1));
    const __m256i lo = _mm256_blendv_epi8(_mm256_add_epi64(a0, b), nn, _mm256_cmpgt_epi64(z, a0));
    const __m256i hi = _mm256_blendv_epi8(_mm256_add_epi64(a1, b), nn, _mm256_cmpgt_epi64(z, a1));
    if (nt) {
      _mm256_stream_si256(reinterpret_cast<__m256i*>(p), lo);
      _mm256_stream_si256(reinterpret_cast<__m256i*>(p + 4), hi);
    } else {
      const __m256i mi = _mm256_castps_si256(m);
      _mm256_maskstore_epi64(reinterpret_cast<long long*>(p), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(mi)), lo);
      _mm256_maskstore_epi64(reinterpret_cast<long long*>(p + 4),
                             _mm256_cvtepi32_epi64(_mm256_extracti128_si256(mi, 1)), hi);
    }
  }
};

template <>
struct VP<double> {
  using acc_t = double;
  using reg = __m256d;
  using ireg = __m256i;  // int64 lanes
  using mask = __m256d;
  static constexpr int L = 4;
  static constexpr int kRegs = 8, kArgRegs = 4, kDotRegs = 2;
  static inline mask tail(int64_t n) {
    const __m256i idx = _mm256_setr_epi64x(0, 1, 2, 3);
    const int64_t k = n < 0 ? 0 : n > L ? L : n;
    return _mm256_castsi256_pd(_mm256_cmpgt_epi64(_mm256_set1_epi64x(k), idx));
  }
  static inline reg load(mask m, const double* p) { return _mm256_maskload_pd(p, _mm256_castpd_si256(m)); }
  static inline reg loadu(const double* p) { return _mm256_loadu_pd(p); }
  static inline void store(mask m, double* p, reg v) { _mm256_maskstore_pd(p, _mm256_castpd_si256(m), v); }
  static inline void stream(double* p, reg v) { _mm256_stream_pd(p, v); }
  static inline reg set1(double v) { return _mm256_set1_pd(v); }
  static inline reg add(reg a, reg b) { return _mm256_add_pd(a, b); }
  static inline reg mul(reg a, reg b) { return _mm256_mul_pd(a, b); }
  static inline reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
  static inline reg div(reg a, reg b) { return _mm256_div_pd(a, b); }
  static inline double hsum(const reg* acc) {
    const __m256d a = _mm256_add_pd(acc[1], acc[0]);
    const __m128d b = _mm_add_pd(_mm256_extractf128_pd(a, 1), _mm256_castpd256_pd128(a));
    return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
  }
  static inline mask gt(reg a, reg b) { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
  static inline mask lt(reg a, reg b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
  static inline mask eq(reg a, reg b) { return _mm256_cmp_pd(a, b, _CMP_EQ_OQ); }
  static inline reg max(reg a, reg b) { return _mm256_max_pd(a, b); }
  static inline reg min(reg a, reg b) { return _mm256_min_pd(a, b); }
  static inline reg blend(reg a, mask m, reg b) { return _mm256_blendv_pd(a, b, m); }
  static inline ireg iset1(int32_t v) { return _mm256_set1_epi64x(v); }
  static inline ireg iblend(ireg a, mask m, ireg b) {
    return _mm256_castpd_si256(_mm256_blendv_pd(_mm256_castsi256_pd(a), _mm256_castsi256_pd(b), m));
  }
  static inline mask ineg(ireg a) { return _mm256_castsi256_pd(_mm256_cmpgt_epi64(_mm256_setzero_si256(), a)); }
  static inline void store_arg(mask m, int64_t* p, ireg a, int64_t base, int64_t none, bool nt = false) {
    const __m256i v = _mm256_blendv_epi8(_mm256_add_epi64(a, _mm256_set1_epi64x(base)), _mm256_set1_epi64x(none),
                                         _mm256_castpd_si256(ineg(a)));
    if (nt)
      _mm256_stream_si256(reinterpret_cast<__m256i*>(p), v);
    else
      _mm256_maskstore_epi64(reinterpret_cast<long long*>(p), _mm256_castpd_si256(m), v);
  }
};

// 16-bit types: float32 registers, converted on load and store. A tail (mask not all set) goes
// through a zeroed 8-lane buffer: AVX2 has no 16-bit masked load or store.
template <typename T>
struct VP16 : VP<float> {
  static inline int lanes(mask m) { return __builtin_popcount(_mm256_movemask_ps(m)); }
  static inline __m128i load16(mask m, const T* p) {
    const int n = lanes(m);
    if (n == L) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    alignas(16) uint16_t buf[L] = {};
    std::memcpy(buf, p, static_cast<size_t>(n) * sizeof(T));
    return _mm_load_si128(reinterpret_cast<const __m128i*>(buf));
  }
  static inline void store16(mask m, T* p, __m128i v) {
    const int n = lanes(m);
    if (n == L) return _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v);
    alignas(16) uint16_t buf[L];
    _mm_store_si128(reinterpret_cast<__m128i*>(buf), v);
    std::memcpy(p, buf, static_cast<size_t>(n) * sizeof(T));
  }
};

template <>
struct VP<c10::Half> : VP16<c10::Half> {
  static inline reg cvt(__m128i h) { return _mm256_cvtph_ps(h); }
  static inline __m128i pack(reg v) { return _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static inline reg load(mask m, const c10::Half* p) { return cvt(load16(m, p)); }
  static inline reg loadu(const c10::Half* p) { return cvt(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static inline void store(mask m, c10::Half* p, reg v) { store16(m, p, pack(v)); }
  static inline void stream(c10::Half* p, reg v) { _mm_stream_si128(reinterpret_cast<__m128i*>(p), pack(v)); }
  using VP<float>::store;
};

template <>
struct VP<c10::BFloat16> : VP16<c10::BFloat16> {
  static inline reg cvt(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
  // Round to nearest even, NaN -> quiet NaN (c10::BFloat16's rounding).
  static inline __m128i pack(reg v) {
    const __m256i u = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7FFF)), lsb), 16);
    r = _mm256_blendv_epi8(r, _mm256_set1_epi32(0x7FC0), _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
    return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
  }
  static inline reg load(mask m, const c10::BFloat16* p) { return cvt(load16(m, p)); }
  static inline reg loadu(const c10::BFloat16* p) {
    return cvt(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static inline void store(mask m, c10::BFloat16* p, reg v) { store16(m, p, pack(v)); }
  static inline void stream(c10::BFloat16* p, reg v) { _mm_stream_si128(reinterpret_cast<__m128i*>(p), pack(v)); }
  using VP<float>::store;
};

}  // namespace avx2
}  // namespace cpu
}  // namespace sparsegnn
SPARSEGNN_END_TARGET
#endif
