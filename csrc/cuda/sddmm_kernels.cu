// SDDMM on CUDA: out[e] = dot(a[row(e)], b[col[e]]) for every stored entry e (out dtype = a's).
//
// A group of G lanes (G = min(32, pow2 >= F / VEC)) computes one entry's dot product: each lane
// sums VEC-wide slices of the two feature rows (128-bit loads where aligned), then the group
// reduces with xor shuffles. A warp covers 32 / G entries at a time and walks edges_per_group of
// them per group, the same trip count for every lane so the full-mask shuffles never diverge.
// An entry's row is found by binary search on rowptr once, then advanced linearly (falling back
// to a binary search from the current row when many empty rows lie between two entries).
#include "common.cuh"

namespace sparsegnn {
namespace cuda {
namespace {

constexpr int kBlock = 256;
constexpr int kMinBlocks = 4;  // <= 64 registers; see spmm_kernels.cu

// Row of entry e, starting from a known row `r` with rowptr[r] <= e. Returns N if e >= rowptr[N].
__device__ __forceinline__ int64_t advance_row(const int64_t* __restrict__ rowptr, int64_t N, int64_t r,
                                               int64_t e) {
#pragma unroll 1
  for (int step = 0; step < 4; ++step) {
    if (r >= N || rowptr[r + 1] > e) return r;
    ++r;
  }
  if (r >= N) return r;
  return upper_row(rowptr, r, N, e);
}

template <typename T, typename I, int VEC>
__global__ void __launch_bounds__(kBlock, kMinBlocks) sddmm_kernel(
    const int64_t* __restrict__ rowptr, const I* __restrict__ col, const T* __restrict__ a,
    const T* __restrict__ b, T* __restrict__ out, int64_t N, int64_t F, int64_t nnz, int G, int epg) {
  using acc_t = acc_type<T>;
  const int lane = threadIdx.x % G;
  const int gpw = 32 / G;                  // groups per warp
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int gin = (threadIdx.x & 31) / G;  // group within warp
  const int64_t first = warp * gpw * epg;  // entries [first, first + gpw * epg) belong to this warp
  if (first >= nnz) return;                // uniform over the warp
  const int64_t step = gpw;

  int64_t row = -1;
  for (int k = 0; k < epg; ++k) {
    const int64_t e = first + gin + k * step;
    const bool valid = e < nnz;
    acc_t sum = acc_t(0);
    if (valid) {
      if (row < 0) {
        // First entry of this group: rowptr[0] <= e is required by the contract; guard anyway.
        row = rowptr[0] <= e ? upper_row(rowptr, 0, N, e) : N;
      } else {
        row = advance_row(rowptr, N, row, e);
      }
      if (row < N) {
        const int64_t c = load_index(col, e);
        const T* __restrict__ ar = a + row * F;
        const T* __restrict__ br = b + c * F;
        for (int64_t f = static_cast<int64_t>(lane) * VEC; f < F; f += static_cast<int64_t>(G) * VEC) {
          acc_t xa[VEC], xb[VEC];
          load_vec<T, VEC>(ar + f, xa);
          load_vec<T, VEC>(br + f, xb);
#pragma unroll
          for (int v = 0; v < VEC; ++v) sum += xa[v] * xb[v];
        }
      }
    }
    // Every lane of the warp reaches these shuffles (k runs the same trip count everywhere).
    for (int off = G / 2; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off, G);
    if (valid && lane == 0) out[e] = from_acc<T>(row < N ? sum : acc_t(0));
  }
}

template <typename T, typename I>
cudaError_t launch_typed(const SddmmLaunch& L, cudaStream_t stream) {
  const int gpw = 32 / L.group;
  const int64_t per_warp = static_cast<int64_t>(gpw) * L.edges_per_group;
  const int64_t warps = (L.nnz + per_warp - 1) / per_warp;
  const int wpb = L.block / 32;
  const int64_t blocks = (warps + wpb - 1) / wpb;
  const T* a = static_cast<const T*>(L.a);
  const T* b = static_cast<const T*>(L.b);
  T* out = static_cast<T*>(L.out);
  const I* col = static_cast<const I*>(L.col);
  if (L.vec == vec16<T>())
    sddmm_kernel<T, I, vec16<T>()><<<static_cast<unsigned>(blocks), L.block, 0, stream>>>(
        L.rowptr, col, a, b, out, L.N, L.F, L.nnz, L.group, L.edges_per_group);
  else
    sddmm_kernel<T, I, 1><<<static_cast<unsigned>(blocks), L.block, 0, stream>>>(
        L.rowptr, col, a, b, out, L.N, L.F, L.nnz, L.group, L.edges_per_group);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_index(const SddmmLaunch& L, cudaStream_t s) {
  return L.col64 ? launch_typed<T, int64_t>(L, s) : launch_typed<T, int32_t>(L, s);
}

}  // namespace

cudaError_t sddmm_launch(const SddmmLaunch& L, cudaStream_t s) {
  if (L.nnz <= 0) return cudaSuccess;
  if (!valid_lane_shape(L.group, L.block, kBlock) || L.edges_per_group < 1)
    return cudaErrorInvalidConfiguration;
  return dispatch_dtype(L.dtype, [&](auto t) { return launch_index<decltype(t)>(L, s); });
}

}  // namespace cuda
}  // namespace sparsegnn
