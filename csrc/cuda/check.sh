#!/usr/bin/env bash
# Compile-only check of the CUDA sources (csrc/cuda/*.cu) for sm_80 and sm_90, with the flags and
# include paths a torch CUDA extension build uses, and a register / spill report from ptxas.
#
#   bash csrc/cuda/check.sh            # `make cuda-check`; CI runs it through tests/test_cuda_build.py
#   CHECK_VERBOSE=1 bash csrc/cuda/check.sh   # one table row per kernel instantiation
#
# Works with a CPU-only torch (which ships the ATen/c10 CUDA headers): the generated
# c10/cuda/impl/cuda_cmake_macros.h is absent there, so C10_CUDA_NO_CMAKE_CONFIGURE_FILE is set.
# Exits 0 with "nvcc not found: skipped" where there is no CUDA toolkit; non-zero if any file fails.
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
START=$(date +%s.%N)

NVCC=""
if command -v nvcc >/dev/null 2>&1; then NVCC=$(command -v nvcc)
elif [ -n "${CUDA_HOME:-}" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then NVCC="$CUDA_HOME/bin/nvcc"
elif [ -x /usr/local/cuda/bin/nvcc ]; then NVCC=/usr/local/cuda/bin/nvcc
fi
if [ -z "$NVCC" ]; then
  echo "nvcc not found: skipped"
  exit 0
fi

PY=python3
[ -x "$ROOT/.venv/bin/python" ] && PY="$ROOT/.venv/bin/python"

# Include paths, ABI and nvcc defines from torch itself (one line each: -I..., -D..., flags).
TORCH_FLAGS=$(CUDA_HOME="${CUDA_HOME:-$(dirname "$(dirname "$NVCC")")}" "$PY" - <<'PYEOF' 2>/dev/null
import os
import torch
from torch.utils import cpp_extension as ce
try:
    inc = ce.include_paths(device_type="cuda")
except (OSError, TypeError):
    inc = ce.include_paths()          # a CPU-only torch: CUDA_HOME unset inside torch
flags = ["-I" + p for p in inc]
flags += list(getattr(ce, "COMMON_NVCC_FLAGS", []))
flags += ["-DTORCH_API_INCLUDE_EXTENSION_H", "-DTORCH_EXTENSION_NAME=_C",
          "-D_GLIBCXX_USE_CXX11_ABI=%d" % int(torch._C._GLIBCXX_USE_CXX11_ABI)]
macros = os.path.join(inc[0], "c10", "cuda", "impl", "cuda_cmake_macros.h")
if not os.path.exists(macros):
    flags.append("-DC10_CUDA_NO_CMAKE_CONFIGURE_FILE")
print(" ".join(flags))
PYEOF
)
if [ -z "$TORCH_FLAGS" ]; then
  echo "check.sh: could not import torch with $PY (needed for include paths)" >&2
  exit 1
fi

# The same options setup.py gives nvcc, plus compile-only, both archs in one invocation and -v.
FLAGS="-c -O3 -std=c++20 --expt-relaxed-constexpr -lineinfo -Xcompiler -fPIC -DSPARSEGNN_WITH_CUDA=1 \
  -I$ROOT/csrc $TORCH_FLAGS \
  -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -Xptxas -v"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# Largest first (the torch glue unit), so two cores finish together.
FILES=$(ls -S csrc/cuda/*.cu)
JOBS=$(nproc 2>/dev/null || echo 2)
echo "nvcc: $("$NVCC" --version | tail -1)  |  $(echo "$FILES" | wc -l) files, sm_80 + sm_90, $JOBS parallel jobs"

export NVCC FLAGS WORK
echo "$FILES" | xargs -P "$JOBS" -I{} bash -c '
  f={}; b=$(basename "$f" .cu); t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  if "$NVCC" $FLAGS "$f" -o "$WORK/$b.o" >"$WORK/$b.log" 2>&1; then rc=0; else rc=$?; fi
  echo "$rc $(awk "BEGIN{print $(date +%s.%N) - $t0}")" >"$WORK/$b.status"
'

FAIL=0
for f in $FILES; do
  b=$(basename "$f" .cu)
  read -r rc secs <"$WORK/$b.status" || { rc=1; secs=0; }
  if [ "$rc" = "0" ]; then
    printf '  ok    %-28s %6.1f s\n' "$f" "$secs"
  else
    FAIL=1
    printf '  FAIL  %-28s %6.1f s (exit %s)\n' "$f" "$secs" "$rc"
    grep -E "error|Error" "$WORK/$b.log" | head -40 | sed 's/^/        /'
  fi
done

"$PY" - "$WORK" <<'PYEOF'
import collections, os, re, shutil, subprocess, sys
work = sys.argv[1]
verbose = os.environ.get("CHECK_VERBOSE") == "1"
entry = re.compile(r"Compiling entry function '([^']+)' for '(sm_\d+)'")
props = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
regs = re.compile(r"Used (\d+) registers")
rows = []  # (file, mangled, arch, regs, stack, spill_st, spill_ld)
for log in sorted(os.listdir(work)):
    if not log.endswith(".log"):
        continue
    cur = None
    for line in open(os.path.join(work, log), errors="replace"):
        m = entry.search(line)
        if m:
            cur = {"file": log[:-4], "name": m.group(1), "arch": m.group(2), "regs": 0, "stack": 0, "st": 0, "ld": 0}
            rows.append(cur)
            continue
        if cur is None:
            continue
        m = props.search(line)
        if m:
            cur["stack"], cur["st"], cur["ld"] = map(int, m.groups())
        m = regs.search(line)
        if m:
            cur["regs"] = int(m.group(1))
names = sorted({r["name"] for r in rows})
pretty = {n: n for n in names}
if names and shutil.which("c++filt"):
    out = subprocess.run(["c++filt"], input="\n".join(names), capture_output=True, text=True).stdout.split("\n")
    for n, d in zip(names, out):
        d = re.sub(r"\(anonymous namespace\)::|sparsegnn::cuda::|sparsegnn::", "", d)
        d = re.sub(r"^void ", "", d)
        for a, b in (("(Reduce)0", "Sum"), ("(Reduce)1", "Mean"), ("(Reduce)2", "Max"), ("(Reduce)3", "Min")):
            d = d.replace(a, b)
        d = re.sub(r"\(.*\)$", "", d)                       # drop the parameter list
        for a, b in (
                     ("__nv_bfloat16", "bf16"), ("__half", "f16"), ("Identity", "seg"), ("double", "f64"),
                     ("float", "f32"), (" ", "")):
            d = d.replace(a, b)
        d = re.sub(r"\blong\b", "i64", d)
        d = re.sub(r"\bint\b", "i32", d)
        pretty[n] = d
if not rows:
    print("no ptxas output parsed")
    sys.exit(0)
def family(r):
    return (r["file"], pretty[r["name"]].split("<")[0], r["arch"])
print()
if verbose:
    print("%-22s %-40s %-6s %5s %6s %6s" % ("file", "kernel", "arch", "regs", "spillS", "spillL"))
    for r in sorted(rows, key=lambda r: (r["file"], pretty[r["name"]], r["arch"])):
        print("%-22s %-40s %-6s %5d %6d %6d" % (r["file"], pretty[r["name"]], r["arch"], r["regs"], r["st"], r["ld"]))
else:
    groups = collections.OrderedDict()
    for r in sorted(rows, key=lambda r: family(r)):
        groups.setdefault(family(r), []).append(r)
    print("%-22s %-20s %-6s %5s %9s %12s %12s" % ("file", "kernel", "arch", "inst", "regs", "spilling", "max spill B"))
    for (f, k, a), rs in groups.items():
        lo, hi = min(r["regs"] for r in rs), max(r["regs"] for r in rs)
        sp = [r for r in rs if r["st"] or r["ld"]]
        print("%-22s %-20s %-6s %5d %9s %12s %12d" % (f, k, a, len(rs), "%d-%d" % (lo, hi) if lo != hi else str(lo),
              "%d/%d" % (len(sp), len(rs)), max([r["st"] + r["ld"] for r in rs] or [0])))
    spilled = [r for r in rows if r["st"] or r["ld"]]
    if spilled:
        print("\ninstantiations with spills (stores/loads in bytes):")
        for r in sorted(spilled, key=lambda r: (r["file"], pretty[r["name"]], r["arch"])):
            print("  %-6s %-40s %3d regs  %d/%d" % (r["arch"], pretty[r["name"]], r["regs"], r["st"], r["ld"]))
print("\n%d kernel instantiations, %d with spills" % (len(rows), sum(1 for r in rows if r["st"] or r["ld"])))
PYEOF

END=$(date +%s.%N)
printf 'total %.1f s (wall, compile + report)\n' "$(awk "BEGIN{print $END - $START}")"
if [ "$FAIL" != "0" ]; then
  echo "cuda-check: FAILED"
  exit 1
fi
echo "cuda-check: ok"
