#!/usr/bin/env bash
# Cross-compile check of the CPU extension sources (csrc/ops.cpp, csrc/cpu/*.cpp) for aarch64: the
# portable path must build there, with the flags setup.py passes (which must name no x86 ISA), and
# with torch's own (architecture-independent) headers. Compile only (-c, to aarch64 objects that
# are then discarded): linking needs an aarch64 libtorch, and running the tests an aarch64 machine
# (or qemu with an aarch64 torch), neither of which this check has.
#
#   bash csrc/cpu/aarch64_check.sh     # `make aarch64-check`; CI runs it through tests/test_cpu_isa.py
#
# Needs aarch64-linux-gnu-g++ (Debian: apt-get install g++-aarch64-linux-gnu); exits 0 with
# "aarch64-linux-gnu-g++ not found: skipped" without it, non-zero if any file fails.
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
START=$(date +%s)
CXX=${AARCH64_CXX:-aarch64-linux-gnu-g++}
if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "$CXX not found: skipped"
  exit 0
fi
# The Python with torch: $PYTHON, else .venv's, else python3.
PY=${PYTHON:-python3}
[ -z "${PYTHON:-}" ] && [ -x "$ROOT/.venv/bin/python" ] && PY="$ROOT/.venv/bin/python"

# setup.py's flags and torch's include paths and defines, one line.
FLAGS=$("$PY" - <<'PYEOF'
import sys
import sysconfig

import torch
from torch.utils import cpp_extension as ce

sys.path.insert(0, ".")
import setup  # noqa: E402  (setup() runs only as __main__)

flags = setup.cxx_flags()
x86 = [f for f in flags if f.startswith(("-mavx", "-msse", "-mfma", "-mf16c", "-march=x86", "-mtune"))]
if x86:
    sys.exit(f"setup.py passes x86 flags: {x86}")
flags += ["-I" + p for p in ce.include_paths()] + ["-I" + sysconfig.get_paths()["include"], "-Icsrc"]
flags += ["-DTORCH_API_INCLUDE_EXTENSION_H", "-DTORCH_EXTENSION_NAME=_C",
          "-D_GLIBCXX_USE_CXX11_ABI=%d" % int(torch._C._GLIBCXX_USE_CXX11_ABI)]
print(" ".join(flags))
PYEOF
) || { echo "aarch64-check: FAIL (flags)"; exit 1; }
# -O0 after setup.py's -O3: the same front end and instantiations, without the optimiser's time.
FLAGS="$FLAGS -O0 -fPIC -c"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
status=0
pids=()
names=()
for src in csrc/ops.cpp csrc/cpu/*.cpp; do
  obj="$WORK/$(basename "$src").o"
  # shellcheck disable=SC2086
  # ... and the object's ELF e_machine (2 bytes at offset 18) must be EM_AARCH64 = 0xb7.
  ( "$CXX" $FLAGS "$src" -o "$obj" 2> "$obj.log" && [ "$(od -An -tx1 -j18 -N2 "$obj" | tr -d ' ')" = "b700" ] ) &
  pids+=($!)
  names+=("$src")
  # two at a time
  if [ "${#pids[@]}" -ge 2 ]; then
    for i in "${!pids[@]}"; do
      if wait "${pids[$i]}"; then echo "ok   ${names[$i]}"; else echo "FAIL ${names[$i]}"; cat "$WORK/$(basename "${names[$i]}").o.log"; status=1; fi
    done
    pids=(); names=()
  fi
done
for i in "${!pids[@]}"; do
  if wait "${pids[$i]}"; then echo "ok   ${names[$i]}"; else echo "FAIL ${names[$i]}"; cat "$WORK/$(basename "${names[$i]}").o.log"; status=1; fi
done
echo "compiler: $("$CXX" --version | head -1); $(( $(date +%s) - START )) s"
if [ "$status" -eq 0 ]; then echo "aarch64-check: ok"; else echo "aarch64-check: FAIL"; fi
exit "$status"
