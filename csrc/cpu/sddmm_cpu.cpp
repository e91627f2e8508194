// CPU SDDMM: out[e] = dot(a[row(e)], b[col[e]]) for every stored entry e (float32 accumulation for
// 16-bit inputs). Parallel over nnz-balanced edge chunks; each out[e] is one dot product summed in
// a fixed order, so results do not depend on the thread count.
#include "common.h"
#include "sddmm_kernels.h"

namespace sparsegnn {
namespace cpu {
namespace {

at::Tensor sddmm_cpu(const at::Tensor& rowptr, const at::Tensor& col, const at::Tensor& a, const at::Tensor& b) {
  check_col(col);
  check_float_2d(a, "a");
  check_float_2d(b, "b");
  TORCH_CHECK(a.scalar_type() == b.scalar_type(), "a and b must have one dtype, got ", a.scalar_type(), " and ",
              b.scalar_type());
  TORCH_CHECK(a.size(1) == b.size(1), "a and b must have the same feature width, got ", a.size(1), " and ",
              b.size(1));
  const int64_t nnz = col.numel();
  check_rowptr(rowptr, nnz);
  const int64_t n = rowptr.numel() - 1;
  TORCH_CHECK(a.size(0) == n, "a must have N = ", n, " rows, got ", a.size(0));
  const int64_t F = a.size(1), m = b.size(0);
  auto out = empty_output({nnz}, a.options());
  if (nnz == 0) return out;
  const int64_t* rp = rowptr.data_ptr<int64_t>();
  const Isa isa = selected_isa();
  const Prefetch pre = Prefetch::from_env();
  constexpr int64_t kChunk = 4096;
  const int64_t nchunks = (nnz + kChunk - 1) / kChunk;
  std::atomic<bool> bad{false};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.scalar_type(), "sparsegnn_sddmm_cpu", [&] {
    const scalar_t* ap = a.data_ptr<scalar_t>();
    const scalar_t* bp = b.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    auto body = [&](auto cp) {
      run_tasks(nchunks, [&](int64_t t) {
        const int64_t e0 = t * kChunk, e1 = std::min(nnz, e0 + kChunk);
        // The row holding e0: the last i with rp[i] <= e0 (skipping empty rows).
        int64_t i = std::upper_bound(rp, rp + n + 1, e0) - rp - 1;
        bool lb = false;
        for (int64_t e = e0; e < e1;) {
          while (rp[i + 1] <= e) ++i;
          const int64_t end = std::min(e1, rp[i + 1]);
          sddmm_row(ap + i * F, bp, cp, e, end, nnz, m, F, pre, op, isa, lb);
          e = end;
        }
        if (lb) bad.store(true, std::memory_order_relaxed);
      });
    };
    visit_col(col, body);
  });
  TORCH_CHECK(!bad.load(), "col holds an index out of range [0, ", m, ")");
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(sparsegnn_C, CPU, m) { m.impl("sddmm", &sddmm_cpu); }

}  // namespace cpu
}  // namespace sparsegnn
