"""bench/spmm_cpu.py's own logic on a tiny graph: the gather-roof inputs are what they claim (all-hit
columns within a few rows, all-miss columns a permutation) and plain SpMMs over the graph's rowptr,
and a section of RESULTS.md is replaced in place without touching the others. No timing is
asserted."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_spmm_cpu", ROOT / "bench" / "spmm_cpu.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def tiny_csr(bench, n=300, e=2000):
    g = torch.Generator().manual_seed(0)
    ei = torch.randint(0, n, (2, e), generator=g)
    return bench.CSR(ei, n)


def test_gather_roofs_reports_every_figure(bench):
    g = tiny_csr(bench)
    t = bench.gather_roofs(g, 16, repeats=1)
    assert set(t) == {"graph", "hit", "miss", "hit_share", "miss_gbps"}
    assert all(v > 0 for k, v in t.items() if k != "hit_share")


def test_roof_inputs_hit_stays_in_few_rows_and_miss_never_repeats(bench, monkeypatch):
    monkeypatch.setattr(bench, "HIT_ROWS", 7)
    g = tiny_csr(bench)
    inputs = bench.roof_inputs(g, 16)
    assert torch.equal(inputs["graph"][0], g.col)
    assert int(inputs["hit"][0].max()) < 7
    miss_col, miss_x = inputs["miss"]
    assert miss_x.shape == (g.nnz, 16)
    assert torch.equal(torch.sort(miss_col).values, torch.arange(g.nnz, dtype=torch.int32))
    for col, x in inputs.values():  # each variant is a plain SpMM over g's rowptr
        out = bench.OPS.spmm(g.rowptr, col, None, x, "sum")[0]
        torch.testing.assert_close(out, torch.zeros(g.n, 16).index_add_(0, g.row, x[col.long()]))


def test_write_section_replaces_only_its_own(bench, tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## CPU kernels\n\nold table\n\n## CPU kernels: gather roofs\n\nold roofs\n\n"
                    "## Layers\n\nkept\n")
    bench._write_section("CPU kernels: gather roofs", ["## CPU kernels: gather roofs", "", "new roofs", ""], path)
    text = path.read_text()
    assert "new roofs" in text and "old roofs" not in text
    assert "old table" in text and "## Layers\n\nkept" in text
    bench._write_section("Dense policy", ["## Dense policy", "", "appended"], path)
    assert path.read_text().rstrip().endswith("## Dense policy\n\nappended")


def test_run_order_times_both_orders_on_every_graph(bench):
    from types import SimpleNamespace

    rows = bench.run_order(SimpleNamespace(quick=True, threads=[1], repeats=1))
    assert [r["graph"] for r in rows] == ["power-law", "rmat", "sbm"]
    assert all(r["own"] > 0 and r["rcm"] > 0 and r["rcm_s"] >= 0 for r in rows)
    assert all("metis" in r for r in rows) or importlib.util.find_spec("pymetis") is None
    assert all(bench.fmt_order_row(r).count("|") == bench.ORDER_HEADER.count("|") for r in rows)


def test_run_argbwd_times_every_schedule(bench):
    from types import SimpleNamespace

    rows = bench.run_argbwd(SimpleNamespace(quick=True, threads=[1], repeats=1))
    assert {r["graph"] for r in rows} == {"power-law", "rmat"} and len(rows) == 6
    assert all(r[k] > 0 for r in rows for k in ("torch_fb", "ours_fb", "ours_bwd", "old_bwd"))
    assert all(bench.fmt_arg_row(r).count("|") == bench.ARG_HEADER.count("|") for r in rows)
