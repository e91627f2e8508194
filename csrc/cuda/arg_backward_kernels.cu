// Backward of max/min SpMM w.r.t. x, deterministic and without atomics:
//
//   grad_x[col[arg[i, f]], f] += grad_out[i, f] * value[arg[i, f]]   (arg == nnz skipped)
//
// The op receives no rowptr and no transpose, so it builds what a pull needs:
//   1. edge_row[e] = i for every (i, f) with arg[i, f] = e (an edge belongs to one row, so every
//      writer of edge_row[e] writes the same i; edges no arg selects keep -1 and are skipped);
//   2. the glue sorts col stably (torch's sort) into sorted_col / perm, and colptr[j] is the first
//      position of column j in sorted_col (a binary search per column);
//   3. a group of G lanes per column j walks j's entries in increasing edge order (the stable sort
//      keeps it) and each lane sums, for its feature f, the entries whose arg[row, f] selects them.
// Every grad_x[j, f] is therefore summed in increasing row order by one thread: bitwise
// reproducible. Cost: one pass over arg, a sort of nnz keys, and nnz * F reads of arg in the pull.
// A column referenced by very many rows is walked by one group (no splitting here).
#include "common.cuh"

namespace sparsegnn {
namespace cuda {
namespace {

constexpr int kBlock = 256;
constexpr int kMinBlocks = 4;  // <= 64 registers; see spmm_kernels.cu

__global__ void edge_row_kernel(const int64_t* __restrict__ arg, int64_t N, int64_t F, int64_t nnz,
                                int64_t* __restrict__ edge_row) {
  for (int64_t i = blockIdx.x; i < N; i += gridDim.x) {
    for (int64_t f = threadIdx.x; f < F; f += blockDim.x) {
      const int64_t e = arg[i * F + f];
      if (e >= 0 && e < nnz) edge_row[e] = i;
    }
  }
}

template <typename I>
__global__ void colptr_kernel(const I* __restrict__ sorted_col, int64_t nnz, int64_t num_cols,
                              int64_t* __restrict__ colptr) {
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j <= num_cols;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t lo = 0, hi = nnz;  // first position with sorted_col[pos] >= j
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (static_cast<int64_t>(sorted_col[mid]) < j) lo = mid + 1; else hi = mid;
    }
    colptr[j] = lo;
  }
}

template <typename T>
__global__ void __launch_bounds__(kBlock, kMinBlocks) arg_pull_kernel(
    const int64_t* __restrict__ colptr, const int64_t* __restrict__ perm,
    const int64_t* __restrict__ edge_row, const T* __restrict__ value, const int64_t* __restrict__ arg,
    const T* __restrict__ grad_out, T* __restrict__ grad_x, int64_t F, int64_t num_cols, int G) {
  using acc_t = acc_type<T>;
  const int groups = blockDim.x / G;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * groups + threadIdx.x / G;
  if (j >= num_cols) return;
  const int lane = threadIdx.x % G;
  const int64_t begin = colptr[j], end = colptr[j + 1];
  for (int64_t f = blockIdx.y * static_cast<int64_t>(G) + lane; f < F;
       f += static_cast<int64_t>(gridDim.y) * G) {
    acc_t acc = acc_t(0);
    for (int64_t k = begin; k < end; ++k) {
      const int64_t e = perm[k];
      const int64_t i = edge_row[e];
      if (i < 0) continue;
      if (arg[i * F + f] == e) {
        const acc_t w = value != nullptr ? to_acc(value[e]) : acc_t(1);
        acc += to_acc(grad_out[i * F + f]) * w;
      }
    }
    grad_x[j * F + f] = from_acc<T>(acc);
  }
}

template <typename T>
cudaError_t launch_typed(const ArgBackwardLaunch& L, cudaStream_t stream) {
  // 1. rows of the selected edges (edge_row was filled with -1 by the caller).
  if (L.nnz > 0 && L.N > 0 && L.F > 0) {
    const int64_t blocks = L.N < 65535 * 16 ? L.N : 65535 * 16;
    int threads = 32;
    while (threads < L.F && threads < kBlock) threads *= 2;
    edge_row_kernel<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(L.arg, L.N, L.F, L.nnz,
                                                                         L.edge_row);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  // 2. column pointers over the stably sorted columns.
  {
    int64_t blocks = (L.num_cols + 1 + kBlock - 1) / kBlock;
    if (blocks > 65535 * 8) blocks = 65535 * 8;
    if (L.col64)
      colptr_kernel<int64_t><<<static_cast<unsigned>(blocks), kBlock, 0, stream>>>(
          static_cast<const int64_t*>(L.sorted_col), L.nnz, L.num_cols, L.colptr);
    else
      colptr_kernel<int32_t><<<static_cast<unsigned>(blocks), kBlock, 0, stream>>>(
          static_cast<const int32_t*>(L.sorted_col), L.nnz, L.num_cols, L.colptr);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  // 3. the pull.
  const int groups = L.block / L.group;
  const int64_t tiles = (L.F + L.group - 1) / L.group;
  const dim3 grid(static_cast<unsigned>((L.num_cols + groups - 1) / groups),
                  static_cast<unsigned>(tiles < 65535 ? tiles : 65535));
  arg_pull_kernel<T><<<grid, L.block, 0, stream>>>(
      L.colptr, L.perm, L.edge_row, static_cast<const T*>(L.value), L.arg,
      static_cast<const T*>(L.grad_out), static_cast<T*>(L.grad_x), L.F, L.num_cols, L.group);
  return cudaGetLastError();
}

}  // namespace

cudaError_t spmm_arg_backward_launch(const ArgBackwardLaunch& L, cudaStream_t s) {
  if (L.num_cols <= 0 || L.F <= 0) return cudaSuccess;
  if (!valid_lane_shape(L.group, L.block, kBlock))
    return cudaErrorInvalidConfiguration;
  return dispatch_dtype(L.dtype, [&](auto t) { return launch_typed<decltype(t)>(L, s); });
}

}  // namespace cuda
}  // namespace sparsegnn
