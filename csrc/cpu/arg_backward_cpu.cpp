// CPU backward of max/min SpMM w.r.t. x: grad_x[col[arg[i,f]], f] += grad_out[i,f] * value[arg[i,f]],
// skipping arg == nnz (an empty row).
//
// Every grad_x element is summed in row order by the one task that owns its feature slice, so the
// result is bitwise identical for every thread count and slicing. The cost is the scattered
// read-modify-write of grad_x, one cache line per (row, target, slice), which is latency-bound: a
// SIMD gather/scatter buys nothing over the scalar loop (bench/RESULTS.md, the issue-20 reading of
// "CPU kernels: SIMD paths"). What pays is (1) memory-level parallelism: the targets of row
// i + kArgPrefetchRows are prefetched while row i is summed, and (2) one pass over the rows per
// thread: the slice is F / threads wide (16-feature multiples), where fixed 16-feature slices had
// each thread walk every row F / 32 times, reading arg at a 8 F-byte stride.
#include <ATen/OpMathType.h>

#include <type_traits>

#include "common.h"

namespace sparsegnn {
namespace cpu {
namespace {

constexpr int64_t kArgSliceAlign = 16;   // features: a slice is a whole number of 64-byte lines (fp32)
constexpr int64_t kArgPrefetchRows = 4;  // rows ahead whose scatter targets are prefetched

// The feature slice each task owns: F / threads, rounded up to kArgSliceAlign; SPARSEGNN_ARG_SLICE
// (features, read at each call) forces a width, for the benchmark's before / after.
inline int64_t arg_slice_width(int64_t F, int64_t threads) {
  int64_t per = (F + std::max<int64_t>(threads, 1) - 1) / std::max<int64_t>(threads, 1);
  if (const char* v = std::getenv("SPARSEGNN_ARG_SLICE"))
    if (std::atoll(v) > 0) per = std::atoll(v);
  return std::max<int64_t>(kArgSliceAlign, (per + kArgSliceAlign - 1) / kArgSliceAlign * kArgSliceAlign);
}

at::Tensor spmm_arg_backward_cpu(const at::Tensor& col, const c10::optional<at::Tensor>& value,
                                 const at::Tensor& arg, const at::Tensor& grad_out, int64_t num_cols) {
  check_col(col);
  check_float_2d(grad_out, "grad_out");
  TORCH_CHECK(num_cols >= 0, "num_cols must be >= 0");
  TORCH_CHECK(arg.device().is_cpu() && arg.scalar_type() == at::kLong, "arg must be a CPU int64 tensor");
  TORCH_CHECK(arg.dim() == 2 && arg.sizes() == grad_out.sizes(), "arg must have grad_out's shape ",
              grad_out.sizes(), ", got ", arg.sizes());
  TORCH_CHECK(arg.is_contiguous(), "arg must be contiguous");
  const int64_t nnz = col.numel();
  const bool has_value = value.has_value() && value->defined();
  if (has_value) {
    TORCH_CHECK(value->device().is_cpu() && value->scalar_type() == grad_out.scalar_type(),
                "value must be a CPU tensor of grad_out's dtype");
    TORCH_CHECK(value->dim() == 1 && value->numel() == nnz && value->is_contiguous(),
                "value must be contiguous 1-D with nnz entries");
  }
  const int64_t n = grad_out.size(0), F = grad_out.size(1);
  auto grad_x = empty_output({num_cols, F}, grad_out.options()).zero_();
  std::atomic<bool> bad{false};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad_out.scalar_type(), "sparsegnn_arg_bwd_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* go = grad_out.data_ptr<scalar_t>();
    const int64_t* ap = arg.data_ptr<int64_t>();
    const scalar_t* vp = has_value ? value->data_ptr<scalar_t>() : nullptr;
    scalar_t* gx = grad_x.data_ptr<scalar_t>();
    const int64_t slice = arg_slice_width(F, at::get_num_threads());
    const int64_t nslices = F == 0 ? 0 : (F + slice - 1) / slice;
    const int64_t ahead_rows = Prefetch::from_env().lines > 0 ? kArgPrefetchRows : 0;  // SPARSEGNN_PREFETCH=0: none
    constexpr bool lowp = !std::is_same<scalar_t, acc_t>::value;
    auto body = [&](auto cp) {
      run_tasks(nslices, [&](int64_t s) {
        const int64_t f0 = s * slice, f1 = std::min(F, f0 + slice), w = f1 - f0;
        bool lb = false;
        // 16-bit: accumulate in float32 over a [num_cols, w] buffer, then round once.
        std::vector<acc_t> buf(lowp ? static_cast<size_t>(num_cols * w) : 0, acc_t(0));
        // The element row i's feature f adds into (buf or grad_x), or nullptr.
        auto target = [&](int64_t e, int64_t f) -> void* {
          if (static_cast<uint64_t>(e) >= static_cast<uint64_t>(nnz)) return nullptr;
          const int64_t c = static_cast<int64_t>(cp[e]);
          if (static_cast<uint64_t>(c) >= static_cast<uint64_t>(num_cols)) return nullptr;
          return lowp ? static_cast<void*>(buf.data() + c * w + (f - f0)) : static_cast<void*>(gx + c * F + f);
        };
        for (int64_t i = 0; i < n; ++i) {
          if (ahead_rows > 0 && i + ahead_rows < n) {
            const int64_t* ahead = ap + (i + ahead_rows) * F;
            for (int64_t f = f0; f < f1; ++f)
              if (void* t = target(ahead[f], f)) __builtin_prefetch(t, 1, 3);
          }
          const int64_t* ar = ap + i * F;
          const scalar_t* g = go + i * F;
          for (int64_t f = f0; f < f1; ++f) {
            const int64_t e = ar[f];
            if (e == nnz) continue;
            if (e < 0 || e > nnz) { lb = true; continue; }
            const int64_t c = static_cast<int64_t>(cp[e]);
            if (c < 0 || c >= num_cols) { lb = true; continue; }
            acc_t v = static_cast<acc_t>(g[f]);
            if (vp) v *= static_cast<acc_t>(vp[e]);
            if (lowp)
              buf[c * w + (f - f0)] += v;
            else
              gx[c * F + f] = static_cast<scalar_t>(static_cast<acc_t>(gx[c * F + f]) + v);
          }
        }
        if (lowp)
          for (int64_t c = 0; c < num_cols; ++c)
            for (int64_t f = f0; f < f1; ++f) gx[c * F + f] = static_cast<scalar_t>(buf[c * w + (f - f0)]);
        if (lb) bad.store(true, std::memory_order_relaxed);
      });
    };
    visit_col(col, body);
  });
  TORCH_CHECK(!bad.load(), "arg or col holds an index out of range");
  return grad_x;
}

}  // namespace

TORCH_LIBRARY_IMPL(sparsegnn_C, CPU, m) { m.impl("spmm_arg_backward", &spmm_arg_backward_cpu); }

}  // namespace cpu
}  // namespace sparsegnn
