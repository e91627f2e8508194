"""Ahead-of-time compilation of every Triton kernel and autotune config for sm_80 and sm_90.

No GPU is needed: ``triton.compile(ASTSource(fn, signature, constexprs, attrs),
target=GPUTarget("cuda", 80|90, 32), options={"num_warps", "num_stages"})`` runs the whole
pipeline (TTIR -> TTGIR -> LLVM -> PTX -> cubin through the ptxas bundled with triton).
Registers and spills are not in the compiled kernel's metadata without a GPU (triton reads
``n_regs``/``n_spills`` when it loads the cubin on a device), so the report re-runs the bundled
``ptxas -v`` on the PTX and parses "Used N registers, S bytes spill stores, L bytes spill loads".

    python -m sparsegnn.kernels.aot --report        # every variant x config x arch, a table
    python -m sparsegnn.kernels.aot --quick         # one variant per kernel (what the test runs)

Exit status 1 if anything fails to compile. ``TRITON_INTERPRET`` does not matter: the kernel
modules are loaded a second time, under private names, with the interpreter off.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import triton
import triton.language as tl

ARCHS = (80, 90)
_HERE = Path(__file__).resolve().parent
_PKG = __package__ or "sparsegnn.kernels"


@dataclass
class Variant:
    """One specialization of a kernel: argument types and the non-tuned constexprs."""

    name: str
    types: dict[str, str]  # every runtime argument -> triton type string ("*fp32", "i32", ...)
    constexprs: dict[str, object] = field(default_factory=dict)
    quick: bool = False  # compiled by the test (--quick) as well as by --report


@dataclass
class Result:
    kernel: str
    variant: str
    config: str
    arch: int
    ok: bool
    regs: int | None = None
    spill_stores: int | None = None
    spill_loads: int | None = None
    shared: int | None = None
    seconds: float = 0.0
    error: str = ""


def _spmm_types(x: str, col: str = "*i64", src_rows: str | None = None) -> dict[str, str]:
    return {
        "start_ptr": "*i64", "end_ptr": "*i64", "cnt_ptr": "*i64", "col_ptr": col,
        "value_ptr": x, "src_ptr": x if src_rows is None else src_rows, "argin_ptr": "*i64",
        "out_ptr": x, "arg_ptr": "*i64", "num_items": "i32", "F": "i32", "sentinel": "i64",
        "DEG_BUCKET": "i32",
    }


def _spmm_cx(reduce: int, gather=True, value=True, argin=False, cnt=False, acc=tl.float32):
    return {"REDUCE": reduce, "GATHER": gather, "HAS_VALUE": value, "ARG_IN": argin,
            "WRITE_ARG": reduce >= 2, "CNT_FROM_PTR": cnt, "ACC": acc}


def variants() -> dict[tuple[str, str], list[Variant]]:
    """(module, kernel) -> the specializations compiled for it."""
    f32 = tl.float32
    spmm = [
        Variant("sum_weighted_fp32_col64", _spmm_types("*fp32"), _spmm_cx(0), quick=True),
        Variant("mean_fp16_col32", _spmm_types("*fp16", "*i32"), _spmm_cx(1, value=False)),
        Variant("max_weighted_bf16_col32", _spmm_types("*bf16", "*i32"), _spmm_cx(2),
                quick=True),
        Variant("min_fp64_col64", _spmm_types("*fp64"), _spmm_cx(3, acc=tl.float64)),
        Variant("split_pass1_sum_fp16_to_fp32",
                {**_spmm_types("*fp16", "*i32"), "out_ptr": "*fp32"}, _spmm_cx(0)),
        Variant("split_pass2_max_fp32", _spmm_types("*fp32"),
                _spmm_cx(2, gather=False, value=False, argin=True)),
        Variant("split_pass2_mean_fp32_to_bf16",
                {**_spmm_types("*fp32"), "out_ptr": "*bf16"},
                _spmm_cx(1, gather=False, value=False, cnt=True)),
        Variant("segment_reduce_sum_fp32", _spmm_types("*fp32"),
                _spmm_cx(0, gather=False, value=False)),
    ]
    sddmm_t = {"row_ptr": "*i64", "col_ptr": "*i64", "a_ptr": "*fp32", "b_ptr": "*fp32",
               "out_ptr": "*fp32", "nnz": "i32", "F": "i32"}
    sddmm = [
        Variant("fp32_col64", sddmm_t, {"ACC": f32}, quick=True),
        Variant("bf16_col32", {**sddmm_t, "col_ptr": "*i32", "a_ptr": "*bf16", "b_ptr": "*bf16",
                               "out_ptr": "*bf16"}, {"ACC": f32}),
    ]
    argb_t = {"colptr_ptr": "*i64", "perm_ptr": "*i64", "rowof_ptr": "*i64", "arg_ptr": "*i64",
              "value_ptr": "*fp32", "gout_ptr": "*fp32", "gx_ptr": "*fp32", "F": "i32"}
    argb = [
        Variant("weighted_fp32", argb_t, {"HAS_VALUE": True, "ACC": f32}, quick=True),
        Variant("unweighted_fp16", {**argb_t, "value_ptr": "*fp16", "gout_ptr": "*fp16",
                                    "gx_ptr": "*fp16"}, {"HAS_VALUE": False, "ACC": f32}),
    ]
    int8_t = {"rowptr_ptr": "*i64", "col_ptr": "*i64", "value_ptr": "*i8", "xq_ptr": "*i8",
              "rs_ptr": "*fp32", "cs_ptr": "*fp32", "out_ptr": "*fp32", "N": "i32", "F": "i32",
              "DEG_BUCKET": "i32"}
    int8 = [
        Variant("weighted_col64", int8_t, {"HAS_VALUE": True}, quick=True),
        Variant("unweighted_col32", {**int8_t, "col_ptr": "*i32"}, {"HAS_VALUE": False}),
    ]
    bsr = []
    for b in (16, 32, 64):
        for dt, prec, acc in (("fp16", "ieee", f32), ("fp32", "tf32x3", f32),
                              ("bf16", "ieee", f32), ("fp32", "tf32", f32),
                              ("fp64", "ieee", tl.float64)):
            t = {"brow_ptr": "*i64", "bcol_ptr": "*i64", "tiles_ptr": f"*{dt}",
                 "x_ptr": f"*{dt}", "out_ptr": f"*{dt}", "num_rows": "i32", "num_cols": "i32",
                 "F": "i32"}
            quick = dt == "fp16" or (dt == "fp32" and prec == "tf32x3" and b == 32)
            cx = {"B": b, "PREC": prec, "ACC": acc, "UPCAST": False}
            bsr.append(Variant(f"B{b}_{dt}_{prec}", t, cx, quick=quick))
    return {
        ("spmm", "_csr_reduce_kernel"): spmm,
        ("sddmm", "_sddmm_kernel"): sddmm,
        ("spmm_arg_backward", "_arg_backward_kernel"): argb,
        ("spmm_int8", "_spmm_int8_kernel"): int8,
        ("bsr_spmm", "_bsr_spmm_kernel"): bsr,
    }


@contextlib.contextmanager
def _interpreter_off():
    old = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "0"
    had = "interpret" in vars(triton.knobs.runtime)
    saved = vars(triton.knobs.runtime).pop("interpret", None)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = old
        if had:
            vars(triton.knobs.runtime)["interpret"] = saved


def load_jit_module(name: str):
    """Import kernels/<name>.py afresh, as compiled (non-interpreted) kernels, under a private
    module name so the normal ``sparsegnn.kernels.<name>`` module is left untouched."""
    modname = f"{_PKG}._aot_{name}"
    if modname in sys.modules:
        return sys.modules[modname]
    if _PKG not in sys.modules:
        importlib.import_module(_PKG)
    spec = importlib.util.spec_from_file_location(modname, _HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    with _interpreter_off():
        sys.modules[modname] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            del sys.modules[modname]
            raise
    return mod


def _config_str(cfg: triton.Config) -> str:
    kw = ",".join(f"{k}={v}" for k, v in cfg.kwargs.items())
    return f"{kw},w{cfg.num_warps},s{cfg.num_stages}"


_PTXAS_RE = re.compile(r"Used (\d+) registers")
_SPILL_RE = re.compile(r"(\d+) bytes spill stores, (\d+) bytes spill loads")


def _ptxas_usage(ptx: str, arch: int) -> tuple[int | None, int | None, int | None]:
    from triton.backends.nvidia.compiler import get_ptxas, sm_arch_from_capability

    ptxas = get_ptxas(arch).path
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "k.ptx"
        src.write_text(ptx)
        proc = subprocess.run(
            [ptxas, "-v", f"--gpu-name={sm_arch_from_capability(arch)}", str(src),
             "-o", str(Path(d) / "k.o")],
            capture_output=True, text=True, check=True,
        )
    log = proc.stderr + proc.stdout
    regs = _PTXAS_RE.search(log)
    spill = _SPILL_RE.search(log)
    return (
        int(regs.group(1)) if regs else None,
        int(spill.group(1)) if spill else None,
        int(spill.group(2)) if spill else None,
    )


def ptxas_available() -> str | None:
    """None if the ptxas that triton uses can run here, else the reason it cannot."""
    try:
        from triton.backends.nvidia.compiler import get_ptxas

        path = get_ptxas(80).path
        subprocess.run([path, "--version"], capture_output=True, check=True)
        return None
    except Exception as e:  # noqa: BLE001 - any failure means "cannot compile here"
        return f"ptxas unavailable: {e}"


def compile_one(fn, variant: Variant, cfg: triton.Config, arch: int, usage: bool) -> Result:
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    cx = {**variant.constexprs, **cfg.kwargs}
    sig: dict[str, str] = {}
    attrs = {}
    for i, a in enumerate(fn.arg_names):
        if a in cx:
            sig[a] = "constexpr"
        else:
            sig[a] = variant.types[a]
            if sig[a].startswith("*"):
                attrs[(i,)] = [["tt.divisibility", 16]]
    res = Result(kernel=fn.__name__, variant=variant.name, config=_config_str(cfg), arch=arch,
                 ok=False)
    t0 = time.perf_counter()
    try:
        src = ASTSource(fn, sig, constexprs=cx, attrs=attrs)
        ck = triton.compile(src, target=GPUTarget("cuda", arch, 32),
                            options={"num_warps": cfg.num_warps, "num_stages": cfg.num_stages})
        res.shared = int(ck.metadata.shared)
        if usage:
            res.regs, res.spill_stores, res.spill_loads = _ptxas_usage(ck.asm["ptx"], arch)
        res.ok = True
    except Exception as e:  # noqa: BLE001 - reported, and makes the run fail
        res.error = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:300] if str(e) else ''}"
    res.seconds = time.perf_counter() - t0
    return res


def compile_all(quick: bool = False, archs=ARCHS, usage: bool = True,
                only: str | None = None) -> list[Result]:
    """Compile every kernel x variant x autotune config x arch (``quick``: quick variants)."""
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    results = []
    for (modname, kname), vs in variants().items():
        if only and only not in (modname, kname):
            continue
        mod = load_jit_module(modname)
        tuned = getattr(mod, kname)
        fn = getattr(tuned, "fn", tuned)  # the JITFunction under the Autotuner
        configs = list(getattr(tuned, "configs", [triton.Config({})]))
        for v in vs:
            if quick and not v.quick:
                continue
            for cfg in configs:
                for arch in archs:
                    results.append(compile_one(fn, v, cfg, arch, usage))
    return results


SHARED_LIMIT = {80: 163 * 1024, 90: 227 * 1024}


def format_report(results: list[Result]) -> str:
    head = (f"{'kernel':<22}{'variant':<32}{'config':<40}{'sm':>4}{'regs':>6}{'spill st/ld':>13}"
            f"{'smem':>8}{'s':>6}  status")
    lines = [head, "-" * len(head)]
    for r in results:
        spill = "-" if r.spill_stores is None else f"{r.spill_stores}/{r.spill_loads}"
        status = "ok" if r.ok else f"FAIL {r.error}"
        if r.ok and r.shared is not None and r.shared > SHARED_LIMIT.get(r.arch, 1 << 30):
            status = "ok (shared memory over the sm limit: the autotuner skips it there)"
        if r.ok and r.spill_stores:
            status += " (spills)"
        lines.append(
            f"{r.kernel:<22}{r.variant:<32}{r.config:<40}{r.arch:>4}"
            f"{'-' if r.regs is None else r.regs:>6}{spill:>13}"
            f"{'-' if r.shared is None else r.shared:>8}{r.seconds:>6.1f}  {status}"
        )
    n_ok = sum(r.ok for r in results)
    n_sp = sum(1 for r in results if r.spill_stores)
    lines.append(f"{n_ok}/{len(results)} compiled; {n_sp} with spills; "
                 f"{sum(r.seconds for r in results):.0f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sparsegnn.kernels.aot", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--report", action="store_true", help="print registers/spills per config")
    p.add_argument("--quick", action="store_true", help="only the variants the test compiles")
    p.add_argument("--only", help="one module or kernel name")
    p.add_argument("--arch", type=int, action="append", help="80 and/or 90 (default both)")
    p.add_argument("--json", help="also write the results to this file")
    a = p.parse_args(argv)
    why = ptxas_available()
    if why:
        print(f"cannot compile ahead of time: {why}", file=sys.stderr)
        return 2
    results = compile_all(quick=a.quick, archs=tuple(a.arch or ARCHS), usage=a.report,
                          only=a.only)
    if a.report:
        print(format_report(results))
    else:
        bad = [r for r in results if not r.ok]
        print(f"{len(results) - len(bad)}/{len(results)} kernel configs compiled "
              f"for sm_{'/sm_'.join(str(x) for x in (a.arch or ARCHS))}")
        for r in bad:
            print(f"FAIL {r.kernel} {r.variant} {r.config} sm_{r.arch}: {r.error}")
    if a.json:
        Path(a.json).write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
