// Huge-page output blocks with a bounded reuse cache (see output_alloc.h).
#include "output_alloc.h"

#include <ATen/EmptyTensor.h>
#include <ATen/ops/empty.h>
#include <c10/core/Allocator.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace sparsegnn {
namespace cpu {
namespace {

constexpr size_t kHugePage = size_t(2) << 20;

struct Block {
  void* ptr;
  size_t size;  // a multiple of kHugePage
};

class HugePageAllocator final : public c10::Allocator {
 public:
  // Never destroyed: outputs may be freed during static destruction.
  static HugePageAllocator& get() {
    static auto* instance = new HugePageAllocator();
    return *instance;
  }

  c10::DataPtr allocate(size_t nbytes) override {
    const size_t size = (std::max<size_t>(nbytes, 1) + kHugePage - 1) / kHugePage * kHugePage;
    auto* block = new Block{take(size), size};
    if (block->ptr == nullptr) {
      block->ptr = std::aligned_alloc(kHugePage, size);
      if (block->ptr == nullptr) {
        delete block;
        TORCH_CHECK(false, "sparsegnn: out of memory allocating ", nbytes, " bytes");
      }
#if defined(MADV_HUGEPAGE)
      madvise(block->ptr, size, MADV_HUGEPAGE);  // advice: a no-op where THP is off
#endif
    }
    return {block->ptr, block, &release, c10::Device(c10::DeviceType::CPU)};
  }

  void copy_data(void* dest, const void* src, std::size_t count) const override {
    default_copy_data(dest, src, count);
  }

  size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_bytes_;
  }

  void clear() {
    std::vector<Block> blocks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      blocks.swap(cache_);
      cached_bytes_ = 0;
    }
    for (const Block& b : blocks) std::free(b.ptr);
  }

 private:
  void* take(size_t size) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = cache_.begin(); it != cache_.end(); ++it) {
      if (it->size == size) {
        void* p = it->ptr;
        cached_bytes_ -= size;
        cache_.erase(it);
        return p;
      }
    }
    return nullptr;
  }

  static void release(void* ctx) {
    auto* block = static_cast<Block*>(ctx);
    get().put(*block);
    delete block;
  }

  void put(const Block& b) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cache_.size() < kCachedBlocks && cached_bytes_ + b.size <= kCachedBytes) {
        cache_.push_back(b);
        cached_bytes_ += b.size;
        return;
      }
    }
    std::free(b.ptr);
  }

  std::mutex mutex_;
  std::vector<Block> cache_;
  size_t cached_bytes_ = 0;
};

}  // namespace

at::Tensor empty_output(at::IntArrayRef sizes, const at::TensorOptions& options) {
  const size_t nbytes = static_cast<size_t>(c10::multiply_integers(sizes)) * options.dtype().itemsize();
#if defined(__linux__)
  if (nbytes >= kHugeOutputBytes) {
    return at::detail::empty_generic(sizes, &HugePageAllocator::get(), c10::DispatchKeySet(c10::DispatchKey::CPU),
                                     options.dtype().toScalarType(), c10::nullopt);
  }
#endif
  return at::empty(sizes, options);
}

size_t cached_output_bytes() { return HugePageAllocator::get().cached_bytes(); }

void release_cached_outputs() { HugePageAllocator::get().clear(); }

}  // namespace cpu
}  // namespace sparsegnn
