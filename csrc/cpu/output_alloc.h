// Allocation of the CPU kernels' large outputs.
//
// glibc maps every allocation of 32 MiB or more afresh, so a large output's first touch takes a
// page fault (and a page clear) per 4 KiB: 20-30 ms of a 100 ms SpMM at F = 128 on an
// ogbn-arxiv-sized graph. Outputs of at least kHugeOutputBytes are therefore allocated 2 MiB-aligned
// and advised MADV_HUGEPAGE (what torch does under THP_MEM_ALLOC_ENABLE=1: 1/512 as many faults,
// fewer TLB misses for whoever gathers from them next), and a freed block is kept for the next
// output of the same rounded size (a training loop asks for the same shapes every step), up to
// kCachedBlocks blocks and kCachedBytes bytes. Smaller outputs come from torch's allocator.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>

namespace sparsegnn {
namespace cpu {

constexpr size_t kHugeOutputBytes = size_t(32) << 20;
constexpr size_t kCachedBlocks = 8;
constexpr size_t kCachedBytes = size_t(1) << 30;

// at::empty(sizes, options) for a CPU output: huge-page backed and cached from kHugeOutputBytes up.
at::Tensor empty_output(at::IntArrayRef sizes, const at::TensorOptions& options);

// Bytes held by freed output blocks kept for reuse.
size_t cached_output_bytes();

// Frees every cached output block.
void release_cached_outputs();

}  // namespace cpu
}  // namespace sparsegnn
