"""`make gpu-check`: build, test and benchmark every CUDA and Triton kernel on this machine's GPU.

    python3 bench/gpu_check.py [--out DIR] [--dry-run]   # DIR: --out, $OUT or bench/out/gpu-check/
    make gpu-check [DRY_RUN=1] [OUT=DIR]

One prepared run for a short GPU lease: it uses the machine's own python3 and torch (no venv, no
registry), and each phase runs under a wall-clock budget; a phase past its budget is cut (SIGINT,
then SIGKILL to its process group), reported as cut, and the next phase still runs.

| phase   | what it runs                                                      | budget | estimate |
| ------- | ----------------------------------------------------------------- | -----: | -------: |
| build   | TORCH_CUDA_ARCH_LIST=<the GPU's capability> MAX_JOBS=<cores>      |  180 s |   ~145 s |
|         | SPARSEGNN_CUDA=1 python3 -m pip install --no-build-isolation      |        |          |
|         | --no-deps --no-index -e .                                         |        |          |
| tests   | pytest tests/gpu (xdist where present), per-test timeout, JUnit   |  180 s |    ~90 s |
| bench   | bench/spmm_gpu.py --quick                                         |   60 s |    ~30 s |
| profile | sparsegnn bench spmm segment sddmm int8 --device cuda             |   35 s |    ~20 s |
| gcn     | bench/layers.py --device cuda: 2-layer GCN epochs, ours vs PyG    |   35 s |    ~15 s |
| report  | gpu_check.md from the files above                                 |      - |     ~1 s |

The budgets sum to 490 s; with the 5 s grace of each cut phase and the start, at most about 525 s,
under 9 minutes. How the build estimate was made (2026-12-01, here: a shared 2-core AMD EPYC VM):
CPU seconds (user + sys) of each translation unit compiled alone, with setup.py's flags:
csrc/cpu/spmm_cpu.cpp 128, sddmm_cpu.cpp 36, int8_cpu.cpp 28, output_alloc.cpp 8, csrc/ops.cpp
27; nvcc 13 for sm_90 only: ops_cuda.cu 22, spmm_kernels.cu 13, the other three 2 each;
268 s in all. Dividing by the cores (16 there) gives 17 s, but ninja starts all 10 units at
once, so the build is bound by its largest unit: spmm_cpu.cpp's 128 s (a host core there taken as
fast as one here), plus about 15 s for pip and the link. The other estimates are reasoned, not
measured: the graphs of the bench take 6.5 s to build here, the Triton kernels (105 configs for
sm_90) 21 s of CPU to compile ahead of time, and the GPU work itself is seconds; the tests are
1,565 (8 xdist workers). Nothing here has run on a GPU yet.

``--dry-run`` (``make gpu-check DRY_RUN=1``) needs no GPU: the build steps are printed, not run;
tests/gpu is collected (``--collect-only``); bench/spmm_gpu.py runs with ``--dry-run``; the
profiler and the GCN phase run on the CPU on tiny graphs; each phase gets three times its budget (a
loaded 2-core CI machine); the report is written and marked as a dry run, its figures meaningless.

Output (at most 8 files, each well under 16 MiB): gpu_check.log (everything printed), tests.xml
(JUnit), spmm_gpu.json, profile.json, layers.json, phases.json, and gpu_check.md, the Markdown
section to paste into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
GRACE_S = 5  # after SIGINT, before SIGKILL: pytest writes its JUnit XML and summary on SIGINT
PER_TEST_TIMEOUT_S = 60
DRY_RUN_BUDGET_FACTOR = 3
MAX_FAILURES_LISTED = 40
OUTPUTS = ("gpu_check.log", "tests.xml", "spmm_gpu.json", "profile.json", "layers.json", "phases.json",
           "gpu_check.md")


@dataclass
class Phase:
    """One step of the run: its command, budget and, once run, status, seconds and output."""

    name: str
    budget_s: int
    estimate_s: int
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    label: str = ""  # the command as the report names it
    note: str = ""  # how it was set up (arch, timeout, workers), for the log and the report
    status: str = "not run"
    seconds: float = 0.0
    output: list[str] = field(default_factory=list, repr=False)


class Log:
    """Everything printed goes to stdout and to ``gpu_check.log``."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("w")
        self._lock = threading.Lock()

    def __call__(self, line: str = "") -> None:
        with self._lock:
            print(line, flush=True)
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        self._file.close()


def _sigint_by_default() -> None:
    """In a phase's process before it starts: SIGINT back to its default. Started from a shell
    script's background job, this process and its children inherit SIGINT ignored, and a phase
    cut at its budget would then be killed without writing its report."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_phase(phase: Phase, log: Log) -> None:
    """Run ``phase.cmd`` in its own process group under its budget; fills status, seconds, output."""
    log(f"\n=== {phase.name} (budget {phase.budget_s} s{'; ' + phase.note if phase.note else ''}): "
        f"{shlex.join(phase.cmd)}")
    env = dict(os.environ, PYTHONUNBUFFERED="1", **phase.env)
    start = time.monotonic()
    proc = subprocess.Popen(phase.cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, errors="replace", start_new_session=True, preexec_fn=_sigint_by_default)

    def pump() -> None:
        for line in proc.stdout:
            line = line.rstrip("\n")
            phase.output.append(line)
            log(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout=phase.budget_s)
        phase.status = "ok" if rc == 0 else f"failed (exit {rc})"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        phase.status = f"cut at its {phase.budget_s} s budget"
    with contextlib.suppress(ProcessLookupError):  # whatever the phase left running (xdist workers...)
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    reader.join(timeout=5)
    phase.seconds = time.monotonic() - start
    log(f"=== {phase.name}: {phase.status} in {phase.seconds:.1f} s")


def gpu_arch() -> str:
    """``major.minor`` of GPU 0 for TORCH_CUDA_ARCH_LIST (``?`` where there is no GPU)."""
    import torch

    if not torch.cuda.is_available():
        return "?"
    major, minor = torch.cuda.get_device_capability(0)
    return f"{major}.{minor}"


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def plan(out: Path, dry_run: bool) -> list[Phase]:
    """The phases, with the commands for a GPU run or for the dry run."""
    cores = os.cpu_count() or 1
    device = "cpu" if dry_run else "cuda"
    build = Phase("build", 180, 145, [PY, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
                                     "--no-index", "-e", "."],
                  {"TORCH_CUDA_ARCH_LIST": gpu_arch(), "MAX_JOBS": str(cores), "SPARSEGNN_CUDA": "1"})
    build.note = f"CUDA kernels for compute capability {build.env['TORCH_CUDA_ARCH_LIST']} only, {cores} ninja jobs"
    tests = Phase("tests", 180, 90, [PY, "-m", "pytest", "tests/gpu", "-q", "-rfE", "--tb=short", "-p", "no:cacheprovider",
                                      f"--junitxml={out / 'tests.xml'}"])
    if dry_run:
        tests.cmd.append("--collect-only")
        tests.note = "collected only"
    else:
        notes = ["no per-test timeout (pytest-timeout is not installed; the phase budget still holds)"]
        if _have("pytest_timeout"):
            tests.cmd.append(f"--timeout={PER_TEST_TIMEOUT_S}")
            notes = [f"{PER_TEST_TIMEOUT_S} s per test"]
        notes.append("one process (pytest-xdist is not installed)")
        if _have("xdist"):  # the CPU-side references are the slow part: spread them
            workers = max(1, min(8, cores // 2))
            tests.cmd += ["-n", str(workers)]
            tests.env["OMP_NUM_THREADS"] = str(max(1, cores // workers))
            notes[-1] = f"{workers} xdist workers"
        tests.note = ", ".join(notes)
    bench = Phase("bench", 60, 30, [PY, "bench/spmm_gpu.py", "--dry-run" if dry_run else "--quick",
                                    "--json", str(out / "spmm_gpu.json")])
    bench.label = shlex.join(bench.cmd[1:3])
    graph = ["--graph", "power_law:2000,20000", "--repeat", "2"] if dry_run else []
    profile = Phase("profile", 35, 20, [PY, "-m", "sparsegnn", "bench", "spmm", "segment", "sddmm", "int8",
                                        "--device", device, "--no-progress", "--json", str(out / "profile.json"),
                                        *graph])
    profile.label = shlex.join(["sparsegnn", *profile.cmd[3:10], *graph])
    small = ["--nodes", "2000", "--edges", "10000", "--features", "16", "--hidden", "16", "--epochs", "1"]
    gcn = Phase("gcn", 35, 15, [PY, "bench/layers.py", "--device", device, "--json", str(out / "layers.json"),
                                *(small if dry_run else [])])
    gcn.label = shlex.join(gcn.cmd[1:4] + (small if dry_run else []))
    phases = [build, tests, bench, profile, gcn]
    if dry_run:  # CPU work on a loaded 2-core CI box, not a 16-core GPU host: room, but still a limit
        for phase in phases:
            phase.budget_s *= DRY_RUN_BUDGET_FACTOR
    return phases


def built_with_cuda() -> bool:
    """Whether the freshly built ``sparsegnn._C`` (imported in a new process) has its CUDA kernels."""
    probe = "import sparsegnn._C as C; raise SystemExit(0 if C.has_cuda() else 1)"
    return subprocess.run([PY, "-c", probe], cwd=ROOT, capture_output=True).returncode == 0


def environment() -> dict[str, str]:
    """Date, GPU, driver, versions, cores and commit, for the report's header."""
    import torch

    def query(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=ROOT).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return ""

    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = "not installed"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (dry run)"
    smi = query(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "gpu": gpu,
        "capability": gpu_arch(),
        "driver": smi.splitlines()[0] if smi else "unknown (no nvidia-smi)",
        "torch": torch.__version__,
        "cuda": str(torch.version.cuda),
        "triton": triton_version,
        "python": sys.version.split()[0],
        "cores": str(os.cpu_count()),
        "commit": query(["git", "rev-parse", "--short", "HEAD"]) or "unknown",
    }


def test_results(xml_path: Path) -> dict:
    """Counts and failed test ids from pytest's JUnit XML (empty where it is absent)."""
    if not xml_path.exists():
        return {}
    root = ET.parse(xml_path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    failed = []
    for case in root.iter("testcase"):
        bad = case.find("failure")
        bad = bad if bad is not None else case.find("error")
        if bad is not None:
            message = (bad.get("message") or "").splitlines()
            failed.append(f"{case.get('classname')}::{case.get('name')}: {message[0][:160] if message else ''}")
    counts["failed"] = failed
    return counts


def collected(phase: Phase) -> str:
    """pytest's ``N tests collected`` line of a ``--collect-only`` phase."""
    return next((line for line in reversed(phase.output) if " collected" in line), "nothing collected")


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _fmt(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.3g}"


def report(phases: list[Phase], env: dict, out: Path, dry_run: bool) -> list[str]:
    """The Markdown section for bench/RESULTS.md: header, phases, tests, every figure vs its target."""
    by = {p.name: p for p in phases}
    md = ["<!-- section: GPU check (bench/gpu_check.py); owner: gpu-check -->",
          f"## GPU check (`make gpu-check`){': DRY RUN, figures from the CPU, not for RESULTS.md' if dry_run else ''}",
          "",
          f"**Date:** {env['date']}. **GPU:** {env['gpu']} (compute capability {env['capability']}), driver "
          f"{env['driver']}, CUDA {env['cuda']}. **Software:** torch {env['torch']}, triton {env['triton']}, "
          f"Python {env['python']}. **Host:** {env['cores']} cores. **Commit:** {env['commit']}. "
          f"**Command:** `make gpu-check{' DRY_RUN=1' if dry_run else ''}`.",
          "",
          "| phase | status | took s | budget s | estimate s | note |",
          "| --- | --- | ---: | ---: | ---: | --- |"]
    md += [f"| {p.name} | {p.status} | {p.seconds:.0f} | {p.budget_s} | {p.estimate_s} | {p.note} |" for p in phases]

    md += ["", "**Tests** (`tests/gpu`):"]
    tests = test_results(out / "tests.xml")
    if dry_run:
        md.append(f"collected only: {collected(by['tests'])}")
    elif tests:
        md.append(f"{tests['tests']} tests: {tests['tests'] - tests['failures'] - tests['errors'] - tests['skipped']} "
                  f"passed, {tests['failures']} failed, {tests['errors']} errors, {tests['skipped']} skipped.")
        md += [f"- {name}" for name in tests["failed"][:MAX_FAILURES_LISTED]]
        if len(tests["failed"]) > MAX_FAILURES_LISTED:
            md.append(f"- ... and {len(tests['failed']) - MAX_FAILURES_LISTED} more (tests.xml)")
    else:
        md.append("no JUnit report (the phase did not get as far as writing one).")

    bench = _load(out / "spmm_gpu.json")
    widths = ", ".join(map(str, sorted({r["F"] for r in bench.get("rows", [])})))
    md += ["", f"**SpMM targets** (`{by['bench'].label}`: F in {{{widths}}}; issue 4 = CUDA, issue 5 = "
           f"Triton; copy bandwidth {_fmt(bench.get('meta', {}).get('copy_bandwidth_gbps'))} GB/s):", "",
           "| figure | value | target | met | issue |", "| --- | ---: | --- | --- | ---: |"]
    for t in bench.get("targets", []):
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        md.append(f"| {t['figure']} | {_fmt(t['value'])} | {t['target']} | {met} | {t['issue']} |")
    if not bench:
        md.append("| no figures: the phase wrote no JSON | | | | |")

    layers = _load(out / "layers.json")
    md += ["", f"**2-layer GCN training epoch** (`{by['gcn'].label}`, median epoch, ms; the issue-6 targets "
           "were set on the CPU):", ""]
    medians = {k: sorted(v)[len(v) // 2] * 1e3 for k, v in layers.items() if isinstance(v, list) and v}
    if medians:
        md += ["| model | ms |", "| --- | ---: |"] + [f"| {k} | {v:.2f} |" for k, v in medians.items()]
        if {"PyG GCNConv", "sparsegnn GCN", "PyG GCNConv, patched"} <= medians.keys():
            ours = medians["PyG GCNConv"] / medians["sparsegnn GCN"]
            patched = medians["PyG GCNConv"] / medians["PyG GCNConv, patched"]
            md += ["", f"sparsegnn GCN vs PyG GCNConv: {ours:.2f}x (target >= 2x); patched vs unpatched PyG: "
                       f"{patched:.2f}x (target >= 1.8x)."]
    else:
        md.append("no figures (the phase did not finish).")

    table = [line for line in by["profile"].output if line.startswith(("==", "impl", "roofs")) or "sparsegnn " in line
             or " peer " in line]
    md += ["", f"**Profiler** (`{by['profile'].label}`):", "", "```", *table, "```", "",
           "<!-- end section: GPU check -->", ""]
    return md


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or ROOT / "bench" / "out" / "gpu-check"),
                    help="folder for the log, reports and JSON (default $OUT, else bench/out/gpu-check/)")
    ap.add_argument("--dry-run", action="store_true", help="no GPU: print the build, collect the tests, "
                                                           "run the benches on the CPU, write the report")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:  # a phase that writes nothing must not leave an earlier run's file to be read
        (out / name).unlink(missing_ok=True)
    log = Log(out / "gpu_check.log")
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        log("gpu_check: no CUDA device (torch.cuda.is_available() is False); use --dry-run")
        return 2
    env = environment()
    log("gpu_check " + " ".join(f"{k}={v}" for k, v in env.items()))
    phases = plan(out, args.dry_run)
    for phase in phases:
        if phase.name == "build" and args.dry_run:
            log(f"\n=== build (dry run: printed, not run)\n"
                f"{' '.join(f'{k}={v}' for k, v in phase.env.items())} {shlex.join(phase.cmd)}")
            phase.status = "printed (dry run)"
            continue
        run_phase(phase, log)
        if phase.name == "build" and phase.status == "ok" and not built_with_cuda():
            phase.status = "failed: sparsegnn._C was built without its CUDA kernels"
            log(f"=== build: {phase.status}")
    md = report(phases, env, out, args.dry_run)
    (out / "gpu_check.md").write_text("\n".join(md))
    (out / "phases.json").write_text(json.dumps(
        {"environment": env, "dry_run": args.dry_run,
         "phases": [{k: v for k, v in asdict(p).items() if k != "output"} for p in phases]}, indent=1))
    log("\n".join(["", *md]))
    log(f"gpu_check: wrote {', '.join(sorted(f.name for f in out.iterdir()))} into {out}")
    log.close()
    failed = [p.name for p in phases if p.status not in ("ok", "printed (dry run)")]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
