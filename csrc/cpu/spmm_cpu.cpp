// CPU SpMM (sum/mean/max/min, weighted or not) and segment_reduce (arg_backward_cpu.cpp has the
// max/min backward).
//
// out[i] = reduce_{e in row i} value[e] * x[col[e]]; segment_reduce is the same with col[e] = e.
// Work is split by nonzeros (common.h: nnz-balanced tasks, hub rows cut into fixed pieces merged
// in order), so results are bitwise identical across runs and thread counts. The inner loops run
// over features: AVX-512 or AVX2 intrinsics (spmm_kernels.h) where the CPU has them, a portable
// loop otherwise (isa.h: chosen per call, SPARSEGNN_ISA forces one). No E x F tensor is ever formed.
#include "common.h"
#include "spmm_kernels.h"

namespace sparsegnn {
namespace cpu {
namespace {

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

Reduce parse_reduce_checked(const std::string& reduce) {
  try {
    return parse_reduce(reduce);
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, e.what());
  }
  return Reduce::Sum;
}

std::tuple<at::Tensor, at::Tensor> spmm_cpu(const at::Tensor& rowptr, const at::Tensor& col,
                                            const c10::optional<at::Tensor>& value, const at::Tensor& x,
                                            c10::string_view reduce_sv, bool need_arg) {
  const Reduce r = parse_reduce_checked(std::string(reduce_sv));
  check_col(col);
  check_float_2d(x, "x");
  const int64_t nnz = col.numel();
  check_rowptr(rowptr, nnz);
  const int64_t n = rowptr.numel() - 1, m = x.size(0), F = x.size(1);
  bool has_value = value.has_value() && value->defined();
  if (has_value) {
    TORCH_CHECK(value->device().is_cpu(), "value must be a CPU tensor");
    TORCH_CHECK(value->scalar_type() == x.scalar_type(), "value must have x's dtype ", x.scalar_type(),
                ", got ", value->scalar_type());
    TORCH_CHECK(value->dim() == 1 && value->numel() == nnz, "value must be 1-D with nnz = ", nnz, " entries");
    TORCH_CHECK(value->is_contiguous(), "value must be contiguous");
  }
  const bool with_arg = has_arg_reduce(r) && need_arg;
  auto out = empty_output({n, F}, x.options());
  auto arg = with_arg ? empty_output({n, F}, x.options().dtype(at::kLong)) : at::empty({0}, x.options().dtype(at::kLong));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "sparsegnn_spmm_cpu", [&] {
    const scalar_t* xp = x.data_ptr<scalar_t>();
    const scalar_t* vp = has_value ? value->data_ptr<scalar_t>() : nullptr;
    scalar_t* op = out.data_ptr<scalar_t>();
    int64_t* ap = with_arg ? arg.data_ptr<int64_t>() : nullptr;
    const int64_t* rp = rowptr.data_ptr<int64_t>();
    visit_col(col, [&](const auto* cp) {
      using idx_t = std::remove_cv_t<std::remove_pointer_t<decltype(cp)>>;
      if (has_value)
        spmm_reduce_dispatch<scalar_t, idx_t, true, false>(r, rp, cp, vp, xp, n, m, F, op, ap);
      else
        spmm_reduce_dispatch<scalar_t, idx_t, false, false>(r, rp, cp, vp, xp, n, m, F, op, ap);
    });
  });
  return {out, arg};
}

std::tuple<at::Tensor, at::Tensor> segment_reduce_cpu(const at::Tensor& src, const at::Tensor& rowptr,
                                                      c10::string_view reduce_sv) {
  const Reduce r = parse_reduce_checked(std::string(reduce_sv));
  check_float_2d(src, "src");
  const int64_t e = src.size(0), F = src.size(1);
  check_rowptr(rowptr, e);
  const int64_t n = rowptr.numel() - 1;
  auto out = empty_output({n, F}, src.options());
  auto arg = has_arg_reduce(r) ? empty_output({n, F}, src.options().dtype(at::kLong))
                               : at::empty({0}, src.options().dtype(at::kLong));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, src.scalar_type(), "sparsegnn_segment_cpu", [&] {
    int64_t* ap = has_arg_reduce(r) ? arg.data_ptr<int64_t>() : nullptr;
    spmm_reduce_dispatch<scalar_t, int64_t, false, true>(r, rowptr.data_ptr<int64_t>(), nullptr, nullptr,
                                                         src.data_ptr<scalar_t>(), n, e, F,
                                                         out.data_ptr<scalar_t>(), ap);
  });
  return {out, arg};
}

}  // namespace

TORCH_LIBRARY_IMPL(sparsegnn_C, CPU, m) {
  m.impl("spmm", &spmm_cpu);
  m.impl("segment_reduce", &segment_reduce_cpu);
}

}  // namespace cpu
}  // namespace sparsegnn
