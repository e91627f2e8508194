// CPU INT8 SpMM: acc[i,f] = sum_e value[e] * xq[col[e], f] in int32 (value int8, or 1 when None),
// out[i,f] = float(acc) * row_scale[i] * col_scale[f] (float32).
//
// Four paths, chosen at call time (isa.h): AVX-512 VNNI (vpdpbusd, u8 x s8 -> s32: the int8
// features are shifted by +128 to u8 and the row's 128 * sum(weights) subtracted), AVX-VNNI and
// AVX2 vpmaddwd (int8_avx2.cpp) and a portable loop. All accumulate in wrapping int32 arithmetic, which is
// associative, so they give identical integers, and all apply the scales with the same scalar
// expression: results are bitwise equal. SPARSEGNN_ISA picks the ISA; SPARSEGNN_DISABLE_VNNI=1
// (read at each call) takes vpmaddwd instead of VNNI.
#include "common.h"
#include "int8_kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace sparsegnn {
namespace cpu {

// ---------------------------------------------------------------------------------------------
// AVX-512 VNNI path. Four gathered rows (edges) are interleaved byte-wise so that each int32 lane
// holds one feature of four edges; vpdpbusd multiplies them (as u8 = x + 128) with the four edge
// weights (s8, broadcast) and adds into int32. The interleave permutes features within a 64-byte
// chunk (lane L, register k, dword j holds feature 16L + 4k + j); a 4x4 transpose of 128-bit blocks
// undoes it when the accumulators are written out (finalized straight into out for whole rows). Features beyond F are masked to zero and never stored.
#if defined(__x86_64__) || defined(_M_X64)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512vnni")

// Features [base, base + 16) of v (those below F): finalized into out[row] (row >= 0: float(acc) *
// row_scale * col_scale, the portable path's expression, IEEE products; non-temporal for whole
// 64-byte-aligned rows when a.stream), else the int32 sums into acc.
static inline void store16(const Int8Args& a, int64_t row, int32_t* acc, int64_t base, __m512i v, __m512 rs) {
  const int64_t rem = a.F - base;
  const __mmask16 mk16 = rem >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << rem) - 1);
  if (row >= 0) {
    const __m512 fv = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(v), rs), _mm512_maskz_loadu_ps(mk16, a.col_scale + base));
    if (a.stream)
      _mm512_stream_ps(a.out + row * a.F + base, fv);
    else
      _mm512_mask_storeu_ps(a.out + row * a.F + base, mk16, fv);
  } else {
    _mm512_mask_storeu_epi32(acc + base, mk16, v);
  }
}

// The tile's int32 sums, un-permuted: into acc (raw) when row < 0, else finalized into out[row].
template <int NC, typename idx_t>
static inline void vnni_tile(const Int8Args& a, const idx_t* col, int64_t e0, int64_t e1, int64_t f0,
                             int32_t* acc, int64_t row, bool& bad) {
  const int64_t F = a.F, m = a.m;
  __m512i q[NC][4];
  __mmask64 mk[NC];
  for (int k = 0; k < NC; ++k) {
    for (int r = 0; r < 4; ++r) q[k][r] = _mm512_setzero_si512();
    const int64_t rem = F - (f0 + 64 * k);
    mk[k] = rem >= 64 ? ~__mmask64(0) : ((__mmask64(1) << rem) - 1);
  }
  const __m512i sign = _mm512_set1_epi8(static_cast<char>(0x80));
  const int8_t* xb = a.xq + f0;
  uint32_t wsum = 0;
  const int64_t pf = a.prefetch.edges(NC);
  for (int64_t e = e0; e < e1; e += 4) {
    int64_t c[4];
    int32_t w[4];
    for (int j = 0; j < 4; ++j) {
      const int64_t ej = e + j;
      if (ej < e1) {
        c[j] = static_cast<int64_t>(col[ej]);
        w[j] = a.val ? static_cast<int32_t>(a.val[ej]) : 1;
        if (c[j] < 0 || c[j] >= m) { bad = true; c[j] = 0; w[j] = 0; }
      } else {
        c[j] = 0;
        w[j] = 0;
      }
    }
    if (pf > 0 && e + pf + 3 < a.nnz) {  // across row ends: rows are short
      for (int j = 0; j < 4; ++j) Prefetch::row(xb, static_cast<int64_t>(col[e + pf + j]), m, F, NC);
    }
    wsum += static_cast<uint32_t>(w[0] + w[1] + w[2] + w[3]);
    const uint32_t packed = (static_cast<uint32_t>(static_cast<uint8_t>(w[0]))) |
                            (static_cast<uint32_t>(static_cast<uint8_t>(w[1])) << 8) |
                            (static_cast<uint32_t>(static_cast<uint8_t>(w[2])) << 16) |
                            (static_cast<uint32_t>(static_cast<uint8_t>(w[3])) << 24);
    const __m512i wv = _mm512_set1_epi32(static_cast<int>(packed));
    for (int k = 0; k < NC; ++k) {
      const __m512i r0 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk[k], xb + c[0] * F + 64 * k), sign);
      const __m512i r1 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk[k], xb + c[1] * F + 64 * k), sign);
      const __m512i r2 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk[k], xb + c[2] * F + 64 * k), sign);
      const __m512i r3 = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk[k], xb + c[3] * F + 64 * k), sign);
      const __m512i t0 = _mm512_unpacklo_epi8(r0, r1), t1 = _mm512_unpackhi_epi8(r0, r1);
      const __m512i t2 = _mm512_unpacklo_epi8(r2, r3), t3 = _mm512_unpackhi_epi8(r2, r3);
      q[k][0] = _mm512_dpbusd_epi32(q[k][0], _mm512_unpacklo_epi16(t0, t2), wv);
      q[k][1] = _mm512_dpbusd_epi32(q[k][1], _mm512_unpackhi_epi16(t0, t2), wv);
      q[k][2] = _mm512_dpbusd_epi32(q[k][2], _mm512_unpacklo_epi16(t1, t3), wv);
      q[k][3] = _mm512_dpbusd_epi32(q[k][3], _mm512_unpackhi_epi16(t1, t3), wv);
    }
  }
  // Undo the row's +128 shift, then a 4x4 transpose of 128-bit blocks restores feature order:
  // out block L = [q0.L, q1.L, q2.L, q3.L] holds features 16L .. 16L + 15 of the chunk.
  const __m512i corr = _mm512_set1_epi32(static_cast<int>(128u * wsum));
  const __m512 rs = _mm512_set1_ps(row >= 0 ? a.row_scale[row] : 0.f);
  for (int k = 0; k < NC; ++k) {
    const __m512i t0 = _mm512_shuffle_i32x4(q[k][0], q[k][1], 0x44);
    const __m512i t1 = _mm512_shuffle_i32x4(q[k][2], q[k][3], 0x44);
    const __m512i t2 = _mm512_shuffle_i32x4(q[k][0], q[k][1], 0xEE);
    const __m512i t3 = _mm512_shuffle_i32x4(q[k][2], q[k][3], 0xEE);
    const __m512i o[4] = {_mm512_shuffle_i32x4(t0, t1, 0x88), _mm512_shuffle_i32x4(t0, t1, 0xDD),
                          _mm512_shuffle_i32x4(t2, t3, 0x88), _mm512_shuffle_i32x4(t2, t3, 0xDD)};
    for (int L = 0; L < 4; ++L) {
      const int64_t base = f0 + 64 * k + 16 * L;
      if (F - base <= 0) break;
      store16(a, row, acc, base, _mm512_sub_epi32(o[L], corr), rs);
    }
  }
}

// Unweighted rows (every weight 1), as the AVX2 add tile (int8_avx2.cpp) on 512 bits: an edge's
// 32 features are one vpmovsxbw and one vpaddw into int16 sums, widened into int32 every kAddEdges
// edges; a tile covers up to 256 features in feature order.
template <int NC, typename idx_t>
static inline void add_tile(const Int8Args& a, const idx_t* col, int64_t e0, int64_t e1, int64_t f0, int32_t* acc,
                            int64_t row, bool& bad) {
  const int64_t F = a.F, m = a.m;
  __mmask32 mk[NC];
  for (int k = 0; k < NC; ++k) {
    const int64_t rem = F - (f0 + 32 * k);
    mk[k] = rem >= 32 ? ~__mmask32(0) : ((__mmask32(1) << rem) - 1);
  }
  const int8_t* xb = a.xq + f0;
  const int64_t lines = (32 * NC + 63) / 64;
  const int64_t pf = a.prefetch.edges(lines);
  alignas(64) int32_t wide[32 * NC];  // int32 sums of the finished chunks (rows over kAddEdges)
  const bool chunked = e1 - e0 > kAddEdges;
  if (chunked) std::memset(wide, 0, sizeof(wide));
  __m512i s[NC];
  for (int64_t c0 = e0;; c0 += kAddEdges) {
    const int64_t c1 = std::min(e1, c0 + kAddEdges);
    for (int k = 0; k < NC; ++k) s[k] = _mm512_setzero_si512();
    for (int64_t e = c0; e < c1; ++e) {
      if (pf > 0 && e + pf < a.nnz) Prefetch::row(xb, static_cast<int64_t>(col[e + pf]), m, F, lines);
      const int64_t c = static_cast<int64_t>(col[e]);
      if (c < 0 || c >= m) { bad = true; continue; }
      const int8_t* r = xb + c * F;
      for (int k = 0; k < NC; ++k)
        s[k] = _mm512_add_epi16(s[k], _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(mk[k], r + 32 * k)));
    }
    if (!chunked) break;
    for (int k = 0; k < NC; ++k) {
      __m512i* wv = reinterpret_cast<__m512i*>(wide + 32 * k);
      wv[0] = _mm512_add_epi32(wv[0], _mm512_cvtepi16_epi32(_mm512_castsi512_si256(s[k])));
      wv[1] = _mm512_add_epi32(wv[1], _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(s[k], 1)));
    }
    if (c1 == e1) break;
  }
  const __m512 rs = _mm512_set1_ps(row >= 0 ? a.row_scale[row] : 0.f);
  for (int k = 0; k < NC; ++k) {
    for (int h = 0; h < 2; ++h) {
      const int64_t base = f0 + 32 * k + 16 * h;
      if (F - base <= 0) break;
      store16(a, row, acc, base,
              chunked ? _mm512_load_si512(wide + 32 * k + 16 * h)
                      : _mm512_cvtepi16_epi32(h == 0 ? _mm512_castsi512_si256(s[k]) : _mm512_extracti64x4_epi64(s[k], 1)),
              rs);
    }
  }
}

template <typename idx_t>
void int8_accumulate_vnni(const Int8Args& a, const idx_t* col, int64_t e0, int64_t e1, int32_t* acc, int64_t row,
                          bool& bad) {
  const int64_t F = a.F;
  if (e1 > e0 && a.m == 0) {
    bad = true;
    e1 = e0;  // nothing to gather: the tiles then write zeros
  }
  if (a.val == nullptr) {
    for (int64_t f0 = 0; f0 < F; f0 += 256)  // tiles of up to 8 chunks of 32, none of them empty
      with_chunks<8>((F - f0 + 31) / 32, [&](auto nc) { add_tile<decltype(nc)::value>(a, col, e0, e1, f0, acc, row, bad); });
    return;
  }
  for (int64_t f0 = 0; f0 < F;) {
    if (F - f0 > 64) {
      vnni_tile<2>(a, col, e0, e1, f0, acc, row, bad);
      f0 += 128;
    } else {
      vnni_tile<1>(a, col, e0, e1, f0, acc, row, bad);
      f0 += 64;
    }
  }
}

template void int8_accumulate_vnni<int32_t>(const Int8Args&, const int32_t*, int64_t, int64_t, int32_t*, int64_t,
                                            bool&);
template void int8_accumulate_vnni<int64_t>(const Int8Args&, const int64_t*, int64_t, int64_t, int32_t*, int64_t,
                                            bool&);

#pragma GCC pop_options
#endif

namespace {

at::Tensor spmm_int8_cpu(const at::Tensor& rowptr, const at::Tensor& col, const c10::optional<at::Tensor>& value,
                         const at::Tensor& xq, const at::Tensor& row_scale, const at::Tensor& col_scale) {
  check_col(col);
  const int64_t nnz = col.numel();
  check_rowptr(rowptr, nnz);
  const int64_t n = rowptr.numel() - 1;
  TORCH_CHECK(xq.device().is_cpu() && xq.scalar_type() == at::kChar, "xq must be a CPU int8 tensor, got ",
              xq.scalar_type());
  TORCH_CHECK(xq.dim() == 2 && xq.is_contiguous(), "xq must be contiguous 2-D");
  const int64_t m = xq.size(0), F = xq.size(1);
  const bool has_value = value.has_value() && value->defined();
  if (has_value) {
    TORCH_CHECK(value->device().is_cpu() && value->scalar_type() == at::kChar, "value must be a CPU int8 tensor");
    TORCH_CHECK(value->dim() == 1 && value->numel() == nnz && value->is_contiguous(),
                "value must be contiguous 1-D with nnz = ", nnz, " entries");
  }
  TORCH_CHECK(row_scale.device().is_cpu() && row_scale.scalar_type() == at::kFloat && row_scale.dim() == 1 &&
                  row_scale.numel() == n && row_scale.is_contiguous(),
              "row_scale must be a contiguous CPU float32 tensor of shape [N] = [", n, "]");
  TORCH_CHECK(col_scale.device().is_cpu() && col_scale.scalar_type() == at::kFloat && col_scale.dim() == 1 &&
                  col_scale.numel() == F && col_scale.is_contiguous(),
              "col_scale must be a contiguous CPU float32 tensor of shape [F] = [", F, "]");
  auto out = empty_output({n, F}, xq.options().dtype(at::kFloat));
  if (n == 0 || F == 0) return out;
  const int64_t* rp = rowptr.data_ptr<int64_t>();
  Int8Args a{rp, has_value ? value->data_ptr<int8_t>() : nullptr, xq.data_ptr<int8_t>(), m, F, nnz,
             row_scale.data_ptr<float>(), col_scale.data_ptr<float>(), out.data_ptr<float>(),
             Prefetch::from_env()};
  a.stream = static_cast<size_t>(n * F) * sizeof(float) >= kHugeOutputBytes && (F * sizeof(float)) % 64 == 0 &&
             reinterpret_cast<uintptr_t>(a.out) % 64 == 0;
  const Int8Path path = selected_int8_path();
  Plan plan = make_plan(rp, n, at::get_num_threads());
  std::vector<int32_t> scratch(static_cast<size_t>(plan.num_pieces * F));
  std::atomic<bool> bad{false};
  auto body = [&](auto cp) {
    run_tasks(static_cast<int64_t>(plan.tasks.size()), [&](int64_t t) {
      const Task& task = plan.tasks[t];
      bool lb = false;
      if (task.piece < 0)
        int8_rows(a, cp, task.row_begin, task.row_end, path, lb);
      else
        int8_accumulate(a, cp, task.e_begin, task.e_end, scratch.data() + task.piece * F, -1, path, lb);
      if (lb) bad.store(true, std::memory_order_relaxed);
    });
  };
  visit_col(col, body);
  TORCH_CHECK(!bad.load(), "col holds an index out of range [0, ", m, ")");
  run_tasks(static_cast<int64_t>(plan.hubs.size()), [&](int64_t h) {
    const Hub& hub = plan.hubs[h];
    std::vector<uint32_t> acc(F, 0u);
    for (int64_t p = 0; p < hub.num_pieces; ++p) {
      const int32_t* s = scratch.data() + (hub.first_piece + p) * F;
      for (int64_t f = 0; f < F; ++f) acc[f] += static_cast<uint32_t>(s[f]);
    }
    int8_store_row(a, hub.row, reinterpret_cast<const int32_t*>(acc.data()));
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(sparsegnn_C, CPU, m) { m.impl("spmm_int8", &spmm_int8_cpu); }

}  // namespace cpu
}  // namespace sparsegnn
