// CSR SpMM (sum/mean/max/min, weighted or not) and segment_reduce on CUDA.
//
//   out[i, f] = reduce_{e in rowptr[i]..rowptr[i+1]} value[e] * x[col[e], f]
//
// One group of G lanes (G a power of two <= 32: a warp, or a sub-warp for small F) owns one row
// and a tile of G * VEC features (grid.y walks the tiles). The group stages CH = max(G, 8) of the
// row's column indices and values in shared memory at a time, then every lane walks them (a
// broadcast read) and gathers its VEC features of each neighbour row, four neighbours in flight at
// once, with one 128-bit load each when the host found x 16-byte aligned and F a multiple of VEC.
// Accumulation is float32 for 16-bit types (float64 for float64), in edge order.
//
// Load balance: with split > 0, a row of more than `split` entries is skipped by the row pass and
// cut into pieces of `split` entries; one group reduces each piece into a workspace, and a merge
// pass combines a row's pieces in order with Reducer::merge. No atomics: results are bitwise
// reproducible run to run.
//
// segment_reduce is the same kernel with the Identity index (entry e reads row e of src).
#include "common.cuh"

namespace sparsegnn {
namespace cuda {
namespace {

constexpr int kMaxBlock = 256;
// Blocks of 256 that must fit on an SM: 4 caps registers at 64 (>= 50% occupancy); the 128-bit
// 16-bit-type variants (8 float32 accumulators + 8 args per lane) get 3 (<= 80 registers).
// Without a minimum, ptxas squeezes some instantiations into 32 registers and spills.
template <int VEC> constexpr int min_blocks() { return VEC >= 8 ? 3 : 4; }
constexpr int kMinBlocks = 4;

template <typename T, typename I>
struct SpmmArgs {
  const int64_t* __restrict__ rowptr;
  const I* __restrict__ col;
  const T* __restrict__ value;
  const T* __restrict__ x;
  T* __restrict__ out;
  int64_t* __restrict__ arg;
  int64_t N, F, nnz, sentinel;
  int group, chunk;
  int64_t ntiles;  // ceil(F / (group * VEC)), computed on the host
  int pieces;  // 0: row pass, 1: piece pass
  int64_t split;
  const int64_t* __restrict__ piece_ptr;
  int64_t piece_bound;
  acc_type<T>* __restrict__ ws;
  int64_t* __restrict__ ws_arg;
};

template <Reduce R, typename acc_t, int VEC>
__device__ __forceinline__ void fold(acc_t (&acc)[VEC], int64_t (&arg)[VEC], const acc_t (&xv)[VEC],
                                     acc_t w, int64_t e) {
#pragma unroll
  for (int v = 0; v < VEC; ++v) Reducer<R, acc_t>::update(acc[v], w * xv[v], arg[v], e);
}

template <typename T, typename I, Reduce R, int VEC>
__global__ void __launch_bounds__(kMaxBlock, min_blocks<VEC>()) spmm_kernel(const SpmmArgs<T, I> p) {
  using acc_t = acc_type<T>;
  using S = typename StagedIndex<I>::type;
  using Red = Reducer<R, acc_t>;
  extern __shared__ __align__(16) unsigned char smem[];

  const int G = p.group;
  const int CH = p.chunk;  // multiple of G, >= 8
  const int groups = blockDim.x / G;
  const int gib = threadIdx.x / G;
  const int lane = threadIdx.x % G;
  acc_t* s_val = reinterpret_cast<acc_t*>(smem) + static_cast<int64_t>(gib) * CH;
  S* s_idx = reinterpret_cast<S*>(smem + sizeof(acc_t) * groups * CH) + static_cast<int64_t>(gib) * CH;
  const unsigned gmask = group_mask(G);

  // Every lane of a group computes the same unit, so a group returns (or not) as a whole.
  const int64_t unit = static_cast<int64_t>(blockIdx.x) * groups + gib;
  int64_t row, start, end, slot = -1;
  if (!p.pieces) {
    if (unit >= p.N) return;
    row = unit;
    start = p.rowptr[row];
    end = p.rowptr[row + 1];
    if (p.split > 0 && end - start > p.split) return;  // the piece pass owns this row
  } else {
    const int64_t total = p.piece_ptr[p.N];
    if (unit >= total || unit >= p.piece_bound) return;
    row = upper_row(p.piece_ptr, 0, p.N, unit);  // piece_ptr[row] <= unit < piece_ptr[row + 1]
    const int64_t rs = p.rowptr[row], re = p.rowptr[row + 1];
    start = rs + (unit - p.piece_ptr[row]) * p.split;
    end = start + p.split < re ? start + p.split : re;
    slot = unit;
  }
  const int64_t F = p.F;
  const int64_t tile_w = static_cast<int64_t>(G) * VEC;
  const int64_t ntiles = p.ntiles;

  for (int64_t tile = blockIdx.y; tile < ntiles; tile += gridDim.y) {
    const int64_t f0 = tile * tile_w + static_cast<int64_t>(lane) * VEC;
    const bool active = f0 < F;  // F % VEC == 0 when VEC > 1, so f0 < F covers all VEC features
    acc_t acc[VEC];
    int64_t arg[VEC];
#pragma unroll
    for (int v = 0; v < VEC; ++v) { acc[v] = Red::init(); arg[v] = -1; }

    for (int64_t base = start; base < end; base += CH) {
      const int n = static_cast<int>(end - base < CH ? end - base : CH);
      for (int k = lane; k < n; k += G) {
        s_idx[k] = static_cast<S>(load_index(p.col, base + k));
        s_val[k] = p.value != nullptr ? to_acc(p.value[base + k]) : acc_t(1);
      }
      __syncwarp(gmask);
      if (active) {
        const T* __restrict__ xf = p.x + f0;
        int j = 0;
        for (; j + 4 <= n; j += 4) {
          acc_t x0[VEC], x1[VEC], x2[VEC], x3[VEC];
          load_vec<T, VEC>(xf + static_cast<int64_t>(s_idx[j]) * F, x0);
          load_vec<T, VEC>(xf + static_cast<int64_t>(s_idx[j + 1]) * F, x1);
          load_vec<T, VEC>(xf + static_cast<int64_t>(s_idx[j + 2]) * F, x2);
          load_vec<T, VEC>(xf + static_cast<int64_t>(s_idx[j + 3]) * F, x3);
          fold<R, acc_t, VEC>(acc, arg, x0, s_val[j], base + j);
          fold<R, acc_t, VEC>(acc, arg, x1, s_val[j + 1], base + j + 1);
          fold<R, acc_t, VEC>(acc, arg, x2, s_val[j + 2], base + j + 2);
          fold<R, acc_t, VEC>(acc, arg, x3, s_val[j + 3], base + j + 3);
        }
        for (; j < n; ++j) {
          acc_t x0[VEC];
          load_vec<T, VEC>(xf + static_cast<int64_t>(s_idx[j]) * F, x0);
          fold<R, acc_t, VEC>(acc, arg, x0, s_val[j], base + j);
        }
      }
      __syncwarp(gmask);  // the next chunk overwrites the staging area
    }
    if (!active) continue;
    if (slot < 0) {
      const int64_t count = end - start;
      const int64_t o = row * F + f0;
#pragma unroll
      for (int v = 0; v < VEC; ++v) acc[v] = Red::finalize(acc[v], count, arg[v], p.sentinel);
      store_vec<T, VEC>(p.out + o, acc);
      if constexpr (has_arg<R>()) {
#pragma unroll
        for (int v = 0; v < VEC; ++v) p.arg[o + v] = arg[v];
      }
    } else {
      const int64_t o = slot * F + f0;
#pragma unroll
      for (int v = 0; v < VEC; ++v) p.ws[o + v] = acc[v];
      if constexpr (has_arg<R>()) {
#pragma unroll
        for (int v = 0; v < VEC; ++v) p.ws_arg[o + v] = arg[v];
      }
    }
  }
}

// One block per piece slot; the block of a row's first piece merges all its pieces in order.
template <typename T, Reduce R>
__global__ void __launch_bounds__(kMaxBlock, kMinBlocks) spmm_merge_kernel(
    const int64_t* __restrict__ rowptr, const int64_t* __restrict__ piece_ptr,
    const acc_type<T>* __restrict__ ws, const int64_t* __restrict__ ws_arg, T* __restrict__ out,
    int64_t* __restrict__ arg, int64_t N, int64_t F, int64_t sentinel, int64_t piece_bound) {
  using acc_t = acc_type<T>;
  using Red = Reducer<R, acc_t>;
  const int64_t unit = blockIdx.x;
  const int64_t total = piece_ptr[N];
  if (unit >= total || unit >= piece_bound) return;
  const int64_t row = upper_row(piece_ptr, 0, N, unit);
  if (piece_ptr[row] != unit) return;
  const int64_t last = piece_ptr[row + 1] < piece_bound ? piece_ptr[row + 1] : piece_bound;
  const int64_t count = rowptr[row + 1] - rowptr[row];
  for (int64_t f = threadIdx.x; f < F; f += blockDim.x) {
    acc_t acc = ws[unit * F + f];
    int64_t a = has_arg<R>() ? ws_arg[unit * F + f] : -1;
    for (int64_t q = unit + 1; q < last; ++q) {
      const int64_t qa = has_arg<R>() ? ws_arg[q * F + f] : -1;
      Red::merge(acc, a, ws[q * F + f], qa);
    }
    acc = Red::finalize(acc, count, a, sentinel);
    out[row * F + f] = from_acc<T>(acc);
    if constexpr (has_arg<R>()) arg[row * F + f] = a;
  }
}

__global__ void count_pieces_kernel(const int64_t* __restrict__ rowptr, int64_t N, int64_t split,
                                    int64_t* __restrict__ counts) {
  for (int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; r < N;
       r += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t d = rowptr[r + 1] - rowptr[r];
    counts[r] = d > split ? (d + split - 1) / split : 0;
  }
}

template <typename T, typename I, Reduce R, int VEC>
cudaError_t launch_typed(const SpmmLaunch& L, cudaStream_t stream) {
  using acc_t = acc_type<T>;
  using S = typename StagedIndex<I>::type;
  SpmmArgs<T, I> a;
  a.rowptr = L.rowptr;
  a.col = static_cast<const I*>(L.col);
  a.value = static_cast<const T*>(L.value);
  a.x = static_cast<const T*>(L.x);
  a.out = static_cast<T*>(L.out);
  a.arg = L.arg;
  a.N = L.N; a.F = L.F; a.nnz = L.nnz; a.sentinel = L.sentinel;
  a.group = L.group;
  a.chunk = L.group > 8 ? L.group : 8;
  a.split = L.split;
  a.piece_ptr = L.piece_ptr;
  a.piece_bound = L.piece_bound;
  a.ws = static_cast<acc_t*>(L.ws);
  a.ws_arg = L.ws_arg;

  const int groups = L.block / L.group;
  const size_t smem = static_cast<size_t>(groups) * a.chunk * (sizeof(acc_t) + sizeof(S));
  const int64_t tile_w = static_cast<int64_t>(L.group) * VEC;
  const int64_t ntiles = (L.F + tile_w - 1) / tile_w;
  const unsigned gy = static_cast<unsigned>(ntiles < 65535 ? ntiles : 65535);
  a.ntiles = ntiles;

  a.pieces = 0;
  const dim3 grid_rows(static_cast<unsigned>((L.N + groups - 1) / groups), gy);
  spmm_kernel<T, I, R, VEC><<<grid_rows, L.block, smem, stream>>>(a);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess || L.split <= 0 || L.piece_bound <= 0) return err;

  a.pieces = 1;
  const dim3 grid_pieces(static_cast<unsigned>((L.piece_bound + groups - 1) / groups), gy);
  spmm_kernel<T, I, R, VEC><<<grid_pieces, L.block, smem, stream>>>(a);
  if ((err = cudaGetLastError()) != cudaSuccess) return err;

  int mb = 32;
  while (mb < L.F && mb < kMaxBlock) mb *= 2;
  spmm_merge_kernel<T, R><<<static_cast<unsigned>(L.piece_bound), mb, 0, stream>>>(
      L.rowptr, L.piece_ptr, a.ws, L.ws_arg, a.out, L.arg, L.N, L.F, L.sentinel, L.piece_bound);
  return cudaGetLastError();
}

template <typename T, typename I, Reduce R>
cudaError_t launch_vec(const SpmmLaunch& L, cudaStream_t s) {
  if (L.vec == vec16<T>()) return launch_typed<T, I, R, vec16<T>()>(L, s);
  return launch_typed<T, I, R, 1>(L, s);
}

template <typename T, typename I>
cudaError_t launch_reduce(const SpmmLaunch& L, cudaStream_t s) {
  switch (L.reduce) {
    case Reduce::Sum: return launch_vec<T, I, Reduce::Sum>(L, s);
    case Reduce::Mean: return launch_vec<T, I, Reduce::Mean>(L, s);
    case Reduce::Max: return launch_vec<T, I, Reduce::Max>(L, s);
    case Reduce::Min: return launch_vec<T, I, Reduce::Min>(L, s);
  }
  return cudaErrorInvalidValue;
}

template <typename T>
cudaError_t launch_index(const SpmmLaunch& L, cudaStream_t s) {
  switch (L.index) {
    case IndexKind::Int32: return launch_reduce<T, int32_t>(L, s);
    case IndexKind::Int64: return launch_reduce<T, int64_t>(L, s);
    case IndexKind::Identity: return launch_reduce<T, Identity>(L, s);
  }
  return cudaErrorInvalidValue;
}

}  // namespace

cudaError_t spmm_count_pieces(const int64_t* rowptr, int64_t N, int64_t split, int64_t* counts,
                              cudaStream_t stream) {
  if (N <= 0) return cudaSuccess;
  const int64_t blocks = (N + 255) / 256;
  count_pieces_kernel<<<static_cast<unsigned>(blocks < 65535 ? blocks : 65535), 256, 0, stream>>>(
      rowptr, N, split, counts);
  return cudaGetLastError();
}

cudaError_t spmm_launch(const SpmmLaunch& L, cudaStream_t s) {
  if (L.N <= 0 || L.F <= 0) return cudaSuccess;
  if (!valid_lane_shape(L.group, L.block, kMaxBlock))
    return cudaErrorInvalidConfiguration;
  return dispatch_dtype(L.dtype, [&](auto t) { return launch_index<decltype(t)>(L, s); });
}

}  // namespace cuda
}  // namespace sparsegnn
