// CUDA implementations of the sparsegnn_C ops (schemas and semantics: csrc/ops.cpp).
//
// This is the only CUDA translation unit that includes torch headers: it checks arguments,
// allocates outputs and workspaces on the current device and stream, picks launch parameters and
// calls the plain launchers of the kernel units (spmm_kernels.cu, sddmm_kernels.cu,
// arg_backward_kernels.cu, spmm_int8_kernels.cu; interface in common.cuh). Kernels trust the
// graph as the Python layer validated it (sorted rowptr with rowptr[0] = 0 and rowptr[N] = nnz,
// col in range); these checks are about shapes, dtypes and devices only, so nothing syncs.
//
// Launch parameters: a small table, each entry overridable by an environment variable (read at
// every call, so a test or a benchmark can flip it between calls):
//
//   SPARSEGNN_CUDA_GROUP=<1|2|4|8|16|32>  lanes per row (SpMM, segment, INT8), per entry (SDDMM),
//                                       per column (arg backward). Default, by L = lanes needed to
//                                       cover F with one VEC-wide slice each (L = ceil(F / VEC)):
//                                         L <= 1: 1, <= 2: 2, <= 4: 4, <= 8: 8, <= 16: 16, else 32
//                                       (wider F is tiled over grid.y in tiles of 32 * VEC).
//   SPARSEGNN_CUDA_BLOCK=<32..256>      threads per block, a multiple of 32. Default 256.
//   SPARSEGNN_CUDA_VEC=0                disable 128-bit feature loads (default: on wherever the
//                                       feature rows are 16-byte aligned and F % (16 / elem) == 0;
//                                       INT8 also uses 32-bit loads where F % 4 == 0).
//   SPARSEGNN_CUDA_SPLIT=<n>            load balance: rows with more than n entries are cut into
//                                       pieces of n entries reduced by separate groups and merged
//                                       in order (deterministic). 0 disables. Default, by average
//                                       degree d = nnz / N: clamp(pow2 >= 16 * d, 256, 4096).
//   SPARSEGNN_CUDA_WS_MB=<MiB>          cap on the split workspace (default 256); the piece size
//                                       doubles until 2 * nnz / n * F partials fit.
//   SPARSEGNN_CUDA_EDGES_PER_GROUP=<k>  SDDMM entries walked by one group (default 4).
#include <ATen/core/Tensor.h>
#include <ATen/ops/cumsum.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>

#include "common.cuh"

namespace sparsegnn {
namespace cuda {
namespace {

int64_t env_int(const char* name, int64_t fallback) {
  const char* s = std::getenv(name);
  if (s == nullptr || *s == '\0') return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  TORCH_CHECK(end != nullptr && *end == '\0', name, " must be an integer, got '", s, "'");
  return v;
}

int pow2_at_least(int64_t n, int cap) {
  int g = 1;
  while (g < n && g < cap) g *= 2;
  return g;
}

int pick_group(int64_t lanes_needed) {
  const int64_t g = env_int("SPARSEGNN_CUDA_GROUP", 0);
  if (g == 0) return pow2_at_least(lanes_needed, 32);
  TORCH_CHECK(g >= 1 && g <= 32 && (g & (g - 1)) == 0, "SPARSEGNN_CUDA_GROUP must be 1, 2, 4, 8, 16 or 32, got ", g);
  return static_cast<int>(g);
}

int pick_block(int group) {
  const int64_t b = env_int("SPARSEGNN_CUDA_BLOCK", 256);
  TORCH_CHECK(b >= 32 && b <= 256 && b % 32 == 0, "SPARSEGNN_CUDA_BLOCK must be a multiple of 32 in [32, 256], got ", b);
  return static_cast<int>(b) < group ? group : static_cast<int>(b);
}

bool vec_enabled() { return env_int("SPARSEGNN_CUDA_VEC", 1) != 0; }

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

DType dtype_of(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kHalf: return DType::Half;
    case at::kBFloat16: return DType::BFloat16;
    case at::kFloat: return DType::Float;
    case at::kDouble: return DType::Double;
    default: TORCH_CHECK(false, "expected float16, bfloat16, float32 or float64, got ", t.scalar_type());
  }
  return DType::Float;
}

Reduce parse_reduce_checked(c10::string_view s) {
  try {
    return parse_reduce(std::string(s.data(), s.size()));
  } catch (const std::invalid_argument& e) {
    TORCH_CHECK(false, e.what());
  }
  return Reduce::Sum;
}

void check_cuda(const at::Tensor& t, const char* name, const at::Device& dev) {
  TORCH_CHECK(t.is_cuda(), name, " must be a CUDA tensor, got ", t.device());
  TORCH_CHECK(t.device() == dev, name, " must be on ", dev, ", got ", t.device());
}

void check_rowptr(const at::Tensor& rowptr, const at::Device& dev) {
  check_cuda(rowptr, "rowptr", dev);
  TORCH_CHECK(rowptr.scalar_type() == at::kLong && rowptr.dim() == 1 && rowptr.numel() >= 1,
              "rowptr must be a 1-D int64 tensor of N + 1 >= 1 entries");
}

void check_col(const at::Tensor& col, const at::Device& dev) {
  check_cuda(col, "col", dev);
  TORCH_CHECK(col.dim() == 1 && (col.scalar_type() == at::kInt || col.scalar_type() == at::kLong),
              "col must be a 1-D int32 or int64 tensor, got ", col.scalar_type(), " with ", col.dim(), " dims");
}

void check_float_2d(const at::Tensor& t, const char* name, const at::Device& dev) {
  check_cuda(t, name, dev);
  TORCH_CHECK(t.dim() == 2, name, " must be 2-D, got ", t.dim(), " dims");
  dtype_of(t);
}

int vec_width(const at::Tensor& t) {
  const int elem = static_cast<int>(t.element_size());
  const int vec = 16 / elem;
  return vec_enabled() && t.size(1) % vec == 0 && aligned(t.data_ptr(), 16) ? vec : 1;
}

void run(cudaError_t err) {
  C10_CUDA_CHECK(err);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// Shared by spmm and segment_reduce: `x` is gathered through `index` (col, or Identity).
std::tuple<at::Tensor, at::Tensor> reduce_impl(const at::Tensor& rowptr_in, const at::Tensor* col,
                                               const c10::optional<at::Tensor>& value_in, const at::Tensor& x_in,
                                               Reduce reduce, int64_t nnz, int64_t sentinel) {
  const c10::cuda::CUDAGuard guard(x_in.device());
  const at::Tensor x = x_in.contiguous();
  const at::Tensor rowptr = rowptr_in.contiguous();
  at::Tensor colc, value;
  if (col != nullptr) colc = col->contiguous();
  if (value_in.has_value()) value = value_in->contiguous();
  const int64_t N = rowptr.numel() - 1, F = x.size(1);
  const bool arg_needed = reduce == Reduce::Max || reduce == Reduce::Min;
  at::Tensor out = at::empty({N, F}, x.options());
  at::Tensor arg = arg_needed ? at::empty({N, F}, x.options().dtype(at::kLong))
                              : at::empty({0}, x.options().dtype(at::kLong));
  if (N == 0 || F == 0) return {out, arg};
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();

  SpmmLaunch L;
  L.rowptr = rowptr.data_ptr<int64_t>();
  if (col != nullptr) {
    L.col = colc.data_ptr();
    L.index = colc.scalar_type() == at::kInt ? IndexKind::Int32 : IndexKind::Int64;
  } else {
    L.index = IndexKind::Identity;
  }
  L.value = value.defined() ? value.data_ptr() : nullptr;
  L.x = x.data_ptr();
  L.out = out.data_ptr();
  L.arg = arg_needed ? arg.data_ptr<int64_t>() : nullptr;
  L.N = N;
  L.F = F;
  L.nnz = nnz;
  L.sentinel = sentinel;
  L.reduce = reduce;
  L.dtype = dtype_of(x);
  L.vec = vec_width(x);
  L.group = pick_group((F + L.vec - 1) / L.vec);
  L.block = pick_block(L.group);

  // Load balance for long rows (see the table at the top).
  at::Tensor piece_ptr, ws, ws_arg;
  const int64_t avg = nnz / N;
  int64_t split = env_int("SPARSEGNN_CUDA_SPLIT", -1);
  if (split < 0) {
    split = pow2_at_least(16 * avg, 4096);
    if (split < 256) split = 256;
  }
  if (split > 0 && nnz > split) {
    const int64_t acc_bytes = L.dtype == DType::Double ? 8 : 4;
    const int64_t per_row = F * (acc_bytes + (arg_needed ? 8 : 0));
    const int64_t budget = env_int("SPARSEGNN_CUDA_WS_MB", 256) << 20;
    while (split < nnz && 2 * (nnz / split) * per_row > budget) split *= 2;
  }
  if (split > 0 && nnz > split) {
    const int64_t bound = 2 * (nnz / split);  // >= sum over rows longer than split of ceil(deg / split)
    at::Tensor counts = at::empty({N}, rowptr.options());
    run(spmm_count_pieces(L.rowptr, N, split, counts.data_ptr<int64_t>(), stream));
    piece_ptr = at::zeros({N + 1}, rowptr.options());
    at::Tensor tail = piece_ptr.narrow(0, 1, N);
    at::cumsum_out(tail, counts, 0);
    ws = at::empty({bound, F}, x.options().dtype(L.dtype == DType::Double ? at::kDouble : at::kFloat));
    if (arg_needed) ws_arg = at::empty({bound, F}, x.options().dtype(at::kLong));
    L.split = split;
    L.piece_ptr = piece_ptr.data_ptr<int64_t>();
    L.piece_bound = bound;
    L.ws = ws.data_ptr();
    L.ws_arg = arg_needed ? ws_arg.data_ptr<int64_t>() : nullptr;
  }
  run(spmm_launch(L, stream));
  return {out, arg};
}

std::tuple<at::Tensor, at::Tensor> spmm_cuda(const at::Tensor& rowptr, const at::Tensor& col,
                                             const c10::optional<at::Tensor>& value, const at::Tensor& x,
                                             c10::string_view reduce, bool need_arg) {
  const Reduce r = parse_reduce_checked(reduce);
  const at::Device dev = x.device();
  check_float_2d(x, "x", dev);
  check_rowptr(rowptr, dev);
  check_col(col, dev);
  const int64_t nnz = col.numel();
  if (value.has_value()) {
    check_cuda(*value, "value", dev);
    TORCH_CHECK(value->scalar_type() == x.scalar_type(), "value must have x's dtype ", x.scalar_type(), ", got ",
                value->scalar_type());
    TORCH_CHECK(value->dim() == 1 && value->numel() == nnz, "value must be 1-D with nnz = ", nnz, " entries");
  }
  auto result = reduce_impl(rowptr, &col, value, x, r, nnz, nnz);
  // need_arg = false: the kernels still track the arg (in registers); only the result drops it.
  if (!need_arg) std::get<1>(result) = at::empty({0}, x.options().dtype(at::kLong));
  return result;
}

std::tuple<at::Tensor, at::Tensor> segment_reduce_cuda(const at::Tensor& src, const at::Tensor& rowptr,
                                                       c10::string_view reduce) {
  const Reduce r = parse_reduce_checked(reduce);
  const at::Device dev = src.device();
  check_float_2d(src, "src", dev);
  check_rowptr(rowptr, dev);
  const int64_t e = src.size(0);
  return reduce_impl(rowptr, nullptr, c10::nullopt, src, r, e, e);
}

at::Tensor sddmm_cuda(const at::Tensor& rowptr_in, const at::Tensor& col_in, const at::Tensor& a_in,
                      const at::Tensor& b_in) {
  const at::Device dev = a_in.device();
  check_float_2d(a_in, "a", dev);
  check_float_2d(b_in, "b", dev);
  check_rowptr(rowptr_in, dev);
  check_col(col_in, dev);
  TORCH_CHECK(a_in.scalar_type() == b_in.scalar_type(), "a and b must have one dtype, got ", a_in.scalar_type(),
              " and ", b_in.scalar_type());
  TORCH_CHECK(a_in.size(1) == b_in.size(1), "a and b must have the same feature width, got ", a_in.size(1),
              " and ", b_in.size(1));
  const int64_t N = rowptr_in.numel() - 1;
  TORCH_CHECK(a_in.size(0) == N, "a must have N = ", N, " rows, got ", a_in.size(0));
  const c10::cuda::CUDAGuard guard(dev);
  const at::Tensor a = a_in.contiguous(), b = b_in.contiguous();
  const at::Tensor rowptr = rowptr_in.contiguous(), col = col_in.contiguous();
  const int64_t nnz = col.numel(), F = a.size(1);
  at::Tensor out = at::empty({nnz}, a.options());
  if (nnz == 0) return out;
  SddmmLaunch L;
  L.rowptr = rowptr.data_ptr<int64_t>();
  L.col = col.data_ptr();
  L.col64 = col.scalar_type() == at::kLong;
  L.a = a.data_ptr();
  L.b = b.data_ptr();
  L.out = out.data_ptr();
  L.N = N;
  L.F = F;
  L.nnz = nnz;
  L.dtype = dtype_of(a);
  L.vec = vec_width(a) > 1 && vec_width(b) > 1 ? vec_width(a) : 1;
  L.group = pick_group((F + L.vec - 1) / L.vec);
  L.block = pick_block(L.group);
  L.edges_per_group = static_cast<int>(env_int("SPARSEGNN_CUDA_EDGES_PER_GROUP", 4));
  TORCH_CHECK(L.edges_per_group >= 1 && L.edges_per_group <= 1024, "SPARSEGNN_CUDA_EDGES_PER_GROUP must be in [1, 1024]");
  run(sddmm_launch(L, c10::cuda::getCurrentCUDAStream()));
  return out;
}

at::Tensor spmm_arg_backward_cuda(const at::Tensor& col_in, const c10::optional<at::Tensor>& value_in,
                                  const at::Tensor& arg_in, const at::Tensor& grad_out_in, int64_t num_cols) {
  const at::Device dev = grad_out_in.device();
  check_float_2d(grad_out_in, "grad_out", dev);
  check_col(col_in, dev);
  check_cuda(arg_in, "arg", dev);
  TORCH_CHECK(num_cols >= 0, "num_cols must be >= 0");
  TORCH_CHECK(arg_in.scalar_type() == at::kLong && arg_in.sizes() == grad_out_in.sizes(),
              "arg must be int64 with grad_out's shape ", grad_out_in.sizes());
  const int64_t nnz = col_in.numel();
  if (value_in.has_value()) {
    check_cuda(*value_in, "value", dev);
    TORCH_CHECK(value_in->scalar_type() == grad_out_in.scalar_type() && value_in->dim() == 1 &&
                    value_in->numel() == nnz,
                "value must be 1-D with nnz = ", nnz, " entries of grad_out's dtype");
  }
  const c10::cuda::CUDAGuard guard(dev);
  const int64_t N = grad_out_in.size(0), F = grad_out_in.size(1);
  if (num_cols == 0 || F == 0 || nnz == 0 || N == 0) return at::zeros({num_cols, F}, grad_out_in.options());
  const at::Tensor col = col_in.contiguous(), arg = arg_in.contiguous(), grad_out = grad_out_in.contiguous();
  at::Tensor value;
  if (value_in.has_value()) value = value_in->contiguous();
  at::Tensor grad_x = at::empty({num_cols, F}, grad_out.options());
  at::Tensor edge_row = at::full({nnz}, -1, col.options().dtype(at::kLong));
  at::Tensor colptr = at::empty({num_cols + 1}, col.options().dtype(at::kLong));
  auto sorted = at::sort(col, /*stable=*/true, /*dim=*/0, /*descending=*/false);
  const at::Tensor& sorted_col = std::get<0>(sorted);
  const at::Tensor& perm = std::get<1>(sorted);
  ArgBackwardLaunch L;
  L.sorted_col = sorted_col.data_ptr();
  L.col64 = col.scalar_type() == at::kLong;
  L.perm = perm.data_ptr<int64_t>();
  L.value = value.defined() ? value.data_ptr() : nullptr;
  L.arg = arg.data_ptr<int64_t>();
  L.grad_out = grad_out.data_ptr();
  L.grad_x = grad_x.data_ptr();
  L.edge_row = edge_row.data_ptr<int64_t>();
  L.colptr = colptr.data_ptr<int64_t>();
  L.N = N;
  L.F = F;
  L.nnz = nnz;
  L.num_cols = num_cols;
  L.dtype = dtype_of(grad_out);
  L.group = pick_group(F);
  L.block = pick_block(L.group);
  run(spmm_arg_backward_launch(L, c10::cuda::getCurrentCUDAStream()));
  return grad_x;
}

at::Tensor spmm_int8_cuda(const at::Tensor& rowptr_in, const at::Tensor& col_in,
                          const c10::optional<at::Tensor>& value_in, const at::Tensor& xq_in,
                          const at::Tensor& row_scale_in, const at::Tensor& col_scale_in) {
  const at::Device dev = xq_in.device();
  check_cuda(xq_in, "xq", dev);
  TORCH_CHECK(xq_in.scalar_type() == at::kChar && xq_in.dim() == 2, "xq must be a 2-D int8 tensor, got ",
              xq_in.scalar_type(), " with ", xq_in.dim(), " dims");
  check_rowptr(rowptr_in, dev);
  check_col(col_in, dev);
  const int64_t N = rowptr_in.numel() - 1, F = xq_in.size(1), nnz = col_in.numel();
  if (value_in.has_value()) {
    check_cuda(*value_in, "value", dev);
    TORCH_CHECK(value_in->scalar_type() == at::kChar && value_in->dim() == 1 && value_in->numel() == nnz,
                "value must be a 1-D int8 tensor with nnz = ", nnz, " entries");
  }
  check_cuda(row_scale_in, "row_scale", dev);
  check_cuda(col_scale_in, "col_scale", dev);
  TORCH_CHECK(row_scale_in.scalar_type() == at::kFloat && row_scale_in.dim() == 1 && row_scale_in.numel() == N,
              "row_scale must be 1-D float32 with N = ", N, " entries");
  TORCH_CHECK(col_scale_in.scalar_type() == at::kFloat && col_scale_in.dim() == 1 && col_scale_in.numel() == F,
              "col_scale must be 1-D float32 with F = ", F, " entries");
  const c10::cuda::CUDAGuard guard(dev);
  at::Tensor out = at::empty({N, F}, xq_in.options().dtype(at::kFloat));
  if (N == 0 || F == 0) return out;
  const at::Tensor rowptr = rowptr_in.contiguous(), col = col_in.contiguous(), xq = xq_in.contiguous();
  const at::Tensor row_scale = row_scale_in.contiguous(), col_scale = col_scale_in.contiguous();
  at::Tensor value;
  if (value_in.has_value()) value = value_in->contiguous();
  SpmmInt8Launch L;
  L.rowptr = rowptr.data_ptr<int64_t>();
  L.col = col.data_ptr();
  L.col64 = col.scalar_type() == at::kLong;
  L.value = value.defined() ? value.data_ptr<int8_t>() : nullptr;
  L.xq = xq.data_ptr<int8_t>();
  L.row_scale = row_scale.data_ptr<float>();
  L.col_scale = col_scale.data_ptr<float>();
  L.out = out.data_ptr<float>();
  L.N = N;
  L.F = F;
  L.nnz = nnz;
  const bool vec = vec_enabled();
  L.vbytes = vec && F % 16 == 0 && aligned(L.xq, 16) ? 16 : (vec && F % 4 == 0 && aligned(L.xq, 4) ? 4 : 1);
  L.group = pick_group((F + L.vbytes - 1) / L.vbytes);
  L.block = pick_block(L.group);
  run(spmm_int8_launch(L, c10::cuda::getCurrentCUDAStream()));
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(sparsegnn_C, CUDA, m) {
  m.impl("spmm", &spmm_cuda);
  m.impl("segment_reduce", &segment_reduce_cuda);
  m.impl("sddmm", &sddmm_cuda);
  m.impl("spmm_arg_backward", &spmm_arg_backward_cuda);
  m.impl("spmm_int8", &spmm_int8_cuda);
}

}  // namespace cuda
}  // namespace sparsegnn
