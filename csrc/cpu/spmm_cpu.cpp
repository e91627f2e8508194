// CPU SpMM (sum/mean/max/min, weighted or not) and segment_reduce (arg_backward_cpu.cpp has the
// max/min backward).
//
// out[i] = reduce_{e in row i} value[e] * x[col[e]]; segment_reduce is the same with col[e] = e.
// Work is split by nonzeros (common.h: nnz-balanced tasks, hub rows cut into fixed pieces merged
// in order), so results are bitwise identical across runs and thread counts. The inner loops run
// over features: AVX-512 or AVX2 intrinsics (spmm_kernels.h) where the CPU has them, a portable
// loop otherwise (isa.h: chosen per call, SPARSEGNN_ISA forces one). No E x F tensor is ever formed.
#include "spmm_impl.h"

SPARSEGNN_SPMM_INSTANCES(extern template, float)
SPARSEGNN_SPMM_INSTANCES(extern template, double)
SPARSEGNN_SPMM_INSTANCES(extern template, c10::Half)
SPARSEGNN_SPMM_INSTANCES(extern template, c10::BFloat16)

namespace sparsegnn {
namespace cpu {
namespace {

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
      spmm_rows<scalar_t, idx_t>(r, rp, cp, vp, xp, n, m, F, op, ap);
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
    segment_rows<scalar_t>(r, rowptr.data_ptr<int64_t>(), src.data_ptr<scalar_t>(), n, e, F,
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
