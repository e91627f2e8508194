"""The profiler's Python API: benchmark statistics, graph loading, cost models, peers (absent ones
with a reason), the sweep (Ctrl-C keeps what finished), reports, the tuned policy loader and
``profile_ops``. No timing is asserted."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from sparsegnn import Graph, ops
from sparsegnn.ops import policy, tuned
from sparsegnn.profile import PEERS, Stats, benchmark, plan, profile_ops, sweep
from sparsegnn.profile.cases import Inputs
from sparsegnn.profile.costs import spmm_cost
from sparsegnn.profile.graphs import graph_label, load_graph
from sparsegnn.profile.machine import measure_bandwidth
from sparsegnn.profile.peers import PeerAbsent
from sparsegnn.profile.report import format_table, write_csv
from sparsegnn.profile.runner import Record, run_case

TINY = "power_law:200,1000"


@pytest.fixture(scope="module")
def tiny() -> Graph:
    return load_graph(TINY)


@pytest.fixture(autouse=True)
def no_policy_file(monkeypatch):
    """Every test sees the built-in policy unless it sets its own file."""
    monkeypatch.setenv("SPARSEGNN_POLICY", "off")


# --------------------------------------------------------------------------- benchmark
def test_benchmark_statistics():
    calls = []
    stats = benchmark(lambda v: calls.append(v), 7, warmup=2, repeat=5)
    assert (
        isinstance(stats, Stats) and len(stats.times) == 5 and len(calls) == 7 and set(calls) == {7}
    )
    assert stats.p25 <= stats.median <= stats.p75 and stats.iqr >= 0
    single = benchmark(lambda: None, repeat=1, warmup=0)
    assert single.median == single.p25 == single.p75
    with pytest.raises(ValueError, match="repeat"):
        benchmark(lambda: None, repeat=0)


def test_benchmark_max_time_caps_repeats():
    import time

    stats = benchmark(lambda: time.sleep(0.01), warmup=0, repeat=1000, max_time=0.02)
    assert 3 <= len(stats.times) < 1000


def test_bandwidth_measurement_runs():
    gbps, method = measure_bandwidth("cpu", megabytes=8, repeat=1)
    assert gbps > 0 and "read" in method


# ------------------------------------------------------------------------------ graphs
def test_graph_specs(tiny):
    assert tiny.num_nodes == 200
    assert load_graph("synthetic:power_law,200,1000").nnz == tiny.nnz
    assert load_graph("synthetic:rmat,6,4").num_nodes == 64
    assert load_graph("rmat:6,4").nnz == load_graph("synthetic:rmat,6,4").nnz
    with pytest.raises(ValueError, match="expected KIND:ARGS"):
        load_graph("power_law")
    with pytest.raises(ValueError, match="unknown kind"):
        load_graph("erdos:1,2")
    assert graph_label("file:/a/b/edges.txt.gz") == "file-edges.txt.gz"


def test_planetoid_spec():
    from sparsegnn.data import find_data_root

    root = find_data_root()
    if root is None or not any(root.rglob("ind.cora.graph")):
        pytest.skip(
            "the Planetoid Cora raw files are not under $SPARSEGNN_DATA or ../shared/datasets"
        )
    assert load_graph("planetoid:cora").num_nodes == 2708


def test_edge_list_files(tmp_path):
    text = "# comment\n0 1\n1 2\n2 0\n3 1 \n"
    (tmp_path / "g.txt").write_text(text)
    with gzip.open(tmp_path / "g.txt.gz", "wt") as handle:
        handle.write(text)
    (tmp_path / "w.csv").write_text("source,target,weight\n0,1,0.5\n1,0,2.0\n")
    for name in ("g.txt", "g.txt.gz"):
        graph = load_graph(f"file:{tmp_path / name}")
        assert (graph.num_nodes, graph.nnz) == (4, 4) and graph.value is None
        # PyG convention: the edge 0 -> 1 is stored in row 1
        assert graph.col[graph.rowptr[1] : graph.rowptr[2]].tolist() == [0, 3]
    weighted = load_graph(f"file:{tmp_path / 'w.csv'}")
    assert weighted.value is not None and sorted(weighted.value.tolist()) == [0.5, 2.0]
    (tmp_path / "bad.txt").write_text("a b\nc d\n")
    with pytest.raises(ValueError):
        load_graph(f"file:{tmp_path / 'bad.txt'}")


def test_npz_files(tmp_path):
    np.savez(tmp_path / "ei.npz", edge_index=np.array([[0, 1, 2], [1, 2, 0]]), num_nodes=5)
    graph = load_graph(f"file:{tmp_path / 'ei.npz'}")
    assert (graph.num_nodes, graph.nnz) == (5, 3)
    sp.save_npz(tmp_path / "m.npz", sp.random(6, 6, density=0.3, format="csr", random_state=0))
    matrix = load_graph(f"file:{tmp_path / 'm.npz'}")
    assert matrix.num_nodes == 6 and matrix.nnz == sp.load_npz(tmp_path / "m.npz").nnz
    np.savez(tmp_path / "other.npz", foo=np.zeros(3))
    with pytest.raises(ValueError, match="edge_index"):
        load_graph(f"file:{tmp_path / 'other.npz'}")


# ------------------------------------------------------------------------------- costs
def test_spmm_byte_model(tiny):
    n, nnz, f = tiny.num_nodes, tiny.nnz, 16
    cost = spmm_cost(tiny, f, torch.float32)
    index = tiny.col.element_size()
    assert cost.flops == 2 * nnz * f
    assert cost.bytes == 8 * (n + 1) + index * nnz + 4 * nnz * f + 4 * n * f
    assert spmm_cost(tiny, f, torch.float32, "max").bytes == cost.bytes + 8 * n * f
    assert spmm_cost(tiny, f, torch.bfloat16).bytes < cost.bytes
    assert cost.intensity == pytest.approx(cost.flops / cost.bytes)


# ------------------------------------------------------------------------------- peers
def test_absent_peers_have_reasons(tiny):
    inputs = Inputs(tiny, 8, torch.float32, "max")
    with pytest.raises(PeerAbsent, match="scipy has no max"):
        PEERS["spmm"]["scipy"](inputs)
    with pytest.raises(PeerAbsent, match="CUDA"):
        PEERS["spmm"]["cusparse"](inputs)
    for name in ("torch_scatter", "torch_sparse"):
        try:
            __import__(name)
        except ImportError:
            with pytest.raises(PeerAbsent, match=f"{name} is not installed"):
                PEERS["spmm"][name](inputs)


def test_peers_agree_with_sparsegnn(tiny):
    inputs = Inputs(tiny, 8, torch.float32, "sum")
    expected = ops.spmm(tiny, inputs.x, "sum", backend="torch")
    for name in ("torch.sparse", "torch.sparse-coo", "scipy", "pyg-scatter"):
        got = PEERS["spmm"][name](inputs)()
        got = torch.as_tensor(got) if not isinstance(got, torch.Tensor) else got
        torch.testing.assert_close(
            got.to_dense() if got.is_sparse else got, expected, rtol=1e-4, atol=1e-4
        )


def test_run_case_lists_every_peer(tiny):
    from sparsegnn.profile.cases import Case

    records, trace = run_case(
        Case("spmm", TINY, 8, "fp32", "sum", "cpu", 1), tiny, backends=["cpu"], repeat=1, warmup=0
    )
    assert trace is None
    peers = {r.impl: r for r in records if r.kind == "peer"}
    assert set(peers) == set(PEERS["spmm"])
    for r in peers.values():
        assert r.ok or (r.status.startswith("absent: ") and len(r.status) > len("absent: "))
    baseline = peers["torch.sparse"]
    assert baseline.ok and baseline.speedup == pytest.approx(1.0)
    assert all(r.gflops > 0 and r.gbps > 0 for r in records if r.ok)


# ------------------------------------------------------------------------------- sweep
def test_plan_collapses_what_a_kernel_does_not_have():
    cases = plan(
        ["spmm", "sddmm", "int8"], [TINY], [8, 16], ["fp32", "bf16"], ["sum", "max"], "cpu", [1]
    )
    by_kernel = {k: [c for c in cases if c.kernel == k] for k in ("spmm", "sddmm", "int8")}
    assert len(by_kernel["spmm"]) == 2 * 2 * 2
    assert len(by_kernel["sddmm"]) == 2 * 2 and {c.reduce for c in by_kernel["sddmm"]} == {"sum"}
    assert len(by_kernel["int8"]) == 2 and {c.dtype for c in by_kernel["int8"]} == {"int8"}


def test_ctrl_c_keeps_what_finished(tiny, monkeypatch):
    def interrupt(inputs):
        raise KeyboardInterrupt

    monkeypatch.setitem(PEERS["spmm"], "zz-interrupt", interrupt)
    cases = plan(["spmm"], [TINY], [4, 8], ["fp32"], ["sum"], "cpu", [1])
    result = sweep(
        cases,
        {TINY: tiny},
        backends=["cpu"],
        peers=["torch.sparse", "zz-interrupt"],
        repeat=1,
        warmup=0,
        progress=False,
    )
    assert result.interrupted
    assert [r.impl for r in result.records] == [
        "cpu",
        "torch.sparse",
    ]  # the first case, up to the interrupt
    assert all(r.feat == 4 and r.ok for r in result.records)
    assert "== spmm" in format_table(result.records)


def test_csv_upsert(tmp_path):
    def record(impl, ms):
        return Record(
            "spmm", impl, "peer", TINY, 200, 1000, 8, "fp32", "sum", "cpu", 1, median_ms=ms
        )

    path = tmp_path / "r.csv"
    assert write_csv(path, [record("a", 1.0), record("b", 2.0)], "m1") == 2
    assert write_csv(path, [record("a", 3.0)], "m1") == 2
    assert write_csv(path, [record("a", 3.0)], "m2") == 3
    text = path.read_text()
    assert "3" in text and ",1.0," not in text.replace("1.0,", "")  # the old row of a on m1 is gone


# ------------------------------------------------------------------------ tuned policy
def _write_policy(path, rules, dense=None):
    doc = {
        "schema": tuned.SCHEMA,
        "devices": {"cpu": {"rules": rules, **({"dense": dense} if dense else {})}},
    }
    path.write_text(json.dumps(doc))


def test_policy_file_overrides_and_falls_back(tmp_path, monkeypatch):
    cpu = torch.device("cpu")
    default = policy.choose("spmm", cpu, torch.float32, 100_000, 100_000, 10**6, "sum")
    path = tmp_path / "policy.json"
    monkeypatch.setenv("SPARSEGNN_POLICY", str(path))
    assert (
        policy.choose("spmm", cpu, torch.float32, 100_000, 100_000, 10**6, "sum") == default
    )  # no file yet
    _write_policy(
        path,
        [
            {
                "op": "spmm",
                "reduce": ["sum", "mean"],
                "feat": [None, 32],
                "avg_degree": [None, None],
                "backend": "torch",
            },
            {
                "op": "spmm",
                "reduce": ["sum", "mean"],
                "feat": [32, None],
                "avg_degree": [None, None],
                "backend": "numba",
            },
            {"op": "spmm", "reduce": ["max"], "backend": "no-such-backend"},
        ],
        dense={"min_density": None, "max_cells": 1 << 22},
    )
    assert (
        policy.choose("spmm", cpu, torch.float32, 100_000, 100_000, 10**6, "sum", feat=16)
        == "torch"
    )
    assert (
        policy.choose("spmm", cpu, torch.float32, 100_000, 100_000, 10**6, "sum", feat=64)
        == "numba"
    )
    assert (
        policy.choose("spmm", cpu, torch.float32, 100_000, 100_000, 10**6, "sum") == "numba"
    )  # DEFAULT_FEAT 64
    # a tuned backend that does not exist falls back to the built-in preference
    assert policy.choose("spmm", cpu, torch.float32, 100_000, 100_000, 10**6, "max") == default
    # min_density null: dense never wins, even on a small full graph the built-in rule gives to dense
    assert policy.choose("spmm", cpu, torch.float32, 100, 100, 5000, "sum", feat=64) == "numba"
    monkeypatch.setenv("SPARSEGNN_POLICY", "off")
    # the built-in rule: the native kernels beat dense-masked wherever both can run
    assert policy.choose("spmm", cpu, torch.float32, 100, 100, 5000, "sum") == default


def test_invalid_policy_file_is_ignored_with_a_warning(tmp_path, monkeypatch):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    monkeypatch.setenv("SPARSEGNN_POLICY", str(path))
    with pytest.warns(UserWarning, match="ignoring the policy file"):
        assert tuned.load() is None
    cpu = torch.device("cpu")
    assert policy.choose("spmm", cpu, torch.float32, 100, 100, 5000, "sum") == policy.choose(
        "spmm", cpu, torch.float32, 100_000, 100_000, 10**6, "sum"
    )
    with pytest.raises(ValueError, match="schema"):
        tuned.validate({"schema": "other", "devices": {}})


def test_tune_buckets():
    from sparsegnn.profile.tune import buckets

    assert buckets([16, 64, 256]) == [[None, 32.0], [32.0, 128.0], [128.0, None]]
    assert buckets([5]) == [[None, None]]
    assert math.isinf(
        tuned.dense_limits(
            "cpu",
            (1, 0.5),
            {
                "schema": tuned.SCHEMA,
                "devices": {"cpu": {"dense": {"min_density": None, "max_cells": 9}}},
            },
        )[1]
    )


# ---------------------------------------------------------------------------- profile_ops
def test_profile_ops_records_and_summarises(tiny, capsys):
    x = torch.randn(tiny.num_cols, 8, requires_grad=True)
    with profile_ops() as prof:
        y = ops.spmm(tiny, x, "sum", backend="cpu")
        (y * y).sum().backward()
        ops.spmm(tiny, x.detach(), "max")
        ops.sddmm(tiny, torch.randn(tiny.num_nodes, 8), x.detach(), backend="torch")
        ops.segment_reduce(torch.randn(10, 3), torch.tensor([0, 4, 10]), "mean")
    printed = capsys.readouterr().out
    ops_seen = [(r.op, r.backend, r.phase) for r in prof.records]
    assert ("spmm", "cpu", "forward") in ops_seen and ("spmm", "cpu", "backward") in ops_seen
    expected_max = policy.choose(
        "spmm", torch.device("cpu"), torch.float32, tiny.num_nodes, tiny.num_cols, tiny.nnz, "max"
    )
    assert ("spmm", expected_max, "forward") in ops_seen
    assert ("sddmm", "torch", "forward") in ops_seen and ("segment_reduce", "forward") in [
        (o, p) for o, _, p in ops_seen
    ]
    assert all(r.ms >= 0 and r.shapes for r in prof.records)
    assert (
        printed.startswith("sparsegnn ops: 5 calls") and "spmm" in printed and "backward" in printed
    )
    totals = prof.totals()
    assert sum(t["calls"] for t in totals) == 5


def test_profile_ops_quiet_and_ignores_other_ops(capsys):
    with profile_ops(summary=False) as prof:
        torch.randn(4, 4) @ torch.randn(4, 4)
    assert prof.records == [] and capsys.readouterr().out == ""
