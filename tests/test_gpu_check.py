"""bench/gpu_check.py (`make gpu-check`) without a GPU: the whole dry run end to end, a phase cut at
its budget while the next one still runs, and the JUnit and target summaries of the report."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def gc():
    return _load("bench_gpu_check", ROOT / "bench" / "gpu_check.py")


def test_dry_run_writes_every_output(gc, tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--dry-run", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == sorted(gc.OUTPUTS) == ["gpu_check.log", "gpu_check.md", "layers.json", "phases.json",
                                           "profile.json", "spmm_gpu.json", "tests.xml"]
    assert all(p.stat().st_size < 16 << 20 for p in tmp_path.iterdir())
    log = (tmp_path / "gpu_check.log").read_text()
    assert "TORCH_CUDA_ARCH_LIST=" in log and "--no-build-isolation --no-deps --no-index -e ." in log
    phases = {p["name"]: p["status"] for p in json.loads((tmp_path / "phases.json").read_text())["phases"]}
    assert phases == {"build": "printed (dry run)", "tests": "ok", "bench": "ok", "profile": "ok", "gcn": "ok"}
    md = (tmp_path / "gpu_check.md").read_text()
    assert "DRY RUN" in md and "collected only:" in md
    assert "tests collected" in md  # tests/gpu was collected, not run
    bench = json.loads((tmp_path / "spmm_gpu.json").read_text())
    assert bench["meta"]["dry_run"] and bench["targets"]
    for t in bench["targets"]:  # every target figure is in the report's table
        assert f"| {t['figure']} |" in md
    assert "sparsegnn GCN" in md and "PyG GCNConv" in json.loads((tmp_path / "layers.json").read_text())


def test_a_phase_past_its_budget_is_cut_and_the_next_still_runs(gc, tmp_path):
    log = gc.Log(tmp_path / "log")
    slow = gc.Phase("slow", 1, 1, [sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"])
    after = gc.Phase("after", 30, 1, [sys.executable, "-c", "print('after ran')"])
    start = time.monotonic()
    for phase in (slow, after):
        gc.run_phase(phase, log)
    log.close()
    assert slow.status == "cut at its 1 s budget" and slow.output[0] == "started"
    assert slow.output[-1] == "KeyboardInterrupt"  # SIGINT first: a phase can still write its report
    assert slow.seconds < 1 + gc.GRACE_S + 5 and time.monotonic() - start < 40
    assert after.status == "ok" and after.output == ["after ran"]
    failing = gc.Phase("failing", 30, 1, [sys.executable, "-c", "raise SystemExit(3)"])
    gc.run_phase(failing, gc.Log(tmp_path / "log2"))
    assert failing.status == "failed (exit 3)"


@pytest.mark.parametrize("have", [True, False])
def test_gpu_plan_builds_for_the_present_gpu_and_never_reaches_a_registry(gc, tmp_path, monkeypatch, have):
    monkeypatch.setattr(gc, "gpu_arch", lambda: "9.0")
    monkeypatch.setattr(gc, "_have", lambda module: have)  # pytest-timeout and pytest-xdist
    phases = {p.name: p for p in gc.plan(tmp_path, dry_run=False)}
    assert list(phases) == ["build", "tests", "bench", "profile", "gcn"]
    build = phases["build"]
    assert build.env["TORCH_CUDA_ARCH_LIST"] == "9.0" and int(build.env["MAX_JOBS"]) >= 1
    assert {"--no-build-isolation", "--no-deps", "--no-index", "-e"} <= set(build.cmd)
    tests = phases["tests"].cmd
    assert "--collect-only" not in tests and "-x" not in tests and f"--junitxml={tmp_path / 'tests.xml'}" in tests
    assert (f"--timeout={gc.PER_TEST_TIMEOUT_S}" in tests) == have and ("-n" in tests) == have
    assert "pytest-timeout is not installed" in phases["tests"].note or have
    assert "--quick" in phases["bench"].cmd and "--dry-run" not in phases["bench"].cmd
    assert phases["profile"].cmd[phases["profile"].cmd.index("--device") + 1] == "cuda"
    assert phases["gcn"].cmd[phases["gcn"].cmd.index("--device") + 1] == "cuda"
    assert sum(p.budget_s for p in phases.values()) + len(phases) * gc.GRACE_S <= 9 * 60 - 15


def test_test_results_counts_and_lists_failures(gc, tmp_path):
    xml = tmp_path / "t.xml"
    xml.write_text(
        '<testsuites><testsuite name="pytest" tests="4" failures="1" errors="1" skipped="1">'
        '<testcase classname="tests.gpu.a" name="test_ok"/>'
        '<testcase classname="tests.gpu.a" name="test_bad"><failure message="assert 1 == 2&#10;more">x</failure></testcase>'
        '<testcase classname="tests.gpu.b" name="test_err"><error message="boom">y</error></testcase>'
        '<testcase classname="tests.gpu.b" name="test_skip"><skipped message="no"/></testcase>'
        "</testsuite></testsuites>")
    r = gc.test_results(xml)
    assert (r["tests"], r["failures"], r["errors"], r["skipped"]) == (4, 1, 1, 1)
    assert r["failed"] == ["tests.gpu.a::test_bad: assert 1 == 2", "tests.gpu.b::test_err: boom"]
    assert gc.test_results(tmp_path / "absent.xml") == {}


def test_targets_compare_each_figure_with_its_issue_bound():
    bench = _load("bench_spmm_gpu", ROOT / "bench" / "spmm_gpu.py")
    rows = {t["figure"]: t for t in bench.targets({
        "powerlaw/fp32 speedup vs cusparse (geomean)": 1.3,
        "powerlaw/fp32 triton/cuda time ratio (max over F)": 1.3,
        "powerlaw/uniform time ratio, cuda, fp32 (max over F)": 1.4,
        "powerlaw/fp32 triton speedup vs cusparse at F>=64 (min over F)": float("nan"),
    })}
    assert rows["powerlaw/fp32 speedup vs cusparse (geomean)"]["met"] is True
    assert rows["powerlaw/fp32 triton/cuda time ratio (max over F)"]["target"] == "<= 1.25"
    assert rows["powerlaw/fp32 triton/cuda time ratio (max over F)"]["met"] is False
    assert rows["powerlaw/uniform time ratio, cuda, fp32 (max over F)"]["met"] is True
    assert rows["powerlaw/fp32 triton speedup vs cusparse at F>=64 (min over F)"]["met"] is None
