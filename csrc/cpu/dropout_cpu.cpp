// CPU dropout: out[i] = x[i] * (keep(seed, i) ? 1 / (1 - p) : 0) in one pass over x, where
// keep(seed, i) = hash(seed, i) >= threshold(p) is a counter-based draw: it depends only on the seed
// and the element's position, so the backward pass regenerates the mask from the seed (nothing is
// stored), and the result does not depend on the thread count.
//
// hash: two rounds of MurmurHash3's 32-bit finaliser (fmix32) over the element index, keyed by the
// seed (the index's high word enters through the key, once per 2^32 elements). threshold =
// round(p * 2^32), so an element is kept with probability 1 - threshold / 2^32 (|error| <= 2^-33).
// The loop over 32-bit lanes vectorises; target_clones builds it for AVX-512, AVX2 and the baseline
// and the loader picks one at run time (every version gives the same bits).
#include <ATen/OpMathType.h>

#include <cmath>
#include <cstring>
#include <type_traits>

#include "common.h"

namespace sparsegnn {
namespace cpu {
namespace {

inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

// v where keep, else +0: a mask on v's bits, which GCC vectorises where it leaves a ?: a branch.
template <typename acc_t>
inline acc_t kept_or_zero(acc_t v, bool keep) {
  using bits_t = std::conditional_t<sizeof(acc_t) == 4, uint32_t, uint64_t>;
  static_assert(sizeof(acc_t) == sizeof(bits_t));
  bits_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  bits &= bits_t(0) - static_cast<bits_t>(keep);
  std::memcpy(&v, &bits, sizeof bits);
  return v;
}

#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define SPARSEGNN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SPARSEGNN_CLONES
#endif

// out[i] = x[i] * scale or 0 for i in [begin, end) (begin, end within one 2^32 block).
// Written so that the AVX2 clone vectorises too: x is read for every element and the choice is a
// mask on its bits (kept_or_zero), the element's low word counts in 32 bits (it does not wrap within a block), and
// h >= threshold is a signed compare of both offset by 2^31 (AVX2 has no unsigned one). Before,
// GCC left the AVX2 clone scalar, with a branch on every draw: ~10 ns an element on an AVX2
// EPYC, half of the branches mispredicted (only the AVX-512 clone, with masked loads, was
// vectorised).
template <typename scalar_t, typename acc_t>
SPARSEGNN_CLONES void dropout_block(const scalar_t* x, scalar_t* out, int64_t begin, int64_t end, uint32_t key0,
                                    uint32_t key1, uint32_t threshold, acc_t scale) {
  const uint32_t k = key0 ^ fmix32(static_cast<uint32_t>(begin >> 32) + key1);
  const uint32_t low = static_cast<uint32_t>(begin);
  const int32_t bar = static_cast<int32_t>(threshold ^ 0x80000000u);
  const uint32_t len = static_cast<uint32_t>(end - begin);
  const scalar_t* xb = x + begin;
  scalar_t* ob = out + begin;
  for (uint32_t j = 0; j < len; ++j) {
    const uint32_t h = fmix32(fmix32((low + j) ^ k) + key1);
    const bool keep = static_cast<int32_t>(h ^ 0x80000000u) >= bar;
    ob[j] = static_cast<scalar_t>(kept_or_zero(static_cast<acc_t>(xb[j]) * scale, keep));
  }
}

at::Tensor dropout_cpu(const at::Tensor& x, double p, int64_t seed) {
  TORCH_CHECK(x.is_floating_point(), "x must be a floating tensor, got ", x.scalar_type());
  TORCH_CHECK(p >= 0.0 && p < 1.0, "p must be in [0, 1), got ", p);
  const at::Tensor xc = x.contiguous();
  auto out = at::empty_like(xc);
  const int64_t n = xc.numel();
  if (n == 0) return out;
  const uint64_t s = static_cast<uint64_t>(seed);
  const uint32_t key0 = static_cast<uint32_t>(s), key1 = static_cast<uint32_t>(s >> 32) ^ 0x9e3779b9u;
  const double t = std::ldexp(p, 32);
  const uint32_t threshold = t >= 4294967295.0 ? 0xffffffffu : static_cast<uint32_t>(std::llround(t));
  constexpr int64_t kChunk = 1 << 16;  // divides 2^32: a chunk never straddles a block
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, xc.scalar_type(), "sparsegnn_dropout_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* xp = xc.data_ptr<scalar_t>();
    scalar_t* op = out.data_ptr<scalar_t>();
    const acc_t scale = static_cast<acc_t>(1.0 / (1.0 - p));
    run_tasks(nchunks, [&](int64_t c) {
      dropout_block<scalar_t, acc_t>(xp, op, c * kChunk, std::min(n, (c + 1) * kChunk), key0, key1, threshold, scale);
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(sparsegnn_C, CPU, m) { m.impl("dropout", &dropout_cpu); }

}  // namespace cpu
}  // namespace sparsegnn
