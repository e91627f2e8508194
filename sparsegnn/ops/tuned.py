"""The tuned policy file that ``backend="auto"`` consults before its built-in defaults.

``sparsegnn tune`` measures this machine and writes a JSON file; :func:`load` reads it (cached,
re-read when the file changes) and :func:`pick` / :func:`dense_limits` answer the questions
``ops.policy.choose`` asks. This module only reads: it never imports the profiler (layering).

Where the file is: ``$SPARSEGNN_POLICY`` when set (``""``, ``"none"`` or ``"off"`` disable the
file entirely), else ``$XDG_CACHE_HOME/sparsegnn/policy.json`` (``~/.cache/sparsegnn/policy.json``).

Format (``schema`` ``"sparsegnn-policy/1"``)::

    {
      "schema": "sparsegnn-policy/1",
      "created": "2026-11-24T03:00:00+00:00",
      "environment": {...},                       # machine, threads, versions (informative)
      "devices": {
        "cpu": {
          "rules": [                              # the best backend per bucket
            {"op": "spmm", "reduce": ["sum", "mean"],
             "feat": [32, 128],                   # [low, high) in features; high null = no bound
             "avg_degree": [8, 32],               # [low, high) in nnz / rows
             "backend": "cpu",
             "ms": {"cpu": 1.2, "numba": 1.9}},   # what was measured (informative)
            ...
          ],
          "dense": {"min_density": 0.05,          # null: dense never won, never pick it
                    "max_cells": 4194304,
                    "measured": [[density, dense_ms, best_sparse_ms], ...]}
        }
      }
    }

A file that cannot be read or parsed is ignored with one warning (the defaults apply).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

SCHEMA = "sparsegnn-policy/1"
# ``choose`` is not told the feature width by every caller; such lookups use this one.
DEFAULT_FEAT = 64

_cache: dict[str, Any] = {"key": None, "policy": None}
_path_cache: dict[str, Any] = {"variables": (), "path": None}
_warned: set[str] = set()


def policy_path() -> Path | None:
    """The policy file's path (it may not exist), or None when disabled by ``$SPARSEGNN_POLICY``.
    Resolved again only when one of the variables it depends on changes: every ``auto`` op call
    asks, and building the path cost 70 us a call, 10% of a ClusterGCN training step."""
    variables = (os.environ.get("SPARSEGNN_POLICY"), os.environ.get("XDG_CACHE_HOME"), os.environ.get("HOME"))
    if _path_cache["variables"] != variables:
        _path_cache["variables"], _path_cache["path"] = variables, _resolve_policy_path(*variables[:2])
    return _path_cache["path"]


def _resolve_policy_path(env: str | None, cache: str | None) -> Path | None:
    """``$SPARSEGNN_POLICY``'s file, or the one under ``cache`` (``~/.cache`` when unset)."""
    if env is not None:
        return None if env.strip().lower() in ("", "none", "off") else Path(env).expanduser()
    cache = cache or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "sparsegnn" / "policy.json"


def validate(policy: Any) -> dict:
    """``policy`` if it has the expected shape; ValueError saying what is wrong otherwise."""
    if not isinstance(policy, dict):
        raise ValueError(f"policy: expected a JSON object, got {type(policy).__name__}")
    if policy.get("schema") != SCHEMA:
        raise ValueError(f"policy: expected schema {SCHEMA!r}, got {policy.get('schema')!r}")
    devices = policy.get("devices")
    if not isinstance(devices, dict):
        raise ValueError("policy: 'devices' must be an object keyed by device type")
    for device, entry in devices.items():
        if not isinstance(entry, dict):
            raise ValueError(f"policy: devices[{device!r}] must be an object")
        for i, rule in enumerate(entry.get("rules", [])):
            if (
                not isinstance(rule, dict)
                or not isinstance(rule.get("op"), str)
                or not isinstance(rule.get("backend"), str)
            ):
                raise ValueError(
                    f"policy: devices[{device!r}].rules[{i}] needs string 'op' and 'backend'"
                )
        dense = entry.get("dense")
        if dense is not None and not isinstance(dense, dict):
            raise ValueError(f"policy: devices[{device!r}].dense must be an object")
    return policy


def load(path: str | os.PathLike | None = None) -> dict | None:
    """The parsed policy, or None when there is no (valid) file. Cached until the file changes."""
    target = Path(path) if path is not None else policy_path()
    if target is None:
        return None
    try:
        stat = os.stat(target)
    except OSError:
        return None
    key = (str(target), stat.st_mtime_ns, stat.st_size)
    if _cache["key"] == key:
        return _cache["policy"]
    try:
        with open(target) as handle:
            policy = validate(json.load(handle))
    except (OSError, ValueError) as error:
        if str(target) not in _warned:
            _warned.add(str(target))
            warnings.warn(f"sparsegnn: ignoring the policy file {target}: {error}", stacklevel=2)
        policy = None
    _cache["key"], _cache["policy"] = key, policy
    return policy


def _within(value: float, bounds: Any) -> bool:
    if bounds is None:
        return True
    low, high = bounds
    return (low is None or value >= low) and (high is None or value < high)


def pick(
    op: str,
    device_type: str,
    reduce: str | None,
    avg_degree: float,
    feat: int | None = None,
    policy: dict | None = None,
) -> str | None:
    """The tuned backend for this call, or None when the policy has no matching rule."""
    policy = load() if policy is None else policy
    if not policy:
        return None
    rules = policy.get("devices", {}).get(device_type, {}).get("rules", [])
    feat = DEFAULT_FEAT if feat is None else feat
    for rule in rules:
        if rule.get("op") != op:
            continue
        reduces = rule.get("reduce")
        if reduces is not None and reduce is not None and reduce not in reduces:
            continue
        if _within(feat, rule.get("feat")) and _within(avg_degree, rule.get("avg_degree")):
            return rule["backend"]
    return None


def dense_limits(
    device_type: str, default: tuple[int, float], policy: dict | None = None
) -> tuple[int, float]:
    """``(max_cells, min_density)`` for the dense-masked backend: tuned, else ``default``.
    A tuned ``min_density`` of null (dense never won here) comes back as ``inf``."""
    policy = load() if policy is None else policy
    dense = (policy or {}).get("devices", {}).get(device_type, {}).get("dense")
    if not dense:
        return default
    max_cells = int(dense.get("max_cells", default[0]))
    density = dense.get("min_density", default[1])
    return max_cells, math.inf if density is None else float(density)
