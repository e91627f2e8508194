// One reducer for every kernel body, CPU and CUDA alike (host/device functions).
//
// A kernel is written once as a template over `Reduce R`; Reducer<R, acc_t> supplies the identity,
// the update (which also tracks the arg position for max/min) and the finalisation (mean divides
// by the row's entry count, empty rows give 0 and arg = nnz).
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define SPARSEGNN_HD __host__ __device__ __forceinline__
#else
#define SPARSEGNN_HD inline
#endif

namespace sparsegnn {

enum class Reduce : int { Sum = 0, Mean = 1, Max = 2, Min = 3 };

inline Reduce parse_reduce(const std::string& name) {
  if (name == "sum" || name == "add") return Reduce::Sum;
  if (name == "mean") return Reduce::Mean;
  if (name == "max" || name == "amax") return Reduce::Max;
  if (name == "min" || name == "amin") return Reduce::Min;
  throw std::invalid_argument("reduce must be one of 'sum', 'mean', 'max', 'min', got '" + name + "'");
}

template <Reduce R>
constexpr bool has_arg() {
  return R == Reduce::Max || R == Reduce::Min;
}

template <Reduce R, typename acc_t>
struct Reducer {
  SPARSEGNN_HD static acc_t init() {
    if constexpr (R == Reduce::Max) return -std::numeric_limits<acc_t>::infinity();
    if constexpr (R == Reduce::Min) return std::numeric_limits<acc_t>::infinity();
    return acc_t(0);
  }

  // Folds `val` (from edge position `e`) into `acc`. Max/min keep the first position reaching the
  // extreme (strict comparison), so the arg is deterministic; NaN never replaces a value.
  SPARSEGNN_HD static void update(acc_t& acc, acc_t val, int64_t& arg, int64_t e) {
    if constexpr (R == Reduce::Max) {
      if (val > acc) { acc = val; arg = e; }
    } else if constexpr (R == Reduce::Min) {
      if (val < acc) { acc = val; arg = e; }
    } else {
      acc += val;
    }
  }

  // Combines two partial results of one row; `other` comes from later edge positions, so ties keep
  // `acc`'s arg (the first position).
  SPARSEGNN_HD static void merge(acc_t& acc, int64_t& arg, acc_t other, int64_t other_arg) {
    if constexpr (R == Reduce::Max) {
      if (other > acc || (other == acc && other_arg < arg)) { acc = other; arg = other_arg; }
    } else if constexpr (R == Reduce::Min) {
      if (other < acc || (other == acc && other_arg < arg)) { acc = other; arg = other_arg; }
    } else {
      acc += other;
    }
  }

  // The row's output from its accumulator; `count` is the row's entry count, `nnz` the sentinel.
  // An empty row gives 0; a max/min row whose every value was NaN also gives 0 with arg = nnz.
  SPARSEGNN_HD static acc_t finalize(acc_t acc, int64_t count, int64_t& arg, int64_t nnz) {
    if constexpr (R == Reduce::Mean) return count > 0 ? acc / acc_t(count) : acc_t(0);
    if constexpr (has_arg<R>()) {
      if (count == 0 || arg < 0) { arg = nnz; return acc_t(0); }
    }
    return acc;
  }

  // finalize without an arg: a max/min accumulator still at init() was never updated (an update
  // needs a strict win over it), which is exactly when finalize sees arg < 0.
  SPARSEGNN_HD static acc_t finalize_value(acc_t acc, int64_t count) {
    if constexpr (R == Reduce::Mean) return count > 0 ? acc / acc_t(count) : acc_t(0);
    if constexpr (has_arg<R>()) {
      if (count == 0 || acc == init()) return acc_t(0);
    }
    return acc;
  }
};

}  // namespace sparsegnn
