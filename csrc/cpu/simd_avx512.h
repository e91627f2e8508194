// AVX-512 register traits of the CPU kernels: VP<scalar_t> gives the vector type, masks and the
// operations the shared kernel bodies (spmm_tile.inc, sddmm_dot.inc) use. 16-bit types are held
// in float32 registers, converted on load and store.
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cstdint>

#include "isa.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

SPARSEGNN_BEGIN_AVX512
namespace sparsegnn {
namespace cpu {
namespace avx512 {

template <typename scalar_t>
struct VP;

template <>
struct VP<float> {
  using acc_t = float;
  using reg = __m512;
  using ireg = __m512i;
  using mask = __mmask16;
  static constexpr int L = 16;
  // Registers of an SpMM feature tile at most (kArgRegs with arg tracking), of an SDDMM step.
  static constexpr int kRegs = 8, kArgRegs = 8, kDotRegs = 1;
  static inline mask tail(int64_t n) { return n >= L ? mask(0xFFFF) : mask((1u << n) - 1); }
  static inline reg load(mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static inline reg loadu(const float* p) { return _mm512_loadu_ps(p); }
  static inline void store(mask m, float* p, reg v) { _mm512_mask_storeu_ps(p, m, v); }
  static inline void stream(float* p, reg v) { _mm512_stream_ps(p, v); }
  static inline reg set1(float v) { return _mm512_set1_ps(v); }
  static inline reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static inline reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static inline reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static inline reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  // Sum of the lanes of acc[0], as a fixed tree (the AVX2 path's hsum adds in the same order):
  // upper + lower 256 bits, upper + lower 128, lanes {2,3} + {0,1}, lane 1 + lane 0.
  static inline float hsum(const reg* acc) {
    const __m256 a = _mm256_add_ps(_mm512_extractf32x8_ps(acc[0], 1), _mm512_castps512_ps256(acc[0]));
    const __m128 b = _mm_add_ps(_mm256_extractf128_ps(a, 1), _mm256_castps256_ps128(a));
    const __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
  }
  static inline mask gt(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static inline mask lt(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static inline mask eq(reg a, reg b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  // vmaxps/vminps: a > b ? a : b (a < b ? a : b), so a NaN or tied a keeps b, as the strict update.
  static inline reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static inline reg min(reg a, reg b) { return _mm512_min_ps(a, b); }
  static inline reg blend(reg a, mask m, reg b) { return _mm512_mask_mov_ps(a, m, b); }
  static inline ireg iset1(int32_t v) { return _mm512_set1_epi32(v); }
  static inline ireg iblend(ireg a, mask m, ireg b) { return _mm512_mask_mov_epi32(a, m, b); }
  static inline mask ineg(ireg a) { return _mm512_cmplt_epi32_mask(a, _mm512_setzero_si512()); }
  // Stores lanes of `m` of (base + a) as int64 (lanes with a < 0 get `none`); nt: all lanes, with
  // non-temporal stores to 64-byte aligned p.
  static inline void store_arg(mask m, int64_t* p, ireg a, int64_t base, int64_t none, bool nt = false) {
    const mask neg = ineg(a);
    const __m512i b = _mm512_set1_epi64(base), nn = _mm512_set1_epi64(none);
    __m512i lo = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(a)), b);
    __m512i hi = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(a, 1)), b);
    lo = _mm512_mask_mov_epi64(lo, __mmask8(neg & 0xFF), nn);
    hi = _mm512_mask_mov_epi64(hi, __mmask8(neg >> 8), nn);
    if (nt) {
      _mm512_stream_si512(reinterpret_cast<__m512i*>(p), lo);
      _mm512_stream_si512(reinterpret_cast<__m512i*>(p + 8), hi);
    } else {
      _mm512_mask_storeu_epi64(p, __mmask8(m & 0xFF), lo);
      _mm512_mask_storeu_epi64(p + 8, __mmask8(m >> 8), hi);
    }
  }
};

template <>
struct VP<double> {
  using acc_t = double;
  using reg = __m512d;
  using ireg = __m256i;
  using mask = __mmask8;
  static constexpr int L = 8;
  static constexpr int kRegs = 8, kArgRegs = 8, kDotRegs = 1;
  static inline mask tail(int64_t n) { return n >= L ? mask(0xFF) : mask((1u << n) - 1); }
  static inline reg load(mask m, const double* p) { return _mm512_maskz_loadu_pd(m, p); }
  static inline reg loadu(const double* p) { return _mm512_loadu_pd(p); }
  static inline void store(mask m, double* p, reg v) { _mm512_mask_storeu_pd(p, m, v); }
  static inline void stream(double* p, reg v) { _mm512_stream_pd(p, v); }
  static inline reg set1(double v) { return _mm512_set1_pd(v); }
  static inline reg add(reg a, reg b) { return _mm512_add_pd(a, b); }
  static inline reg mul(reg a, reg b) { return _mm512_mul_pd(a, b); }
  static inline reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static inline reg div(reg a, reg b) { return _mm512_div_pd(a, b); }
  // upper + lower 256 bits, upper + lower 128, lane 1 + lane 0 (as the AVX2 path).
  static inline double hsum(const reg* acc) {
    const __m256d a = _mm256_add_pd(_mm512_extractf64x4_pd(acc[0], 1), _mm512_castpd512_pd256(acc[0]));
    const __m128d b = _mm_add_pd(_mm256_extractf128_pd(a, 1), _mm256_castpd256_pd128(a));
    return _mm_cvtsd_f64(_mm_add_sd(b, _mm_unpackhi_pd(b, b)));
  }
  static inline mask gt(reg a, reg b) { return _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ); }
  static inline mask lt(reg a, reg b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
  static inline mask eq(reg a, reg b) { return _mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ); }
  static inline reg max(reg a, reg b) { return _mm512_max_pd(a, b); }
  static inline reg min(reg a, reg b) { return _mm512_min_pd(a, b); }
  static inline reg blend(reg a, mask m, reg b) { return _mm512_mask_mov_pd(a, m, b); }
  static inline ireg iset1(int32_t v) { return _mm256_set1_epi32(v); }
  static inline ireg iblend(ireg a, mask m, ireg b) { return _mm256_mask_mov_epi32(a, m, b); }
  static inline mask ineg(ireg a) { return _mm256_cmplt_epi32_mask(a, _mm256_setzero_si256()); }
  static inline void store_arg(mask m, int64_t* p, ireg a, int64_t base, int64_t none, bool nt = false) {
    const mask neg = ineg(a);
    __m512i v = _mm512_add_epi64(_mm512_cvtepi32_epi64(a), _mm512_set1_epi64(base));
    v = _mm512_mask_mov_epi64(v, neg, _mm512_set1_epi64(none));
    if (nt)
      _mm512_stream_si512(reinterpret_cast<__m512i*>(p), v);
    else
      _mm512_mask_storeu_epi64(p, m, v);
  }
};

// 16-bit types: float32 registers, converted on load and store.
struct VP16Base : VP<float> {
  using acc_t = float;
};

template <>
struct VP<c10::Half> : VP16Base {
  static inline reg load(mask m, const c10::Half* p) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, reinterpret_cast<const void*>(p)));
  }
  static inline reg loadu(const c10::Half* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static inline __m256i pack(reg v) { return _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static inline void store(mask m, c10::Half* p, reg v) {
    _mm256_mask_storeu_epi16(reinterpret_cast<void*>(p), m, pack(v));
  }
  static inline void stream(c10::Half* p, reg v) { _mm256_stream_si256(reinterpret_cast<__m256i*>(p), pack(v)); }
  using VP<float>::store;
};

template <>
struct VP<c10::BFloat16> : VP16Base {
  static inline reg load(mask m, const c10::BFloat16* p) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, reinterpret_cast<const void*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
  static inline reg loadu(const c10::BFloat16* p) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
  }
  // Round to nearest even, NaN -> quiet NaN (c10::BFloat16's rounding).
  static inline __m256i pack(reg v) {
    const __m512i u = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), lsb), 16);
    r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), _mm512_set1_epi32(0x7FC0));
    return _mm512_cvtepi32_epi16(r);
  }
  static inline void store(mask m, c10::BFloat16* p, reg v) {
    _mm256_mask_storeu_epi16(reinterpret_cast<void*>(p), m, pack(v));
  }
  static inline void stream(c10::BFloat16* p, reg v) { _mm256_stream_si256(reinterpret_cast<__m256i*>(p), pack(v)); }
  using VP<float>::store;
};

}  // namespace avx512
}  // namespace cpu
}  // namespace sparsegnn
SPARSEGNN_END_TARGET
#endif
