"""Shared fixtures: the hand-made edge-case graphs every backend is checked on."""

from __future__ import annotations

import contextlib
import os

import pytest
import torch

from sparsegnn import Graph, ops


@contextlib.contextmanager
def env(**variables):
    """Set environment variables (kernel switches read at call time) for the block, then restore."""
    old = {name: os.environ.get(name) for name in variables}
    os.environ.update({name: str(value) for name, value in variables.items()})
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def threads(k: int):
    """Run the block with ``k`` torch threads, then restore the count."""
    old = torch.get_num_threads()
    torch.set_num_threads(k)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def rand(shape, dtype, seed=0):
    """Standard-normal values drawn in float64 from ``seed``, then cast to ``dtype``."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)


def _csr(rowptr, col, num_cols=None, value=None) -> Graph:
    return Graph(torch.tensor(rowptr, dtype=torch.int64), torch.tensor(col, dtype=torch.int64), value, num_cols)


def edge_case_graphs() -> dict[str, Graph]:
    """Small graphs covering the corner cases named in DESIGN.md (unweighted)."""
    gen = torch.Generator().manual_seed(0)
    hub_degree = 100_000
    hub_sources = torch.randint(1, 2001, (hub_degree,), generator=gen)
    hub = Graph.from_edge_index(torch.stack([hub_sources, torch.zeros(hub_degree, dtype=torch.long)]), 2001)
    random_edges = torch.randint(0, 40, (2, 200), generator=gen)
    return {
        "zero_nodes": _csr([0], [], num_cols=0),
        "zero_edges": _csr([0, 0, 0, 0], [], num_cols=3),
        "one_node": _csr([0, 1], [0]),
        "one_node_no_edge": _csr([0, 0], []),
        "empty_rows": _csr([0, 0, 2, 2, 3, 3], [1, 4, 0], num_cols=5),
        "self_loops": Graph.from_edge_index(torch.tensor([[0, 1, 2, 2], [0, 1, 2, 0]]), 4),
        "duplicates": Graph.from_edge_index(torch.tensor([[1, 1, 1, 2, 0], [0, 0, 0, 0, 2]]), 3),
        "rectangular": _csr([0, 2, 3], [0, 6, 3], num_cols=7),
        "hub": hub,
        "random": Graph.from_edge_index(random_edges, 40),
        "random_int32": Graph.from_edge_index(random_edges, 40).to_index_dtype(torch.int32),
    }


def weighted(graph: Graph, seed: int = 1, dtype=torch.float32) -> Graph:
    gen = torch.Generator().manual_seed(seed)
    return graph.with_value(torch.rand(graph.nnz, generator=gen, dtype=torch.float64).to(dtype) + 0.5)


EDGE_CASES = edge_case_graphs()
CPU_BACKENDS = [b for b in ops.available_backends("cpu") if b != "torch"]


@pytest.fixture(params=sorted(EDGE_CASES))
def edge_case(request) -> tuple[str, Graph]:
    return request.param, EDGE_CASES[request.param]
