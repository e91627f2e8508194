"""The ``sparsegnn`` command line: argument parsing and errors, a tiny end-to-end sweep with JSON,
CSV, plots and traces, and ``tune`` / ``tune --show``. No timing is asserted."""

from __future__ import annotations

import csv
import importlib.util
import json

import pytest
import torch

from sparsegnn import cli
from sparsegnn.ops import policy, tuned
from sparsegnn.profile.report import CSV_COLUMNS, SCHEMA

TINY = "power_law:300,1500"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = ["--repeat", "1", "--warmup", "1", "--bandwidth", "10", "--threads", "1", "--no-progress"]


def parse(*argv: str):
    return cli.build_parser().parse_args(list(argv))


# ------------------------------------------------------------------------------ parsing
def test_bench_defaults():
    args = parse("bench")
    assert args.kernels == [] and args.graph is None
    assert args.feat == [64] and args.dtype == ["fp32"] and args.reduce == ["sum"]
    assert args.backend == "all" and args.device == "cpu" and args.repeat == 10
    assert args.json is None and args.csv is None and args.plot is None and args.trace is None
    assert args.order == ["own"]


def test_bench_lists_and_kernels():
    args = parse(
        "bench",
        "spmm",
        "sddmm",
        "--feat",
        "16,64,256",
        "--dtype",
        "fp32,bf16",
        "--reduce",
        "sum,max",
        "--graph",
        "rmat:8,4",
        "--graph",
        "planetoid:cora",
        "--threads",
        "1,2",
        "--backend",
        "cpu,numba",
    )
    assert args.kernels == ["spmm", "sddmm"]
    assert (
        args.feat == [16, 64, 256]
        and args.dtype == ["fp32", "bf16"]
        and args.reduce == ["sum", "max"]
    )
    assert args.graph == ["rmat:8,4", "planetoid:cora"] and args.threads == [1, 2]
    assert cli.bench.parse_backends(args.backend) == ["cpu", "numba"]
    assert cli.bench.parse_backends("all") is None
    assert "torch" in cli.bench.parse_backends("all,torch") and "torch" not in cli.bench.parse_backends("all,numba")


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "--feat", "0"],
        ["bench", "--feat", "a,b"],
        ["bench", "--dtype", "fp8"],
        ["bench", "--reduce", "prod"],
        ["bench", "--device", "tpu"],
        ["bench", "--repeat", "0"],
        ["tune", "--nnz", "-3"],
        [],
    ],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(*argv)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_unknown_kernel_peer_and_graph(capsys):
    assert cli.main(["bench", "gemm", "--graph", TINY]) == 2
    assert "unknown kernel" in capsys.readouterr().err
    assert cli.main(["bench", "--graph", TINY, "--peers", "nope"]) == 2
    assert "unknown peer" in capsys.readouterr().err
    assert cli.main(["bench", "--graph", "bogus:1,2"]) == 2
    assert "unknown kind" in capsys.readouterr().err
    assert cli.main(["bench", "--graph", "file:/nonexistent/edges.txt"]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_cuda_without_gpu(capsys):
    assert cli.main(["bench", "--device", "cuda", "--graph", TINY]) == 2
    assert "CUDA" in capsys.readouterr().err


# ------------------------------------------------------------------------- end to end
def test_order_times_the_renumbered_graph_beside_the_loaded_one(tmp_path, capsys):
    orders = "own,rcm,metis" if importlib.util.find_spec("pymetis") else "own,rcm"
    out_json = tmp_path / "bench.json"
    argv = ["bench", "spmm", "--graph", TINY, "--order", orders, "--backend", "cpu", "--peers", "none",
            "--json", str(out_json), *FAST]
    assert cli.main(argv) == 0
    assert f"graph {TINY}@rcm: renumbered" in capsys.readouterr().out
    document = json.loads(out_json.read_text())
    expected = {TINY} | {f"{TINY}@{o}" for o in orders.split(",") if o != "own"}
    assert set(document["graphs"]) == expected
    assert {r["graph"] for r in document["results"]} == expected
    assert len({document["graphs"][g]["nnz"] for g in expected}) == 1  # same graph, renumbered
    assert cli.main(["bench", "spmm", "--graph", TINY, "--order", "rcm", "--backend", "cpu", "--peers", "none",
                     "--json", str(out_json), *FAST]) == 0
    assert set(json.loads(out_json.read_text())["graphs"]) == {f"{TINY}@rcm"}  # own left out
    with pytest.raises(SystemExit):
        parse("bench", "--order", "random")


def test_tiny_sweep_end_to_end(tmp_path, capsys):
    out_json, out_csv = tmp_path / "bench.json", tmp_path / "bench.csv"
    argv = [
        "bench",
        "spmm",
        "--graph",
        TINY,
        "--feat",
        "8,16",
        "--backend",
        "cpu,numba",
        "--json",
        str(out_json),
        "--csv",
        str(out_csv),
        "--plot",
        str(tmp_path / "plots"),
        "--trace",
        str(tmp_path / "traces"),
        *FAST,
    ]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "== spmm" in text and "torch.sparse" in text and "absent:" in text

    document = json.loads(out_json.read_text())
    assert document["schema"] == SCHEMA
    for key in ("environment", "roofs", "graphs", "results", "interrupted"):
        assert key in document
    assert {"cpu", "threads", "versions", "date"} <= set(document["environment"])
    assert document["roofs"]["cpu/1"]["bandwidth_gbps"] == 10
    assert document["graphs"][TINY]["nnz"] > 0
    required = {
        "kernel",
        "impl",
        "kind",
        "graph",
        "feat",
        "dtype",
        "reduce",
        "device",
        "threads",
        "status",
        "median_ms",
        "p25_ms",
        "p75_ms",
        "times_ms",
        "gflops",
        "gbps",
        "roofline",
        "speedup",
        "baseline",
    }
    results = document["results"]
    assert results and all(required <= set(r) for r in results)
    ok = [r for r in results if r["status"] == "ok"]
    assert {r["impl"] for r in ok} >= {"cpu", "numba", "torch.sparse", "scipy", "pyg-scatter"}
    assert all(r["median_ms"] > 0 and r["times_ms"] and r["gflops"] > 0 for r in ok)
    assert all(
        r["status"].startswith(("absent: ", "skipped: ", "failed: "))
        for r in results
        if r["status"] != "ok"
    )

    with open(out_csv, newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == CSV_COLUMNS
        rows = list(reader)
    assert len(rows) == len(results)
    # upsert: the same run again replaces its rows instead of appending
    assert cli.main(argv) == 0
    with open(out_csv, newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(results)

    pngs = sorted((tmp_path / "plots").glob("*.png"))
    assert {p.name for p in pngs} >= {"roofline_cpu.png"} and any(
        p.name.startswith("speedup_spmm") for p in pngs
    )
    assert all(p.read_bytes()[:8] == PNG_MAGIC for p in pngs)
    # `sparsegnn plot` redraws the same plots from the JSON
    assert cli.main(["plot", str(out_json), "--out", str(tmp_path / "replot")]) == 0
    replot = sorted(p.name for p in (tmp_path / "replot").glob("*.png"))
    assert replot == sorted(p.name for p in pngs)
    assert cli.main(["plot", str(tmp_path / "missing.json")]) == 2
    traces = list((tmp_path / "traces").glob("*.json"))
    assert len(traces) == 2  # one per case (F = 8, 16)
    assert "traceEvents" in json.loads(traces[0].read_text())


def test_other_kernels_run(tmp_path, capsys):
    argv = [
        "bench",
        "segment",
        "sddmm",
        "int8",
        "layer",
        "--graph",
        "rmat:7,4",
        "--feat",
        "8",
        "--reduce",
        "sum,max",
        "--backend",
        "cpu",
        "--json",
        str(tmp_path / "b.json"),
        *FAST,
    ]
    assert cli.main(argv) == 0
    results = json.loads((tmp_path / "b.json").read_text())["results"]
    kernels = {r["kernel"] for r in results if r["status"] == "ok"}
    assert kernels == {"segment", "sddmm", "int8", "layer"}
    assert {r["reduce"] for r in results if r["kernel"] == "segment"} == {"sum", "max"}
    assert {r["reduce"] for r in results if r["kernel"] == "sddmm"} == {"sum"}


def test_file_graph(tmp_path, capsys):
    path = tmp_path / "edges.csv"
    path.write_text("src,dst\n0,1\n1,2\n2,0\n3,1\n")
    assert (
        cli.main(
            [
                "bench",
                "--graph",
                f"file:{path}",
                "--feat",
                "4",
                "--backend",
                "cpu",
                "--peers",
                "none",
                *FAST,
            ]
        )
        == 0
    )
    assert "4 nodes, 4 nonzeros" in capsys.readouterr().out


def test_dense_skipped_with_reason(monkeypatch, tmp_path, capsys):
    from sparsegnn.ops.backends import dense

    monkeypatch.setattr(dense, "MAX_CELLS", 100)
    assert (
        cli.main(
            [
                "bench",
                "--graph",
                TINY,
                "--feat",
                "4",
                "--backend",
                "dense",
                "--peers",
                "none",
                "--json",
                str(tmp_path / "d.json"),
                *FAST,
            ]
        )
        == 0
    )
    (record,) = json.loads((tmp_path / "d.json").read_text())["results"]
    assert (
        record["impl"] == "dense"
        and record["status"].startswith("skipped:")
        and "cells" in record["status"]
    )


# ------------------------------------------------------------------------------- tune
def test_tune_writes_policy_that_auto_honours(tmp_path, monkeypatch, capsys):
    path = tmp_path / "policy.json"
    monkeypatch.setenv("SPARSEGNN_POLICY", str(path))
    assert cli.main(["tune", "--quick", "--quiet", "--threads", "1"]) == 0
    doc = tuned.validate(json.loads(path.read_text()))
    rules = doc["devices"]["cpu"]["rules"]
    assert rules and {r["op"] for r in rules} >= {"spmm", "sddmm", "segment_reduce"}
    assert "min_density" in doc["devices"]["cpu"]["dense"]
    # choose() follows the file: every spmm-sum rule's backend is what auto picks in its bucket
    for rule in (r for r in rules if r["op"] == "spmm" and "sum" in r["reduce"]):
        feat = rule["measured_at"]["feat"]
        degree = rule["measured_at"]["avg_degree"]
        rows = 100_000
        got = policy.choose(
            "spmm",
            torch.device("cpu"),
            torch.float32,
            rows,
            rows,
            int(rows * degree),
            "sum",
            feat=feat,
        )
        assert got == rule["backend"]
    assert cli.main(["tune", "--show"]) == 0
    shown = capsys.readouterr().out
    assert str(path) in shown and "[cpu]" in shown


def test_tune_show_without_file(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPARSEGNN_POLICY", str(tmp_path / "missing.json"))
    assert cli.main(["tune", "--show"]) == 0
    assert "built-in defaults" in capsys.readouterr().out
