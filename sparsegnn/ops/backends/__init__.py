"""Every backend module; importing one registers it with ``ops.dispatch``."""

from . import dense, native, numba_cpu, reference, triton  # noqa: F401
