// Shared pieces of the CUDA backend: element types, conversions, vector loads, warp-group helpers
// and the plain-C++ launch interface between the torch glue (ops_cuda.cu, the only translation
// unit that includes torch headers) and the kernel translation units (*_kernels.cu, which include
// only the CUDA toolkit and sparsegnn/reducer.h, so that nvcc compiles them in seconds).
//
// Every launcher returns the cudaError_t of its launches; the glue wraps it in C10_CUDA_CHECK and
// follows it with C10_CUDA_KERNEL_LAUNCH_CHECK().
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "sparsegnn/reducer.h"

namespace sparsegnn {
namespace cuda {

enum class DType : int { Half = 0, BFloat16 = 1, Float = 2, Double = 3 };
enum class IndexKind : int { Int32 = 0, Int64 = 1, Identity = 2 };

// Index tag for segment_reduce: edge position e addresses row e of src.
struct Identity {};

template <typename T> struct AccType { using type = float; };
template <> struct AccType<double> { using type = double; };
template <typename T> using acc_type = typename AccType<T>::type;

// Type an index is staged as in shared memory.
template <typename I> struct StagedIndex { using type = int64_t; };
template <> struct StagedIndex<int32_t> { using type = int32_t; };

#if defined(__CUDACC__)

__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_acc(float v);
template <> __device__ __forceinline__ float from_acc<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_acc<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <typename T> __device__ __forceinline__ T from_acc(double v) { return v; }

__device__ __forceinline__ int64_t load_index(const int32_t* col, int64_t e) { return col[e]; }
__device__ __forceinline__ int64_t load_index(const int64_t* col, int64_t e) { return col[e]; }
__device__ __forceinline__ int64_t load_index(const Identity*, int64_t e) { return e; }

// Elements of T in one 128-bit load.
template <typename T> constexpr int vec16() { return 16 / static_cast<int>(sizeof(T)); }

// Loads VEC consecutive elements of T starting at p into accumulator type. VEC == 1 is a scalar
// read-only load; VEC == vec16<T>() is one 128-bit load (the caller guarantees 16-byte alignment).
template <typename T, int VEC>
__device__ __forceinline__ void load_vec(const T* __restrict__ p, acc_type<T> (&o)[VEC]) {
  if constexpr (VEC == 1) {
    o[0] = to_acc(__ldg(p));
  } else {
    static_assert(VEC == vec16<T>(), "vector width must be 1 or 128 bits");
    const uint4 u = __ldg(reinterpret_cast<const uint4*>(p));
    const T* e = reinterpret_cast<const T*>(&u);
#pragma unroll
    for (int v = 0; v < VEC; ++v) o[v] = to_acc(e[v]);
  }
}

template <typename T, int VEC>
__device__ __forceinline__ void store_vec(T* __restrict__ p, const acc_type<T> (&o)[VEC]) {
  if constexpr (VEC == 1) {
    p[0] = from_acc<T>(o[0]);
  } else {
    uint4 u;
    T* e = reinterpret_cast<T*>(&u);
#pragma unroll
    for (int v = 0; v < VEC; ++v) e[v] = from_acc<T>(o[v]);
    *reinterpret_cast<uint4*>(p) = u;
  }
}

// Lanes of the calling thread's group of G lanes (G a power of two dividing 32) within its warp.
__device__ __forceinline__ unsigned group_mask(int G) {
  if (G >= 32) return 0xffffffffu;
  const int lane = threadIdx.x & 31;
  return ((1u << G) - 1u) << (lane & ~(G - 1));
}

// Largest r in [lo, hi) with ptr[r] <= key, given ptr[lo] <= key (ptr non-decreasing and readable
// on [lo, hi]). Returns hi when ptr[hi] <= key as well (callers guard against that).
__device__ __forceinline__ int64_t upper_row(const int64_t* __restrict__ ptr, int64_t lo, int64_t hi,
                                             int64_t key) {
  int64_t a = lo + 1, b = hi + 1;  // first index in [lo+1, hi+1) with ptr[idx] > key; reads <= hi
  while (a < b) {
    const int64_t mid = a + (b - a) / 2;
    if (ptr[mid] <= key) a = mid + 1; else b = mid;
  }
  return a - 1;
}

// A launch's lane shape: group (lanes per row) a power of two in [1, 32]; block a multiple of 32
// in [32, max_block].
inline bool valid_lane_shape(int group, int block, int max_block) {
  return group >= 1 && group <= 32 && (group & (group - 1)) == 0 && block >= 32 && block <= max_block &&
         block % 32 == 0;
}

// fn(T{}) for the element type T that d names (fn reads T as decltype of its argument).
template <typename Fn>
inline cudaError_t dispatch_dtype(DType d, Fn&& fn) {
  switch (d) {
    case DType::Half: return fn(__half{});
    case DType::BFloat16: return fn(__nv_bfloat16{});
    case DType::Float: return fn(float{});
    case DType::Double: return fn(double{});
  }
  return cudaErrorInvalidValue;
}

#endif  // __CUDACC__

// ---------------------------------------------------------------------------------------------
// Launch interface (host side, no torch types).

struct SpmmLaunch {
  const int64_t* rowptr = nullptr;  // [N+1]
  const void* col = nullptr;        // [nnz] int32/int64, or unused for IndexKind::Identity
  IndexKind index = IndexKind::Int64;
  const void* value = nullptr;      // [nnz] of dtype, or nullptr (weight 1)
  const void* x = nullptr;          // [rows of x, F]
  void* out = nullptr;              // [N, F]
  int64_t* arg = nullptr;           // [N, F] for max/min, else nullptr
  int64_t N = 0, F = 0, nnz = 0;
  int64_t sentinel = 0;             // arg of empty rows
  Reduce reduce = Reduce::Sum;
  DType dtype = DType::Float;
  int group = 32;                   // lanes per row (power of two <= 32)
  int block = 256;                  // threads per block (multiple of 32, <= 256)
  int vec = 1;                      // elements per lane: 1 or 16 / sizeof(T)
  // Load balance: rows longer than `split` entries are cut into pieces of `split` entries, each
  // reduced by one group into ws/ws_arg, then merged in piece order (deterministic).
  int64_t split = 0;                // 0: no splitting
  const int64_t* piece_ptr = nullptr;  // [N+1] exclusive scan of pieces per split row
  int64_t piece_bound = 0;          // upper bound on piece_ptr[N]; rows of ws
  void* ws = nullptr;               // [piece_bound, F] accumulator type
  int64_t* ws_arg = nullptr;        // [piece_bound, F] for max/min
};

// counts[r] = ceil(deg_r / split) if deg_r > split else 0, for r in [0, N).
cudaError_t spmm_count_pieces(const int64_t* rowptr, int64_t N, int64_t split, int64_t* counts,
                              cudaStream_t stream);
cudaError_t spmm_launch(const SpmmLaunch& p, cudaStream_t stream);

struct SddmmLaunch {
  const int64_t* rowptr = nullptr;
  const void* col = nullptr;
  bool col64 = true;
  const void* a = nullptr;  // [N, F]
  const void* b = nullptr;  // [M, F]
  void* out = nullptr;      // [nnz]
  int64_t N = 0, F = 0, nnz = 0;
  DType dtype = DType::Float;
  int group = 32, block = 256, vec = 1;
  int edges_per_group = 4;  // consecutive-iteration edges handled by one group
};
cudaError_t sddmm_launch(const SddmmLaunch& p, cudaStream_t stream);

struct ArgBackwardLaunch {
  const void* sorted_col = nullptr;   // [nnz] col sorted stably
  bool col64 = true;
  const int64_t* perm = nullptr;      // [nnz] edge positions in that order
  const void* value = nullptr;        // [nnz] or nullptr
  const int64_t* arg = nullptr;       // [N, F]
  const void* grad_out = nullptr;     // [N, F]
  void* grad_x = nullptr;             // [num_cols, F]
  int64_t* edge_row = nullptr;        // [nnz] workspace
  int64_t* colptr = nullptr;          // [num_cols + 1] workspace
  int64_t N = 0, F = 0, nnz = 0, num_cols = 0;
  DType dtype = DType::Float;
  int group = 32, block = 256;
};
cudaError_t spmm_arg_backward_launch(const ArgBackwardLaunch& p, cudaStream_t stream);

struct SpmmInt8Launch {
  const int64_t* rowptr = nullptr;
  const void* col = nullptr;
  bool col64 = true;
  const int8_t* value = nullptr;    // [nnz] or nullptr
  const int8_t* xq = nullptr;       // [M, F]
  const float* row_scale = nullptr; // [N]
  const float* col_scale = nullptr; // [F]
  float* out = nullptr;             // [N, F]
  int64_t N = 0, F = 0, nnz = 0;
  int group = 32, block = 256;
  int vbytes = 1;                   // int8 features per lane: 1, 4 or 16
};
cudaError_t spmm_int8_launch(const SpmmInt8Launch& p, cudaStream_t stream);

}  // namespace cuda
}  // namespace sparsegnn
