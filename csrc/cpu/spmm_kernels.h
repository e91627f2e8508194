// Row kernels of the CPU SpMM / segment reduce: a portable loop and an AVX-512 path.
#pragma once

#include <ATen/OpMathType.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "common.h"
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


// ---------------------------------------------------------------------------------------------
// AVX-512 path. A row is processed in feature tiles of NR vector registers (NR in {1, 2, 4, 8};
// the tile's last register is masked, so any F works); the tile's accumulators (and, for max/min,
// the edge offsets reaching the extreme, as int32 lanes) stay in registers while the row's edges
// stream by, in edge order (so the summation order is the portable loop's). The x rows of upcoming
// edges are prefetched. Mean divides, max/min pick with strict compares (NaN never replaces).
#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c")

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
  static inline mask tail(int64_t n) { return n >= L ? mask(0xFFFF) : mask((1u << n) - 1); }
  static inline reg load(mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  static inline void store(mask m, float* p, reg v) { _mm512_mask_storeu_ps(p, m, v); }
  static inline void stream(float* p, reg v) { _mm512_stream_ps(p, v); }
  static inline reg set1(float v) { return _mm512_set1_ps(v); }
  static inline reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static inline reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static inline reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static inline reg div(reg a, reg b) { return _mm512_div_ps(a, b); }
  static inline float hsum(reg a) { return _mm512_reduce_add_ps(a); }
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
  static inline mask tail(int64_t n) { return n >= L ? mask(0xFF) : mask((1u << n) - 1); }
  static inline reg load(mask m, const double* p) { return _mm512_maskz_loadu_pd(m, p); }
  static inline void store(mask m, double* p, reg v) { _mm512_mask_storeu_pd(p, m, v); }
  static inline void stream(double* p, reg v) { _mm512_stream_pd(p, v); }
  static inline reg set1(double v) { return _mm512_set1_pd(v); }
  static inline reg add(reg a, reg b) { return _mm512_add_pd(a, b); }
  static inline reg mul(reg a, reg b) { return _mm512_mul_pd(a, b); }
  static inline reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static inline reg div(reg a, reg b) { return _mm512_div_pd(a, b); }
  static inline double hsum(reg a) { return _mm512_reduce_add_pd(a); }
  static inline mask gt(reg a, reg b) { return _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ); }
  static inline mask lt(reg a, reg b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
  static inline mask eq(reg a, reg b) { return _mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ); }
  static inline reg max(reg a, reg b) { return _mm512_max_pd(a, b); }
  static inline reg min(reg a, reg b) { return _mm512_min_pd(a, b); }
  static inline reg blend(reg a, mask m, reg b) { return _mm512_mask_mov_pd(a, m, b); }
  static inline ireg iset1(int32_t v) { return _mm256_set1_epi32(v); }
  static inline ireg iblend(ireg a, mask m, ireg b) { return _mm256_mask_mov_epi32(a, m, b); }
  static inline void store_arg(mask m, int64_t* p, ireg a, int64_t base, int64_t none, bool nt = false) {
    const mask neg = _mm256_cmplt_epi32_mask(a, _mm256_setzero_si256());
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

template <typename P>
inline typename P::mask neg_mask(typename P::ireg a);
template <>
inline __mmask16 neg_mask<VP<float>>(__m512i a) { return _mm512_cmplt_epi32_mask(a, _mm512_setzero_si512()); }
template <>
inline __mmask16 neg_mask<VP<c10::Half>>(__m512i a) { return _mm512_cmplt_epi32_mask(a, _mm512_setzero_si512()); }
template <>
inline __mmask16 neg_mask<VP<c10::BFloat16>>(__m512i a) { return _mm512_cmplt_epi32_mask(a, _mm512_setzero_si512()); }
template <>
inline __mmask8 neg_mask<VP<double>>(__m256i a) { return _mm256_cmplt_epi32_mask(a, _mm256_setzero_si256()); }


// Calls fn(std::integral_constant<int, I>) for I = 0..N-1, unrolled at compile time: keeps a
// tile's accumulators in registers (a run-time loop over them made GCC spill them to the stack).
template <int N, typename Fn>
inline __attribute__((always_inline)) void unroll(Fn&& fn) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (fn(std::integral_constant<int, I>{}), ...);
  }(std::make_integer_sequence<int, N>{});
}

// One feature tile [f0, f0 + nvalid) of edges [e0, e1). Raw: unfinalized accumulators (acc_t) and
// absolute arg (-1 = none) into scratch; else the finalized row tile into out/arg. Arg = false
// (max/min without arg, for forward-only calls) tracks and writes no arg.
template <typename scalar_t, typename idx_t, bool HasValue, bool Identity, Reduce R, bool Arg, int NR>
inline __attribute__((always_inline)) void tile(const Args<scalar_t, idx_t>& a, int64_t e0, int64_t e1, int64_t f0, int64_t nvalid, scalar_t* out,
          int64_t* arg, at::opmath_type<scalar_t>* sacc, int64_t* sarg, bool& bad) {
  const bool Raw = sacc != nullptr;
  using P = VP<scalar_t>;
  using acc_t = typename P::acc_t;
  using reg = typename P::reg;
  using ireg = typename P::ireg;
  using mask = typename P::mask;
  constexpr int L = P::L;
  constexpr bool kArg = has_arg<R>() && Arg;
  const int64_t F = a.F, m = a.m, nnz = a.nnz;
  const mask full = P::tail(L), last = P::tail(nvalid - (NR - 1) * L);
  reg acc[NR];
  ireg ag[NR];
  unroll<NR>([&](auto r) {
    acc[r] = P::set1(Reducer<R, acc_t>::init());
    if constexpr (kArg) ag[r] = P::iset1(-1);
  });
  const scalar_t* xb = a.x + f0;
  const idx_t* col = a.col;
  constexpr int kLines = (NR * L * static_cast<int>(sizeof(scalar_t)) + 63) / 64;
  const scalar_t* val = a.val;
  const int64_t pf = a.prefetch.edges(kLines);
  const int64_t pf_end = pf > 0 ? nnz - pf : 0;  // edges e < pf_end prefetch edge e + pf
  bool lbad = false;  // a local: a write through `bad` could alias the fields read in the loop
  for (int64_t e = e0; e < e1; ++e) {
    // Prefetch runs across row ends (rows average a dozen edges: stopping at e1 would leave
    // every row's first edges cold).
    if (e < pf_end) {
      Prefetch::row(xb, Identity ? e + pf : static_cast<int64_t>(col[e + pf]), m, F, kLines);
    }
    const int64_t c = Identity ? e : static_cast<int64_t>(col[e]);
    if (static_cast<uint64_t>(c) >= static_cast<uint64_t>(m)) { lbad = true; continue; }
    const scalar_t* xr = xb + c * F;
    reg w;
    if constexpr (HasValue) w = P::set1(static_cast<acc_t>(val[e]));
    const ireg off = P::iset1(kArg ? static_cast<int32_t>(e - e0) : 0);
    unroll<NR>([&](auto r) {
      const reg v = P::load(r == NR - 1 ? last : full, xr + r * L);
      if constexpr (R == Reduce::Sum || R == Reduce::Mean) {
        if constexpr (HasValue) acc[r] = P::fmadd(v, w, acc[r]);
        else acc[r] = P::add(acc[r], v);
      } else {
        reg u = v;
        if constexpr (HasValue) u = P::mul(v, w);
        if constexpr (kArg) {
          const mask k = (R == Reduce::Max) ? P::gt(u, acc[r]) : P::lt(u, acc[r]);
          acc[r] = P::blend(acc[r], k, u);
          ag[r] = P::iblend(ag[r], k, off);
        } else {
          acc[r] = (R == Reduce::Max) ? P::max(u, acc[r]) : P::min(u, acc[r]);
        }
      }
    });
  }
  if (lbad) bad = true;
  const int64_t count = e1 - e0;
  unroll<NR>([&](auto r) {
    const mask mk = r == NR - 1 ? last : full;
    if (Raw) {
      P::store(mk, sacc + f0 + r * L, acc[r]);
      if constexpr (kArg) P::store_arg(mk, sarg + f0 + r * L, ag[r], e0, -1);
    } else {
      reg v = acc[r];
      if constexpr (R == Reduce::Mean) v = count > 0 ? P::div(v, P::set1(acc_t(count))) : P::set1(acc_t(0));
      if constexpr (kArg) {
        ireg g = ag[r];
        if (count == 0) {
          v = P::set1(acc_t(0));
          g = P::iset1(-1);
        } else {
          // Lanes never updated (all NaN) give 0 with arg = nnz.
          v = P::blend(v, neg_mask<P>(g), P::set1(acc_t(0)));
        }
        P::store_arg(mk, arg + f0 + r * L, g, e0, a.nnz, a.stream);
      } else if constexpr (has_arg<R>()) {
        // No arg: a lane still at the identity was never updated (update needs a strict win).
        v = count == 0 ? P::set1(acc_t(0)) : P::blend(v, P::eq(v, P::set1(Reducer<R, acc_t>::init())), P::set1(acc_t(0)));
      }
      if (a.stream)
        P::stream(out + f0 + r * L, v);
      else
        P::store(mk, out + f0 + r * L, v);
    }
  });
}

template <typename scalar_t, typename idx_t, bool HasValue, bool Identity, Reduce R, bool Arg>
inline __attribute__((always_inline)) void tiles(const Args<scalar_t, idx_t>& a, int64_t e0, int64_t e1, scalar_t* out, int64_t* arg,
           at::opmath_type<scalar_t>* sacc, int64_t* sarg, bool& bad) {
  constexpr int L = VP<scalar_t>::L;
  const int64_t F = a.F;
  for (int64_t f0 = 0; f0 < F;) {
    const int64_t rem = F - f0;
    const int64_t nreg = (rem + L - 1) / L;
    if (nreg >= 8) {
      tile<scalar_t, idx_t, HasValue, Identity, R, Arg, 8>(a, e0, e1, f0, std::min<int64_t>(rem, 8 * L), out, arg,
                                                          sacc, sarg, bad);
      f0 += 8 * L;
    } else if (nreg >= 4) {
      tile<scalar_t, idx_t, HasValue, Identity, R, Arg, 4>(a, e0, e1, f0, std::min<int64_t>(rem, 4 * L), out, arg,
                                                          sacc, sarg, bad);
      f0 += 4 * L;
    } else if (nreg >= 2) {
      tile<scalar_t, idx_t, HasValue, Identity, R, Arg, 2>(a, e0, e1, f0, std::min<int64_t>(rem, 2 * L), out, arg,
                                                          sacc, sarg, bad);
      f0 += 2 * L;
    } else {
      tile<scalar_t, idx_t, HasValue, Identity, R, Arg, 1>(a, e0, e1, f0, rem, out, arg, sacc, sarg, bad);
      f0 += L;
    }
  }
}

template <typename scalar_t, typename idx_t, bool HasValue, bool Identity, Reduce R, bool Arg>
void rows(const Args<scalar_t, idx_t>& a, int64_t r0, int64_t r1, scalar_t* out, int64_t* arg, bool& bad) {
  const int64_t F = a.F;
  for (int64_t i = r0; i < r1; ++i) {
    tiles<scalar_t, idx_t, HasValue, Identity, R, Arg>(a, a.rp[i], a.rp[i + 1], out + i * F,
                                                         arg ? arg + i * F : nullptr, nullptr, nullptr, bad);
  }
  if (a.stream) _mm_sfence();  // order this thread's non-temporal stores before the join
}

template <typename scalar_t, typename idx_t, bool HasValue, bool Identity, Reduce R, bool Arg>
void piece(const Args<scalar_t, idx_t>& a, int64_t e0, int64_t e1, at::opmath_type<scalar_t>* acc, int64_t* ag,
           bool& bad) {
  tiles<scalar_t, idx_t, HasValue, Identity, R, Arg>(a, e0, e1, nullptr, nullptr, acc, ag, bad);
}

}  // namespace avx512

#pragma GCC pop_options
#endif

// Arg = false: max/min without the arg (out only; arg pointers are then null and ag scratch unused).
template <typename scalar_t, typename idx_t, bool HasValue, bool Identity, Reduce R, bool Arg = has_arg<R>()>
struct RowKernel {
  using acc_t = at::opmath_type<scalar_t>;
  using Red = Reducer<R, acc_t>;

  // Whole rows [r0, r1): out/arg rows written once.
  static void rows(const Args<scalar_t, idx_t>& a, bool avx, int64_t r0, int64_t r1, scalar_t* out,
                   int64_t* arg, bool& bad);

  // One hub piece: the unfinalized accumulator (and arg, -1 = none) into acc/ag.
  static void piece(const Args<scalar_t, idx_t>& a, bool avx, int64_t e0, int64_t e1, acc_t* acc,
                    int64_t* ag, bool& bad) {
#if defined(__x86_64__) || defined(_M_X64)
    if (avx) return avx512::piece<scalar_t, idx_t, HasValue, Identity, R, Arg>(a, e0, e1, acc, ag, bad);
#endif
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
        if (Arg) arg[i * F + f] = af;
      }
    }
  }
};

template <typename scalar_t, typename idx_t, bool HasValue, bool Identity, Reduce R, bool Arg>
void RowKernel<scalar_t, idx_t, HasValue, Identity, R, Arg>::rows(const Args<scalar_t, idx_t>& a, bool avx,
                                                             int64_t r0, int64_t r1, scalar_t* out,
                                                             int64_t* arg, bool& bad) {
#if defined(__x86_64__) || defined(_M_X64)
  if (avx) return avx512::rows<scalar_t, idx_t, HasValue, Identity, R, Arg>(a, r0, r1, out, arg, bad);
#endif
  (void)avx;
  generic_rows(a, r0, r1, out, arg, bad);
}

}  // namespace cpu
}  // namespace sparsegnn
