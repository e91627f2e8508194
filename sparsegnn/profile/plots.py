"""PNG plots of a sweep (matplotlib, Agg backend: no display needed).

- ``roofline_<device>.png``: one point per implementation and case at (arithmetic intensity,
  achieved GFLOP/s) on log-log axes, under the two roofs measured at start: the sloped
  bandwidth roof ``GFLOP/s = intensity x GB/s`` and the flat compute roof (GEMM GFLOP/s).
  Intensity comes from the byte model (``profile/costs.py``), so every implementation of a
  case sits on the same vertical line: higher is faster, and the distance to the sloped roof is
  the bandwidth left unused.
- ``speedup_<kernel>_<graph>.png``: speed-up over the kernel's baseline peer, grouped bars per F
  (one bar per implementation; the dashed line at 1 is the baseline).
- :func:`training_curves`: a ``sparsegnn train --plot`` run's loss and accuracies per epoch,
  one line per seed.
"""

from __future__ import annotations

import os
from pathlib import Path

from .graphs import graph_label
from .machine import Roofs
from .runner import Record


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _colors(names: list[str]) -> dict[str, object]:
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


_MARKERS = {"spmm": "o", "segment": "s", "sddmm": "^", "int8": "D", "layer": "P", "step": "X"}


def roofline(
    records: list[Record], roofs: Roofs | None, path: str | os.PathLike, title: str = ""
) -> str:
    """The roofline plot of ``records`` (those that ran) under ``roofs``; returns the path."""
    plt = _pyplot()
    ran = [r for r in records if r.ok and r.gflops and r.bytes]
    fig, ax = plt.subplots(figsize=(9.5, 5), dpi=90)
    impls = sorted({r.impl for r in ran})
    colors = _colors(impls)
    intensities = [r.flops / r.bytes for r in ran] or [0.1, 1.0]
    lo, hi = min(intensities) / 4, max(max(intensities) * 4, 1.0)
    if roofs is not None:
        ridge = roofs.peak_gflops / roofs.bandwidth_gbps
        xs = [lo, min(max(ridge, lo), hi * 10), hi * 10]
        ys = [min(x * roofs.bandwidth_gbps, roofs.peak_gflops) for x in xs]
        ax.plot(
            xs,
            ys,
            color="black",
            linewidth=1.5,
            label=f"roof: {roofs.bandwidth_gbps:.1f} GB/s, {roofs.peak_gflops:.0f} GFLOP/s",
        )
    seen: set[str] = set()
    for r in ran:
        label = r.impl if r.impl not in seen else None
        seen.add(r.impl)
        ax.scatter(
            r.flops / r.bytes,
            r.gflops,
            color=colors[r.impl],
            marker=_MARKERS.get(r.kernel, "o"),
            edgecolors="black" if r.kind == "sparsegnn" else "none",
            s=40,
            label=label,
            zorder=3,
        )
    for kernel in sorted({r.kernel for r in ran}):
        ax.scatter(
            [], [], marker=_MARKERS.get(kernel, "o"), color="grey", label=f"kernel: {kernel}"
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (flop / byte, compulsory traffic)")
    ax.set_ylabel("achieved GFLOP/s")
    ax.set_title(title or "roofline (outlined: sparsegnn backends)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def speedup_bars(records: list[Record], kernel: str, graph: str, path: str | os.PathLike) -> str:
    """Grouped bars of speed-up over the baseline per F for one kernel and graph."""
    plt = _pyplot()
    rows = [r for r in records if r.kernel == kernel and r.graph == graph and r.ok and r.speedup]
    groups = sorted({(r.feat, r.dtype, r.reduce, r.threads) for r in rows})
    impls = sorted(
        {r.impl for r in rows}, key=lambda n: (n != rows[0].baseline if rows else True, n)
    )
    colors = _colors(impls)
    fig, ax = plt.subplots(
        figsize=(max(6.0, 1.2 * len(groups) * max(1, len(impls)) / 3), 4.5), dpi=90
    )
    width = 0.8 / max(1, len(impls))
    for j, impl in enumerate(impls):
        xs, ys = [], []
        for i, group in enumerate(groups):
            match = [
                r
                for r in rows
                if (r.feat, r.dtype, r.reduce, r.threads) == group and r.impl == impl
            ]
            if match:
                xs.append(i - 0.4 + width * (j + 0.5))
                ys.append(match[0].speedup)
        bars = ax.bar(xs, ys, width=width, color=colors[impl], label=impl)
        ax.bar_label(bars, labels=[f"{y:.2f}" for y in ys], fontsize=6, padding=1)
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(
        [
            f"F={f}\n{d} {r}" + (f"\n{t} thr" if len({g[3] for g in groups}) > 1 else "")
            for f, d, r, t in groups
        ],
        fontsize=8,
    )
    from matplotlib.ticker import FuncFormatter, NullFormatter

    values = [r.speedup for r in rows] or [1.0]
    log = max(values) / min(values) > 20  # a log axis only where the bars span decades
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.set_ylabel(
        f"speed-up over {rows[0].baseline if rows else 'baseline'}" + (" (log)" if log else "")
    )
    ax.set_title(f"{kernel} on {graph}")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def write_plots(
    records: list[Record], roofs: dict[str, Roofs], directory: str | os.PathLike
) -> list[str]:
    """Every plot of a sweep into ``directory``: one roofline per device, speed-up bars per
    kernel and graph. Returns the paths written."""
    directory = Path(directory)
    written = []
    for device in sorted({r.device for r in records}):
        device_records = [r for r in records if r.device == device]
        device_roofs = next((v for k, v in roofs.items() if k.split("/")[0] == device), None)
        written.append(
            roofline(
                device_records,
                device_roofs,
                directory / f"roofline_{device}.png",
                f"roofline on {device} (outlined: sparsegnn backends)",
            )
        )
    for kernel, graph in sorted({(r.kernel, r.graph) for r in records}):
        if any(r.ok and r.speedup for r in records if r.kernel == kernel and r.graph == graph):
            written.append(
                speedup_bars(
                    records, kernel, graph, directory / f"speedup_{kernel}_{graph_label(graph)}.png"
                )
            )
    return written


def training_curves(epochs: list[dict], path: str | os.PathLike, title: str) -> str:
    """Training loss (left) and validation / test accuracy (right) per epoch, one line per seed.

    ``epochs``: the per-epoch rows of ``sparsegnn train --json`` (``seed``, ``epoch``, ``loss``,
    ``val_acc``, ``test_acc``). Returns the PNG's path."""
    plt = _pyplot()
    seeds = sorted({row["seed"] for row in epochs})
    colors = _colors([str(seed) for seed in seeds])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for seed in seeds:
        rows = [row for row in epochs if row["seed"] == seed]
        x = [row["epoch"] for row in rows]
        color = colors[str(seed)]
        left.plot(x, [row["loss"] for row in rows], color=color, lw=1, label=f"seed {seed}")
        for split, style in (("val", "-"), ("test", ":")):
            if all(f"{split}_acc" in row for row in rows):
                right.plot(x, [row[f"{split}_acc"] for row in rows], style, color=color, lw=1,
                           label=f"seed {seed} {split}" if len(seeds) == 1 or split == "val" else None)
    left.set(xlabel="epoch", ylabel="training loss", yscale="log")
    right.set(xlabel="epoch", ylabel="accuracy % (solid: val, dotted: test)")
    for axis in (left, right):
        axis.grid(alpha=0.3)
    if len(seeds) <= 10:
        left.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
