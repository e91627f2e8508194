# `make run` and `make test` each set up .venv from nothing, build the extension, then do their job.
PY        ?= python3
VENV      := .venv
VPY       := $(VENV)/bin/python
TORCH_VER := 2.13.0
STAMP     := $(VENV)/.sparsegnn-built
SOURCES   := setup.py pyproject.toml $(wildcard csrc/*.cpp csrc/cpu/*.cpp csrc/cpu/*.h csrc/cpu/*.inc csrc/cuda/*.cu csrc/cuda/*.cuh csrc/sparsegnn/*.h)

.PHONY: run test venv build bench cuda-check aarch64-check triton-check gpu-check asan clean

# Use a torch $(PY) already has; otherwise install torch==$(TORCH_VER) into .venv. When $(PY)
# is itself a virtualenv (sys.prefix != sys.base_prefix), --system-site-packages only shows its
# base Python, so a .pth in .venv also adds that virtualenv's site-packages (after .venv's own).
OUTER_PTH := import sys, sysconfig; dirs = dict.fromkeys(sysconfig.get_paths()[k] for k in ('purelib', 'platlib')); print('import site; ' + '; '.join(f'site.addsitedir({d!r})' for d in dirs) if sys.prefix != sys.base_prefix else '')
$(VENV)/bin/activate:
	@if $(PY) -c "import torch" 2>/dev/null; then \
		echo "using the installed torch: $$($(PY) -c 'import torch; print(torch.__version__)')"; \
		$(PY) -m venv --system-site-packages $(VENV) && \
		pth="$$($(PY) -c "$(OUTER_PTH)")" && \
		if [ -n "$$pth" ]; then \
			echo "$$pth" > "$$($(VPY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/outer-venv.pth"; \
		fi && \
		$(VPY) -c "import torch" || { echo "$(VENV) cannot import the torch of $(PY)"; rm -rf $(VENV); exit 1; }; \
	else \
		$(PY) -m venv $(VENV) && $(VPY) -m pip install -q --upgrade pip && \
		$(VPY) -m pip install -q torch==$(TORCH_VER); \
	fi
	$(VPY) -m pip install -q setuptools wheel ninja pybind11 numpy scipy numba

venv: $(VENV)/bin/activate

$(STAMP): $(VENV)/bin/activate $(SOURCES)
	$(VPY) -m pip install -q --no-build-isolation --no-deps -e .
	@touch $(STAMP)

build: $(STAMP)

$(VENV)/.test-deps: $(VENV)/bin/activate
	$(VPY) -m pip install -q pytest hypothesis triton torch-geometric matplotlib tqdm pymetis
	@touch $@

run: $(STAMP)
	$(VENV)/bin/sparsegnn bench

test: $(STAMP) $(VENV)/.test-deps
	$(VPY) -m pytest -q tests

cuda-check: $(VENV)/bin/activate
	bash csrc/cuda/check.sh

# Cross-compiles the CPU sources for aarch64 (needs g++-aarch64-linux-gnu; skipped without it).
aarch64-check: $(VENV)/bin/activate
	bash csrc/cpu/aarch64_check.sh

triton-check: $(VENV)/.test-deps $(STAMP)
	$(VPY) -m sparsegnn.kernels.aot --report

# GPU verification in one run (bench/gpu_check.py): builds for this GPU with the machine's own python3
# and torch (no venv, no registry), runs tests/gpu and the GPU benches, writes $(OUT) or bench/out/gpu-check/.
# DRY_RUN=1: no GPU needed, in .venv (build printed, tests collected, benches on the CPU, report written).
gpu-check: $(if $(DRY_RUN),$(STAMP) $(VENV)/.test-deps)
	$(if $(DRY_RUN),$(VPY),$(PY)) bench/gpu_check.py $(if $(DRY_RUN),--dry-run) $(if $(OUT),--out $(OUT))

# AddressSanitizer build of the extension, running the kernel tests against it (not in CI: slow).
asan: $(VENV)/.test-deps
	SPARSEGNN_ASAN=1 $(VPY) -m pip install -q --no-build-isolation --no-deps -e .
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libstdc++.so)" ASAN_OPTIONS=detect_leaks=0 \
		$(VPY) -m pytest -q -x tests/test_ops.py tests/test_cpu_kernels.py
	rm -f $(STAMP)

clean:
	rm -rf build *.egg-info sparsegnn/*.so $(STAMP)
