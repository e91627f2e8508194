"""``sparsegnn.graph.hugepages``: collapsing a tensor onto huge pages keeps its values, skips
what it cannot or need not move, and reports what it moved."""

from __future__ import annotations

import torch

from sparsegnn.graph.hugepages import MIN_BYTES, back_with_huge_pages


def huge_page_bytes() -> int:
    """This process's resident memory on transparent huge pages (``AnonHugePages``), in bytes."""
    with open("/proc/self/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith("AnonHugePages:"):
                return int(line.split()[1]) * 1024
    return 0


def test_huge_pages_keep_the_values():
    big = torch.randint(0, 2**31 - 1, ((MIN_BYTES + (4 << 20)) // 4,), dtype=torch.int32)
    want = big.clone()
    done = back_with_huge_pages(big)
    assert torch.equal(big, want)
    # only whole 2 MiB pages inside the tensor move (0 where the kernel cannot: nothing to check)
    assert done % (2 << 20) == 0 and done <= big.numel() * big.element_size()
    if done:
        assert huge_page_bytes() >= done
    assert back_with_huge_pages(big) in (0, done)  # twice: the same pages, already huge


def test_huge_pages_skip_small_strided_and_missing_tensors():
    big = torch.zeros((MIN_BYTES + (4 << 20)) // 8, dtype=torch.float64)
    assert back_with_huge_pages(torch.arange(1000), None) == 0
    assert back_with_huge_pages(big[::2]) == 0  # not contiguous
    assert back_with_huge_pages(big, min_bytes=big.numel() * 8 + 1) == 0
