// Helpers shared by the CPU kernels (csrc/cpu/*.cpp): input checks, the nnz-balanced work plan,
// the deterministic task runner and the prefetch distance (isa.h: the run-time ISA switch).
//
// Determinism: every output row is produced by exactly one task, and the order in which a row's
// edges are folded never depends on the thread count. Rows with more than kPiece entries ("hubs")
// are cut into fixed pieces of kPiece edges (a function of the graph only), each piece reduced on
// its own, and the pieces merged in ascending order by one thread. So results are bitwise
// identical across runs and across torch.set_num_threads values.
#pragma once

// The ATen pieces the kernels use, not <torch/extension.h> (which adds the whole C++ frontend and
// pybind11: 50 s of every file's compile on a 2-core machine, for nothing a kernel calls).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "isa.h"
#include "output_alloc.h"
#include "sparsegnn/cpu_features.h"
#include "sparsegnn/reducer.h"

namespace sparsegnn {
namespace cpu {

// Rows longer than this are split into pieces of exactly this many edges (the last one shorter).
constexpr int64_t kPiece = 2048;

// Software prefetch of gathered rows (the x row of edge e + d while edge e is reduced), run across
// row ends, into L2 (prefetcht1). About kPrefetchLines cache lines (64 KiB) are requested ahead:
// d = that / the row's lines, at most kMaxPrefetchEdges. On the arxiv-size graphs (bench/RESULTS.md,
// "CPU kernels: what was slow") this beat L1 prefetch 16 edges ahead by 1.1-1.3x.
// SPARSEGNN_PREFETCH=<lines> (read per call; 0: off) retunes it for another machine.
constexpr int64_t kPrefetchLines = 1024;
constexpr int64_t kMaxPrefetchEdges = 256;

struct Prefetch {
  int64_t lines = kPrefetchLines;  // cache lines ahead (0: no prefetch)

  static Prefetch from_env() {
    Prefetch p;
    if (const char* v = std::getenv("SPARSEGNN_PREFETCH")) p.lines = std::max<int64_t>(0, std::atoll(v));
    return p;
  }
  // Edges ahead for gathered rows of row_lines cache lines (0: none).
  int64_t edges(int64_t row_lines) const {
    return lines <= 0 ? 0 : std::clamp<int64_t>(lines / std::max<int64_t>(row_lines, 1), 1, kMaxPrefetchEdges);
  }
  // Prefetches the first n cache lines of row r of base ([m, stride]) into L2; an r outside [0, m)
  // (bad input, which the caller's own check reports) is skipped.
  template <typename T>
  static inline __attribute__((always_inline)) void row(const T* base, int64_t r, int64_t m, int64_t stride,
                                                        int64_t n) {
    if (static_cast<uint64_t>(r) >= static_cast<uint64_t>(m)) return;
    const char* c = reinterpret_cast<const char*>(base + r * stride);
#pragma GCC unroll 16
    for (int64_t k = 0; k < n; ++k) __builtin_prefetch(c + 64 * k, 0, 2);  // prefetcht1
  }
};

inline void check_float_2d(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu(), name, " must be a CPU tensor");
  TORCH_CHECK(t.dim() == 2, name, " must be 2-D, got ", t.dim(), "-D");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
  auto st = t.scalar_type();
  TORCH_CHECK(st == at::kFloat || st == at::kDouble || st == at::kHalf || st == at::kBFloat16, name,
              " must be float16, bfloat16, float32 or float64, got ", st);
}

// Checks rowptr (int64 [N+1], starts at 0, non-decreasing, ends at nnz).
inline void check_rowptr(const at::Tensor& rowptr, int64_t nnz) {
  TORCH_CHECK(rowptr.device().is_cpu(), "rowptr must be a CPU tensor");
  TORCH_CHECK(rowptr.scalar_type() == at::kLong, "rowptr must be int64, got ", rowptr.scalar_type());
  TORCH_CHECK(rowptr.dim() == 1 && rowptr.numel() >= 1, "rowptr must be 1-D with N+1 >= 1 entries");
  TORCH_CHECK(rowptr.is_contiguous(), "rowptr must be contiguous");
  const int64_t* rp = rowptr.data_ptr<int64_t>();
  const int64_t n = rowptr.numel() - 1;
  TORCH_CHECK(rp[0] == 0, "rowptr[0] must be 0, got ", rp[0]);
  TORCH_CHECK(rp[n] == nnz, "rowptr[-1] must equal nnz = ", nnz, ", got ", rp[n]);
  bool ok = true;
  for (int64_t i = 0; i < n; ++i) ok &= rp[i] <= rp[i + 1];
  TORCH_CHECK(ok, "rowptr must be non-decreasing");
}

inline void check_col(const at::Tensor& col) {
  TORCH_CHECK(col.device().is_cpu(), "col must be a CPU tensor");
  TORCH_CHECK(col.scalar_type() == at::kInt || col.scalar_type() == at::kLong,
              "col must be int32 or int64, got ", col.scalar_type());
  TORCH_CHECK(col.dim() == 1, "col must be 1-D");
  TORCH_CHECK(col.is_contiguous(), "col must be contiguous");
}

// fn(const idx_t* col) with idx_t the index type of a checked col (int32 or int64).
template <typename Fn>
inline void visit_col(const at::Tensor& col, Fn&& fn) {
  if (col.scalar_type() == at::kInt)
    fn(col.data_ptr<int32_t>());
  else
    fn(col.data_ptr<int64_t>());
}

// A unit of work: either rows [row_begin, row_end) processed whole (piece < 0), or one piece of a
// hub row (row_begin = the row, [e_begin, e_end) its edges, piece = its slot in the scratch).
struct Task {
  int64_t row_begin, row_end;
  int64_t e_begin, e_end;
  int64_t piece;
};

struct Hub {
  int64_t row;
  int64_t first_piece, num_pieces;
};

struct Plan {
  std::vector<Task> tasks;
  std::vector<Hub> hubs;
  int64_t num_pieces = 0;
};

// Splits rows into tasks of roughly equal cost (edges + rows) and hub rows into fixed pieces.
// Task boundaries for ordinary rows may depend on the thread count (a row is still done whole by
// one task); hub pieces never do.
inline Plan make_plan(const int64_t* rp, int64_t n, int64_t num_threads) {
  Plan plan;
  const int64_t nnz = rp[n];
  const int64_t total = nnz + n;
  int64_t target = total / std::max<int64_t>(1, num_threads * 8) + 1;
  target = std::max<int64_t>(target, 256);
  target = std::min<int64_t>(target, 16 * kPiece);
  int64_t start = 0, cost = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t deg = rp[i + 1] - rp[i];
    if (deg > kPiece) {
      if (start < i) plan.tasks.push_back({start, i, 0, 0, -1});
      const int64_t np = (deg + kPiece - 1) / kPiece;
      plan.hubs.push_back({i, plan.num_pieces, np});
      for (int64_t p = 0; p < np; ++p) {
        const int64_t e0 = rp[i] + p * kPiece;
        plan.tasks.push_back({i, i + 1, e0, std::min(e0 + kPiece, rp[i + 1]), plan.num_pieces + p});
      }
      plan.num_pieces += np;
      start = i + 1;
      cost = 0;
      continue;
    }
    cost += deg + 1;
    if (cost >= target) {
      plan.tasks.push_back({start, i + 1, 0, 0, -1});
      start = i + 1;
      cost = 0;
    }
  }
  if (start < n) plan.tasks.push_back({start, n, 0, 0, -1});
  return plan;
}

// Runs fn(t) for t in [0, ntasks) on at::get_num_threads() threads, handing tasks out dynamically
// (an atomic counter schedules; no output is ever written by two tasks).
template <typename Fn>
inline void run_tasks(int64_t ntasks, const Fn& fn) {
  if (ntasks <= 0) return;
  const int64_t nt = std::min<int64_t>(at::get_num_threads(), ntasks);
  if (nt <= 1 || at::in_parallel_region()) {
    for (int64_t t = 0; t < ntasks; ++t) fn(t);
    return;
  }
  std::atomic<int64_t> next{0};
  at::parallel_for(0, nt, 1, [&](int64_t b, int64_t e) {
    for (int64_t w = b; w < e; ++w) {
      for (;;) {
        const int64_t t = next.fetch_add(1, std::memory_order_relaxed);
        if (t >= ntasks) break;
        fn(t);
      }
    }
  });
}

}  // namespace cpu
}  // namespace sparsegnn
