// The SpMM / segment_reduce kernels of one dtype, instantiated one dtype per file
// (spmm_{float,double,half,bfloat16}.cpp): the instantiations of every reduce x weighted x index
// type x ISA path are most of the extension's build, and four files build in parallel.
//
// out[i] = reduce_{e in row i} value[e] * x[col[e]]; segment_reduce is the same with col[e] = e.
#pragma once

#include "common.h"
#include "spmm_kernels.h"

namespace sparsegnn {
namespace cpu {

// Arg = false (max/min only): out alone, arg == nullptr.
template <typename scalar_t, typename idx_t, bool HasValue, bool Identity, Reduce R, bool Arg = has_arg<R>()>
void spmm_impl(const int64_t* rp, const idx_t* col, const scalar_t* val, const scalar_t* x, int64_t n,
               int64_t m, int64_t F, scalar_t* out, int64_t* arg) {
  using acc_t = at::opmath_type<scalar_t>;
  using K = RowKernel<scalar_t, idx_t, HasValue, Identity, R, Arg>;
  const int64_t nnz = rp[n];
  if (n == 0 || F == 0) return;
  Plan plan = make_plan(rp, n, at::get_num_threads());
  const Isa isa = selected_isa();
  Args<scalar_t, idx_t> a{rp, col, val, x, m, F, nnz};
  a.prefetch = Prefetch::from_env();
  const size_t row_bytes = static_cast<size_t>(F) * sizeof(scalar_t);
  a.stream = static_cast<size_t>(n) * row_bytes >= kHugeOutputBytes && row_bytes % 64 == 0 &&
             reinterpret_cast<uintptr_t>(out) % 64 == 0 && reinterpret_cast<uintptr_t>(arg) % 64 == 0;
  std::vector<acc_t> scratch(static_cast<size_t>(plan.num_pieces * F));
  std::vector<int64_t> scratch_arg(has_arg<R>() ? static_cast<size_t>(plan.num_pieces * F) : 0);
  std::atomic<bool> bad{false};
  run_tasks(static_cast<int64_t>(plan.tasks.size()), [&](int64_t t) {
    const Task& task = plan.tasks[t];
    bool local_bad = false;
    if (task.piece < 0) {
      K::rows(a, isa, task.row_begin, task.row_end, out, arg, local_bad);
    } else {
      acc_t* acc = scratch.data() + task.piece * F;
      int64_t* ag = has_arg<R>() ? scratch_arg.data() + task.piece * F : nullptr;
      K::piece(a, isa, task.e_begin, task.e_end, acc, ag, local_bad);
    }
    if (local_bad) bad.store(true, std::memory_order_relaxed);
  });
  TORCH_CHECK(!bad.load(), "col holds an index out of range [0, ", m, ")");
  // Merge hub pieces in ascending order: parallel over hubs, sequential over pieces.
  run_tasks(static_cast<int64_t>(plan.hubs.size()), [&](int64_t h) {
    const Hub& hub = plan.hubs[h];
    const int64_t count = rp[hub.row + 1] - rp[hub.row];
    std::vector<acc_t> acc(scratch.begin() + hub.first_piece * F,
                           scratch.begin() + (hub.first_piece + 1) * F);
    std::vector<int64_t> ag(F, -1);
    if (has_arg<R>())
      std::copy(scratch_arg.begin() + hub.first_piece * F, scratch_arg.begin() + (hub.first_piece + 1) * F,
                ag.begin());
    for (int64_t p = 1; p < hub.num_pieces; ++p) {
      const acc_t* o = scratch.data() + (hub.first_piece + p) * F;
      const int64_t* oa = has_arg<R>() ? scratch_arg.data() + (hub.first_piece + p) * F : nullptr;
      for (int64_t f = 0; f < F; ++f) Reducer<R, acc_t>::merge(acc[f], ag[f], o[f], oa ? oa[f] : 0);
    }
    scalar_t* o = out + hub.row * F;
    int64_t* oa = Arg ? arg + hub.row * F : nullptr;
    for (int64_t f = 0; f < F; ++f) {
      int64_t af = ag[f];
      o[f] = static_cast<scalar_t>(Arg ? Reducer<R, acc_t>::finalize(acc[f], count, af, nnz)
                                       : Reducer<R, acc_t>::finalize_value(acc[f], count));
      if (oa) oa[f] = af;
    }
  });
}

// Max/min with arg == nullptr run without arg tracking (forward-only calls).
template <typename scalar_t, typename idx_t, bool HasValue, bool Identity>
void spmm_reduce_dispatch(Reduce r, const int64_t* rp, const idx_t* col, const scalar_t* val,
                          const scalar_t* x, int64_t n, int64_t m, int64_t F, scalar_t* out, int64_t* arg) {
  switch (r) {
    case Reduce::Sum:
      return spmm_impl<scalar_t, idx_t, HasValue, Identity, Reduce::Sum>(rp, col, val, x, n, m, F, out, arg);
    case Reduce::Mean:
      return spmm_impl<scalar_t, idx_t, HasValue, Identity, Reduce::Mean>(rp, col, val, x, n, m, F, out, arg);
    case Reduce::Max:
      if (arg == nullptr)
        return spmm_impl<scalar_t, idx_t, HasValue, Identity, Reduce::Max, false>(rp, col, val, x, n, m, F, out, arg);
      return spmm_impl<scalar_t, idx_t, HasValue, Identity, Reduce::Max>(rp, col, val, x, n, m, F, out, arg);
    case Reduce::Min:
      if (arg == nullptr)
        return spmm_impl<scalar_t, idx_t, HasValue, Identity, Reduce::Min, false>(rp, col, val, x, n, m, F, out, arg);
      return spmm_impl<scalar_t, idx_t, HasValue, Identity, Reduce::Min>(rp, col, val, x, n, m, F, out, arg);
  }
}

// spmm over rp [n+1], col [nnz] (idx_t), val [nnz] or nullptr (HasValue = val != nullptr), x [m, F]
// into out [n, F]; arg [n, F] for max/min, or nullptr (no arg tracking).
template <typename scalar_t, typename idx_t>
void spmm_rows(Reduce r, const int64_t* rp, const idx_t* col, const scalar_t* val, const scalar_t* x,
               int64_t n, int64_t m, int64_t F, scalar_t* out, int64_t* arg) {
  if (val != nullptr)
    spmm_reduce_dispatch<scalar_t, idx_t, true, false>(r, rp, col, val, x, n, m, F, out, arg);
  else
    spmm_reduce_dispatch<scalar_t, idx_t, false, false>(r, rp, col, val, x, n, m, F, out, arg);
}

// segment_reduce of src [e, F] by rp [n+1] into out [n, F]; arg as spmm_rows.
template <typename scalar_t>
void segment_rows(Reduce r, const int64_t* rp, const scalar_t* src, int64_t n, int64_t e, int64_t F,
                  scalar_t* out, int64_t* arg) {
  spmm_reduce_dispatch<scalar_t, int64_t, false, true>(r, rp, nullptr, nullptr, src, n, e, F, out, arg);
}

}  // namespace cpu
}  // namespace sparsegnn

// SPARSEGNN_SPMM_INSTANCES(template, float) instantiates dtype float's kernels (in its own file);
// SPARSEGNN_SPMM_INSTANCES(extern template, float) says they are instantiated elsewhere.
#define SPARSEGNN_SPMM_INSTANCES(KIND, T)                                                              \
  namespace sparsegnn::cpu {                                                                           \
  KIND void spmm_rows<T, int32_t>(Reduce, const int64_t*, const int32_t*, const T*, const T*, int64_t, \
                                  int64_t, int64_t, T*, int64_t*);                                     \
  KIND void spmm_rows<T, int64_t>(Reduce, const int64_t*, const int64_t*, const T*, const T*, int64_t, \
                                  int64_t, int64_t, T*, int64_t*);                                     \
  KIND void segment_rows<T>(Reduce, const int64_t*, const T*, int64_t, int64_t, int64_t, T*, int64_t*); \
  }
