// INT8 SpMM on CUDA:
//   acc[i, f] = sum_e value[e] * xq[col[e], f]   (int32, value int8 or 1)
//   out[i, f] = float(acc) * row_scale[i] * col_scale[f]   (float32)
//
// Same layout as the float SpMM: a group of G lanes per row, CH = max(G, 8) column indices and
// int8 weights staged in shared memory, feature tiles over grid.y. Each lane owns VB consecutive
// int8 features (VB = 16: one 128-bit load per neighbour; VB = 4: one 32-bit load; VB = 1: bytes).
// For VB >= 4, four neighbours are gathered at once, their bytes transposed with __byte_perm so
// that one 32-bit word holds feature f of the four neighbours, and __dp4a multiplies it with the
// four packed weights (read as one word from shared memory), accumulating in int32. Integer
// accumulation is exact (modulo 2^32, as the contract's int32 states), so the result does not
// depend on the order and matches the CPU bit for bit.
#include "common.cuh"

namespace sparsegnn {
namespace cuda {
namespace {

constexpr int kBlock = 256;
constexpr int kMinBlocks = 4;  // <= 64 registers; see spmm_kernels.cu

template <int VB> struct Bytes;
template <> struct Bytes<1> { using type = int8_t; static constexpr int words = 0; };
template <> struct Bytes<4> { using type = int; static constexpr int words = 1; };
template <> struct Bytes<16> { using type = int4; static constexpr int words = 4; };

__device__ __forceinline__ int word(const int& v, int) { return v; }
__device__ __forceinline__ int word(const int4& v, int w) {
  return w == 0 ? v.x : (w == 1 ? v.y : (w == 2 ? v.z : v.w));
}

// acc[4w + t] += sum_k w_k * byte_t(x_k[w]) for the four neighbours k = 0..3.
template <int VB, typename V>
__device__ __forceinline__ void dp4a_step(int (&acc)[VB], const V& x0, const V& x1, const V& x2,
                                          const V& x3, int w4) {
#pragma unroll
  for (int w = 0; w < Bytes<VB>::words; ++w) {
    const int a = word(x0, w), b = word(x1, w), c = word(x2, w), d = word(x3, w);
    const int lo01 = (int)__byte_perm(a, b, 0x5140);  // a0 b0 a1 b1
    const int hi01 = (int)__byte_perm(a, b, 0x7362);  // a2 b2 a3 b3
    const int lo23 = (int)__byte_perm(c, d, 0x5140);  // c0 d0 c1 d1
    const int hi23 = (int)__byte_perm(c, d, 0x7362);  // c2 d2 c3 d3
    acc[4 * w + 0] = __dp4a(static_cast<int>(__byte_perm(lo01, lo23, 0x5410)), w4, acc[4 * w + 0]);  // a0 b0 c0 d0
    acc[4 * w + 1] = __dp4a(static_cast<int>(__byte_perm(lo01, lo23, 0x7632)), w4, acc[4 * w + 1]);  // a1 b1 c1 d1
    acc[4 * w + 2] = __dp4a(static_cast<int>(__byte_perm(hi01, hi23, 0x5410)), w4, acc[4 * w + 2]);  // a2 b2 c2 d2
    acc[4 * w + 3] = __dp4a(static_cast<int>(__byte_perm(hi01, hi23, 0x7632)), w4, acc[4 * w + 3]);  // a3 b3 c3 d3
  }
}

template <int VB, typename V>
__device__ __forceinline__ void scalar_step(int (&acc)[VB], const V& x, int wt) {
  if constexpr (VB == 1) {
    acc[0] += wt * static_cast<int>(x);
  } else {
#pragma unroll
    for (int w = 0; w < Bytes<VB>::words; ++w) {
      const int v = word(x, w);
#pragma unroll
      for (int t = 0; t < 4; ++t) acc[4 * w + t] += wt * static_cast<int>(static_cast<int8_t>(v >> (8 * t)));
    }
  }
}

template <typename I, int VB>
__global__ void __launch_bounds__(kBlock, VB == 16 ? 3 : kMinBlocks) spmm_int8_kernel(
    const int64_t* __restrict__ rowptr, const I* __restrict__ col, const int8_t* __restrict__ value,
    const int8_t* __restrict__ xq, const float* __restrict__ row_scale,
    const float* __restrict__ col_scale, float* __restrict__ out, int64_t N, int64_t F, int64_t ntiles, int G, int CH) {
  using V = typename Bytes<VB>::type;
  using S = typename StagedIndex<I>::type;
  extern __shared__ __align__(16) unsigned char smem[];
  const int groups = blockDim.x / G;
  const int gib = threadIdx.x / G;
  const int lane = threadIdx.x % G;
  S* s_idx = reinterpret_cast<S*>(smem) + static_cast<int64_t>(gib) * CH;
  int8_t* s_w = reinterpret_cast<int8_t*>(smem + sizeof(S) * groups * CH) + static_cast<int64_t>(gib) * CH;
  const unsigned gmask = group_mask(G);

  const int64_t row = static_cast<int64_t>(blockIdx.x) * groups + gib;
  if (row >= N) return;  // uniform over the group
  const int64_t start = rowptr[row], end = rowptr[row + 1];
  const int64_t tile_w = static_cast<int64_t>(G) * VB;

  for (int64_t tile = blockIdx.y; tile < ntiles; tile += gridDim.y) {
    const int64_t f0 = tile * tile_w + static_cast<int64_t>(lane) * VB;
    const bool active = f0 < F;  // F % VB == 0 when VB > 1
    int acc[VB];
#pragma unroll
    for (int v = 0; v < VB; ++v) acc[v] = 0;

    for (int64_t base = start; base < end; base += CH) {
      const int n = static_cast<int>(end - base < CH ? end - base : CH);
      for (int k = lane; k < n; k += G) {
        s_idx[k] = static_cast<S>(load_index(col, base + k));
        s_w[k] = value != nullptr ? value[base + k] : static_cast<int8_t>(1);
      }
      __syncwarp(gmask);
      if (active) {
        const int8_t* __restrict__ xf = xq + f0;
        int j = 0;
        if constexpr (VB >= 4) {
          // CH is a multiple of 8 and j steps by 4 from 0, so s_w + j is 4-byte aligned.
          for (; j + 4 <= n; j += 4) {
            const V x0 = __ldg(reinterpret_cast<const V*>(xf + static_cast<int64_t>(s_idx[j]) * F));
            const V x1 = __ldg(reinterpret_cast<const V*>(xf + static_cast<int64_t>(s_idx[j + 1]) * F));
            const V x2 = __ldg(reinterpret_cast<const V*>(xf + static_cast<int64_t>(s_idx[j + 2]) * F));
            const V x3 = __ldg(reinterpret_cast<const V*>(xf + static_cast<int64_t>(s_idx[j + 3]) * F));
            const int w4 = *reinterpret_cast<const int*>(s_w + j);
            dp4a_step<VB>(acc, x0, x1, x2, x3, w4);
          }
        }
        for (; j < n; ++j) {
          const V x0 = __ldg(reinterpret_cast<const V*>(xf + static_cast<int64_t>(s_idx[j]) * F));
          scalar_step<VB>(acc, x0, static_cast<int>(s_w[j]));
        }
      }
      __syncwarp(gmask);
    }
    if (!active) continue;
    const float rs = row_scale[row];
    float* o = out + row * F + f0;
    if constexpr (VB == 1) {
      o[0] = static_cast<float>(acc[0]) * rs * col_scale[f0];
    } else {
#pragma unroll
      for (int v = 0; v < VB; v += 4) {
        // col_scale may be any float32 view: scalar loads, no alignment assumed.
        float4 r;
        r.x = static_cast<float>(acc[v + 0]) * rs * __ldg(col_scale + f0 + v + 0);
        r.y = static_cast<float>(acc[v + 1]) * rs * __ldg(col_scale + f0 + v + 1);
        r.z = static_cast<float>(acc[v + 2]) * rs * __ldg(col_scale + f0 + v + 2);
        r.w = static_cast<float>(acc[v + 3]) * rs * __ldg(col_scale + f0 + v + 3);
        *reinterpret_cast<float4*>(o + v) = r;
      }
    }
  }
}

template <typename I, int VB>
cudaError_t launch_typed(const SpmmInt8Launch& L, cudaStream_t stream) {
  using S = typename StagedIndex<I>::type;
  const int CH = L.group > 8 ? L.group : 8;
  const int groups = L.block / L.group;
  const size_t smem = static_cast<size_t>(groups) * CH * (sizeof(S) + 1);
  const int64_t tile_w = static_cast<int64_t>(L.group) * VB;
  const int64_t ntiles = (L.F + tile_w - 1) / tile_w;
  const dim3 grid(static_cast<unsigned>((L.N + groups - 1) / groups),
                  static_cast<unsigned>(ntiles < 65535 ? ntiles : 65535));
  spmm_int8_kernel<I, VB><<<grid, L.block, smem, stream>>>(
      L.rowptr, static_cast<const I*>(L.col), L.value, L.xq, L.row_scale, L.col_scale, L.out, L.N,
      L.F, ntiles, L.group, CH);
  return cudaGetLastError();
}

template <typename I>
cudaError_t launch_vb(const SpmmInt8Launch& L, cudaStream_t s) {
  if (L.vbytes == 16) return launch_typed<I, 16>(L, s);
  if (L.vbytes == 4) return launch_typed<I, 4>(L, s);
  return launch_typed<I, 1>(L, s);
}

}  // namespace

cudaError_t spmm_int8_launch(const SpmmInt8Launch& L, cudaStream_t s) {
  if (L.N <= 0 || L.F <= 0) return cudaSuccess;
  if (!valid_lane_shape(L.group, L.block, kBlock))
    return cudaErrorInvalidConfiguration;
  return L.col64 ? launch_vb<int64_t>(L, s) : launch_vb<int32_t>(L, s);
}

}  // namespace cuda
}  // namespace sparsegnn
