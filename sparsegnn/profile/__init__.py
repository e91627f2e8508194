"""Profiling tools: timing statistics, the kernel profiler behind ``sparsegnn bench``, the
auto-tuner behind ``sparsegnn tune`` and :func:`profile_ops` for profiling user models.

Modules (one concern each): ``timing`` (warm-up, repeats, median/IQR), ``machine`` (environment
and the measured bandwidth/compute roofs), ``graphs`` (``--graph`` specs and edge-list/npz
loading), ``costs`` (flop and byte models), ``cases`` (inputs of one case), ``peers`` (the other
implementations), ``kernels`` (what is profiled), ``runner`` (the sweep), ``report`` (table,
JSON, CSV), ``plots`` (roofline and speed-up PNGs), ``tune`` (policy file), ``opprofile``
(``profile_ops``).
"""

from .costs import Cost
from .kernels import KERNELS
from .machine import Roofs, environment, measure_roofs
from .opprofile import OpCall, profile_ops
from .peers import BASELINES, PEERS, PeerAbsent
from .report import CSV_COLUMNS, format_table
from .runner import Record, Sweep, plan, run_case, sweep
from .timing import Stats, benchmark

__all__ = [
    "BASELINES",
    "CSV_COLUMNS",
    "KERNELS",
    "PEERS",
    "Cost",
    "OpCall",
    "PeerAbsent",
    "Record",
    "Roofs",
    "Stats",
    "Sweep",
    "benchmark",
    "environment",
    "format_table",
    "measure_roofs",
    "plan",
    "profile_ops",
    "run_case",
    "sweep",
]
