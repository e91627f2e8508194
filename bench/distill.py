"""Knowledge distillation figures (sparsegnn.distill): accuracy on Planetoid, Degree-Quant
students with and without KD, KD tuned on validation, and MLP-vs-GNN inference latency.

    nice .venv/bin/python bench/distill.py [--seeds 10] [--first-seed 0] [--datasets cora,citeseer]
        [--student-hidden 8] [--only accuracy|quant|tuned|latency] [--json out.json]

Accuracy (``accuracy``; public split, seeds 0..S-1, test accuracy at the best validation epoch,
mean +- std): the teacher is a GCN trained by the gcn recipe (2 x 16, Kipf & Welling's settings)
with the same seed as its students. Students: the MLP recipe (2 x 64) trained plainly and by
GLNN (soft labels on every node, lambda 0) without weight decay (the GCN teacher's soft labels
are nearly uniform, mean top probability 0.22 on CiteSeer, and the recipe's 5e-4 outweighs their
small KL gradient: CiteSeer seed 1 stalled at 36.6% validation, 73.4% without decay); a small
GCN (2 layers, ``--student-hidden`` wide, the gcn recipe otherwise) trained plainly and with
logit KD (alpha 0.9, T 4), and with LSP, GSP and G-CRD (the papers' defaults) each added to the
cross-entropy. Students are seeded like their teacher.

KD + QAT (``quant``): the gcn recipe's student (2 x 16) with Degree-Quant at INT8 and INT4
(``sparsegnn.quant.paper_config``: p in [0, 0.1] / [0.1, 0.2], percentile observers), trained
plainly and by logit KD (alpha 0.9, T 4) from the seed's teacher; the fake-quant model's test
accuracy and its converted integer model's (``QATRun``), and the GLNN MLP student with plain
INT8 QAT, converted.

KD tuned on validation (``tuned``): for the students KD at alpha 0.9, T 4 hurt
(:data:`TUNED_STUDENTS`), the plain student and logit KD at every point of
``sparsegnn.distill.KD_GRID`` (alpha in {0.5, 0.9} x T in {1, 2, 4}); the point is chosen on the
mean validation accuracy over the seeds (``choose_on_validation``), its test accuracy reported.

Latency (``latency``): 10,000 random target nodes of the arxiv-size power-law graph (169,343
nodes, 1,166,243 edges made undirected, 128 random features, 40 classes): the MLP student
(2 x 256) on the targets' features against the 2-layer GCN teacher (2 x 256) on the targets'
2-hop ball, including gathering it (``k_hop`` + ``subgraph`` of the graph normalised once
beforehand), the minimum (and median) of ``--repeats`` interleaved rounds in eval mode under
``torch.inference_mode``, on ``--threads`` threads; each model as trained and packed for CPU
serving (``sparsegnn.nn.pack_linears``: oneDNN's GEMM), every ratio against the faster teacher of
the round; also, as an additional row, the MLP student converted to INT8 by ``sparsegnn.quant``. ``--clock cpu --threads 1`` times the process's CPU
time, which the machine's other load inflates far less than wall time.

Skips the Planetoid parts with a message when the Planetoid files are absent.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/quant.py, also when loaded by the tests

from sparsegnn.data import find_data_root, load_dataset, power_law
from sparsegnn.distill import KD_GRID, TeacherCache, choose_on_validation, fit_distilled, grid_points
from sparsegnn.graph import Graph, k_hop, subgraph
from sparsegnn.nn import GCN, MLP, pack_linears
from sparsegnn.quant import QATConfig, QATRun, paper_config
from sparsegnn.train import build_model, fit_recipe, model_inputs, recipe

from quant import converted_pair

GCN_STUDENT_LOSSES = ("kd", "lsp", "gsp", "gcrd")
QUANT_BITS = (8, 4)
TEACHER = "GCN teacher (2 x 16)"
GLNN_INT8 = "MLP + GLNN, INT8 QAT"
# per dataset, the students KD at the paper's alpha 0.9, T 4 hurt (4 seeds, 5 CLI seeds, hidden 4: Cora seed 0):
# label, hidden, bits
TUNED_STUDENTS: dict[str, tuple[tuple[str, int, int | None], ...]] = {
    "cora": (("GCN (2 x 4)", 4, None), ("INT4-DQ (2 x 16)", 16, 4)),
    "citeseer": (("GCN (2 x 8)", 8, None),),
}


def train_teacher(data, seed: int, epochs: int | None = None):
    """The gcn recipe's model at its best validation epoch, in eval mode, its inputs and its test
    accuracy (``epochs``: the recipe's unless given)."""
    r = recipe("gcn", epochs=epochs)
    x = model_inputs("gcn", data.x, data.graph, r)
    result = fit_recipe("gcn", data, r, seed, x)
    teacher = build_model("gcn", x.size(1), data.num_classes, r)
    teacher.load_state_dict(result.best_state)
    return teacher.eval(), x, result.acc["test"]


def accuracy_seed(data, seed: int, student_hidden: int, mlp_only: bool = False) -> dict[str, float]:
    """Every model's test accuracy for one seed on ``data`` (``mlp_only``: the teacher and the
    MLP rows only)."""
    mlp_r, small_r = recipe("mlp"), recipe("gcn", hidden=student_hidden)
    glnn_r = recipe("mlp", weight_decay=0.0)  # see the module docstring
    mlp_x = model_inputs("mlp", data.x, data.graph, mlp_r)
    teacher, x, teacher_acc = train_teacher(data, seed)
    cache = TeacherCache(teacher, x, data.graph, hidden=True)
    acc = {
        TEACHER: teacher_acc,
        "MLP (2 x 64)": fit_recipe("mlp", data, mlp_r, seed, mlp_x, keep_best_state=False).acc["test"],
        "MLP + GLNN": fit_distilled("mlp", data, glnn_r, seed, teacher, "glnn", mlp_x, cache,
                                    keep_best_state=False).acc["test"],
    }
    if mlp_only:
        return acc
    small = f"GCN (2 x {student_hidden})"
    acc[small] = fit_recipe("gcn", data, small_r, seed, x, keep_best_state=False).acc["test"]
    for loss in GCN_STUDENT_LOSSES:
        acc[f"{small} + {loss.upper()}"] = fit_distilled("gcn", data, small_r, seed, teacher, loss, x, cache,
                                                         keep_best_state=False).acc["test"]
    return acc


def student(model: str, data, r, seed: int, x, config: QATConfig | None = None, cache: TeacherCache | None = None,
            loss: str = "kd", options: dict | None = None) -> dict[str, float]:
    """One student of ``model`` by the recipe ``r`` (QAT-prepared by ``config`` when given),
    trained plainly or, with ``cache``, by ``loss`` from the cached teacher (``options``: the
    loss's settings, the paper's unless given): the selected epoch's ``val`` and ``test``
    accuracy, and for a QAT student its integer model's (``converted_val``, ``converted_test``)."""
    run = None if config is None else QATRun(config)
    prepare = None if run is None else run.prepare
    keep = run is not None  # the converted model is taken at the selected epoch
    if cache is None:
        result = fit_recipe(model, data, r, seed, x, keep_best_state=keep, prepare=prepare)
    else:
        result = fit_distilled(model, data, r, seed, None, loss, x, cache, keep_best_state=keep, prepare=prepare,
                               options=None if options is None else {loss: options})
    out = {"val": result.acc["val"], "test": result.acc["test"]}
    if run is not None:
        converted = run.converted_accuracy(result, x, data)
        out.update(converted_val=converted["val"], converted_test=converted["test"])
    return out


def dq_student(data, seed: int, hidden: int, bits: int | None, x, cache: TeacherCache | None = None,
               kd: dict | None = None, epochs: int | None = None) -> dict[str, float]:
    """A gcn-recipe student ``hidden`` wide, Degree-Quant at ``bits`` when given
    (:func:`sparsegnn.quant.paper_config`), plain or by logit KD (``kd``: LogitKD's settings)."""
    r = recipe("gcn", hidden=hidden, epochs=epochs)
    return student("gcn", data, r, seed, x, None if bits is None else paper_config(bits), cache, "kd", kd)


def quant_seed(data, seed: int, epochs: int | None = None) -> dict[str, dict[str, float]]:
    """The teacher and the Degree-Quant students of the gcn recipe (2 x 16) at INT8 and INT4,
    without and with logit KD (alpha 0.9, T 4) from the seed's teacher, and the GLNN MLP student
    (as in :func:`accuracy_seed`) with plain INT8 QAT (an MLP aggregates nothing: no Degree-Quant
    masks), for one seed."""
    teacher, x, teacher_acc = train_teacher(data, seed, epochs)
    cache = TeacherCache(teacher, x, data.graph)
    rows = {TEACHER: {"test": teacher_acc}}
    for bits in QUANT_BITS:
        for kd in (False, True):
            rows[f"INT{bits}-DQ" + (" + KD" if kd else "")] = dq_student(data, seed, 16, bits, x,
                                                                          cache if kd else None, epochs=epochs)
    glnn_r = recipe("mlp", weight_decay=0.0, epochs=epochs)
    rows[GLNN_INT8] = student("mlp", data, glnn_r, seed, model_inputs("mlp", data.x, data.graph, glnn_r),
                              paper_config(8, degree_quant=False), cache, "glnn")
    return rows


def quant_table(tables: dict[str, dict[str, list[dict[str, float]]]]) -> str:
    """Markdown: per dataset the teacher's test accuracy and every Degree-Quant student's
    fake-quant / converted test accuracy, mean +- std over the seeds every row has."""
    keys = [f"INT{b}-DQ" + k for b in QUANT_BITS for k in ("", " + KD")] + [GLNN_INT8]
    lines = [f"| dataset | seeds | teacher | {' | '.join(keys)} |", "| --- " * (len(keys) + 3) + "|"]
    for name, rows in tables.items():
        seeds = min(len(v) for v in rows.values())
        cells = [mean_std([r["test"] for r in rows[TEACHER][:seeds]])]
        cells += [mean_std([r["test"] for r in rows[k][:seeds]]) + " / "
                  + mean_std([r["converted_test"] for r in rows[k][:seeds]]) for k in keys]
        lines.append(f"| {name} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def tuned_seed(data, name: str, seed: int, epochs: int | None = None) -> dict[str, dict[str, object]]:
    """For each of ``name``'s :data:`TUNED_STUDENTS`, one seed: the plain student and the KD
    student at every point of :data:`~sparsegnn.distill.KD_GRID` (in its order), from the seed's
    teacher."""
    teacher, x, _ = train_teacher(data, seed, epochs)
    cache = TeacherCache(teacher, x, data.graph)
    out: dict[str, dict[str, object]] = {}
    for label, hidden, bits in TUNED_STUDENTS[name]:
        out[label] = {"plain": dq_student(data, seed, hidden, bits, x, epochs=epochs),
                      "kd": [dq_student(data, seed, hidden, bits, x, cache, point, epochs)
                             for point in grid_points(KD_GRID)]}
    return out


def tuned_table(tables: dict[str, dict[str, list[dict[str, object]]]]) -> str:
    """Markdown: per student the plain run, KD at the paper's alpha 0.9, T 4, and KD at the grid
    point chosen on mean validation accuracy (test at that point), then every point's mean
    validation accuracy; a QAT student's cells are fake-quant / converted test accuracy."""
    points = grid_points(KD_GRID)
    paper = points.index({"alpha": 0.9, "temperature": 4.0})
    head = " | ".join(f"val a{p['alpha']:g} T{p['temperature']:g}" for p in points)
    lines = [f"| dataset | student | seeds | plain | KD (0.9, 4) | KD tuned on val | chosen (alpha, T) | {head} |",
             "| --- " * (len(points) + 7) + "|"]

    def cell(runs: list[dict[str, float]]) -> str:
        text = mean_std([r["test"] for r in runs])
        return text + (" / " + mean_std([r["converted_test"] for r in runs]) if "converted_test" in runs[0] else "")

    for name, students in tables.items():
        for label, runs in students.items():
            seeds = len(runs)
            grid = [[run["kd"][i] for run in runs] for i in range(len(points))]
            choice = choose_on_validation(points, [[r["val"] for r in g] for g in grid],
                                          [[r["test"] for r in g] for g in grid])
            chosen = choice.settings
            lines.append(f"| {name} | {label} | {seeds} | {cell([run['plain'] for run in runs])} | {cell(grid[paper])} | "
                         f"{cell(grid[choice.best])} | ({chosen['alpha']:g}, {chosen['temperature']:g}) | "
                         + " | ".join(f"{v:.2f}" for v in choice.val_mean) + " |")
    return "\n".join(lines)


def mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} +- {std:.2f}"


def accuracy_table(tables: dict[str, dict[str, list[float]]]) -> str:
    """Markdown: one row per model, one column per dataset, mean +- std over the seeds run."""
    names = list(tables)
    seeds = min(len(next(iter(t.values()))) for t in tables.values())
    lines = [f"| model ({seeds} seeds, test %) | " + " | ".join(names) + " |",
             "| --- | " + " | ".join("---" for _ in names) + " |"]
    for key in tables[names[0]]:
        cells = [mean_std(tables[name][key][:seeds]) for name in names]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def interleaved_seconds(fns: dict[str, object], repeats: int, clock: str = "wall") -> dict[str, list[float]]:
    """Seconds of ``repeats`` rounds after a warm-up round, each round calling every function
    once in turn (on a shared machine the models then see the same load, round by round).
    ``clock``: ``"wall"`` or ``"cpu"`` (the process's CPU time: with one thread, the compute
    alone, whatever else the machine runs)."""
    tick = CLOCKS[clock]
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = tick()
            fn()
            times[name].append(tick() - start)
    return times


def latency(nodes: int, edges: int, targets: int, features: int, hidden: int, classes: int,
            repeats: int, clock: str = "wall", compiled: bool = True) -> dict[str, float]:
    """The latency figures (see the module docstring), in seconds: each model as trained
    (``torch.nn.Linear``: MKL's GEMM) and packed for serving (``sparsegnn.nn.pack_linears``:
    oneDNN's), and the INT8 MLP student (the float student converted by
    :func:`quant.converted_pair`, observers calibrated on the targets' features, requantisation
    fused by ``torch.compile`` when ``compiled``). Every ratio divides the faster teacher of the
    round (``teacher``: the lesser of ``gcn`` and ``gcn_packed``) by a student."""
    graph = Graph.from_scipy(power_law(nodes, edges, seed=0).graph.symmetric_pattern())
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(nodes, features, generator=gen)
    seeds = torch.randperm(nodes, generator=gen)[:targets]
    normalised = graph.gcn_norm()  # once, before serving: the full graph's degrees
    torch.manual_seed(0)
    teacher = GCN(features, hidden, classes, 2, 0.5).eval()
    student = MLP(features, hidden, classes, 2, 0.5).eval()
    int8 = converted_pair(student, x.index_select(0, seeds), None, 3, compiled)[1]
    packed_teacher, packed_student = pack_linears(teacher), pack_linears(student)

    def gather():
        ball, _ = k_hop(normalised, seeds, 2)
        return ball, subgraph(normalised, ball).graph

    def gnn(model):
        ball, sub = gather()
        return model(x.index_select(0, ball), sub)[: seeds.numel()]

    ball, _ = gather()
    out: dict[str, float] = {"graph_nnz": graph.nnz, "ball_nodes": ball.numel()}
    with torch.inference_mode():
        times = interleaved_seconds({"mlp": lambda: student(x.index_select(0, seeds)),
                                     "mlp_packed": lambda: packed_student(x.index_select(0, seeds)),
                                     "mlp_int8": lambda: int8(x.index_select(0, seeds)), "gather": gather,
                                     "gcn": lambda: gnn(teacher), "gcn_packed": lambda: gnn(packed_teacher)},
                                    repeats, clock)
    times["teacher"] = [min(a, b) for a, b in zip(times["gcn"], times["gcn_packed"])]
    for name, values in times.items():
        out[f"{name}_s"], out[f"{name}_median_s"] = min(values), statistics.median(values)
    for key, mlp in (("speedup", "mlp"), ("speedup_packed", "mlp_packed"), ("speedup_int8", "mlp_int8")):
        out[key] = out["teacher_s"] / out[f"{mlp}_s"]  # of the least disturbed runs
        out[f"{key}_median"] = statistics.median(g / m for g, m in zip(times["teacher"], times[mlp]))  # per round
    return out


PARTS = ("accuracy", "quant", "tuned", "latency")
TABLES = {"accuracy": accuracy_table, "quant": quant_table, "tuned": tuned_table}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="run seeds first-seed .. seeds-1")
    parser.add_argument("--datasets", default="cora,citeseer")
    parser.add_argument("--student-hidden", type=int, default=8)
    parser.add_argument("--only", choices=PARTS, default=None, help="one part (default: all of them)")
    parser.add_argument("--mlp-only", action="store_true", help="accuracy: the teacher and MLP rows only")
    parser.add_argument("--nodes", type=int, default=169343)
    parser.add_argument("--edges", type=int, default=1166243)
    parser.add_argument("--targets", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the latency part")
    parser.add_argument("--train-threads", type=int, default=1,
                        help="torch threads of the Planetoid parts (1: on a shared 2-core machine, 3-6x faster than 2)")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="latency clock: wall time, or the process's CPU time (with --threads 1: far less load-sensitive)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--tables", metavar="JSON", default=None,
                        help="print the tables of the Planetoid parts in a (possibly cut-short) run's --json, and exit")
    args = parser.parse_args(argv)
    if args.tables:
        saved = json.loads(Path(args.tables).read_text())
        for part in PARTS[:-1]:
            if saved.get(part) and all(saved[part].values()):
                print(f"{part}:\n{TABLES[part](saved[part])}\n")
        return 0
    torch.set_num_threads(args.threads)
    results: dict[str, object] = {"threads": args.threads, "seeds": args.seeds}
    trained = [part for part in PARTS[:-1] if args.only in (None, part)]
    if trained:
        root = find_data_root()
        if root is None or not (root / "planetoid").is_dir():
            print(f"{', '.join(trained)}: skipped, Planetoid files not found ($SPARSEGNN_DATA or ../shared/datasets)")
        else:
            torch.set_num_threads(args.train_threads)
            datasets = {name: load_dataset(name) for name in args.datasets.split(",")}
            runs = {"accuracy": lambda data, name, seed: accuracy_seed(data, seed, args.student_hidden, args.mlp_only),
                    "quant": lambda data, name, seed: quant_seed(data, seed),
                    "tuned": lambda data, name, seed: tuned_seed(data, name, seed)}
            for part in trained:
                names = [n for n in datasets if part != "tuned" or n in TUNED_STUDENTS]
                tables: dict[str, dict[str, list]] = {name: {} for name in names}
                results[part] = tables
                for seed in range(args.first_seed, args.seeds):  # seeds outermost: a cut-short run covers every dataset
                    for name in names:
                        start = time.perf_counter()
                        rows = runs[part](datasets[name], name, seed)
                        for key, value in rows.items():
                            tables[name].setdefault(key, []).append(value)
                        print(f"{part}, {name} seed {seed}: {json.dumps(rows)} ({time.perf_counter() - start:.0f} s)",
                              flush=True)
                    if args.json:
                        Path(args.json).write_text(json.dumps(results, indent=1))
                print("\n" + TABLES[part](tables), flush=True)
            torch.set_num_threads(args.threads)
    if args.only in (None, "latency"):
        lat = latency(args.nodes, args.edges, args.targets, 128, 256, 40, args.repeats, args.clock)
        results["latency"] = lat
        print(f"\nlatency, {args.targets} targets of {args.nodes} nodes ({lat['graph_nnz']} entries, 2-hop ball "
              f"{lat['ball_nodes']} nodes), {args.threads} threads, {args.clock} clock, min (median) of {args.repeats}:")
        print("| model | ms | faster GCN teacher (gathering included) / this |\n| --- | --- | --- |")
        for key, label in (("mlp", "MLP student (2 x 256)"),
                           ("mlp_packed", "MLP student (2 x 256), packed (oneDNN)"),
                           ("mlp_int8", "additional: INT8 MLP student (2 x 256, converted by sparsegnn.quant)"),
                           ("gather", "2-hop gathering alone (k_hop + subgraph)"),
                           ("gcn", "GCN teacher (2 x 256), gathering included"),
                           ("gcn_packed", "GCN teacher (2 x 256), packed (oneDNN), gathering included")):
            print(f"| {label} | {1000 * lat[key + '_s']:.1f} ({1000 * lat[key + '_median_s']:.1f}) | "
                  f"{lat['teacher_s'] / lat[key + '_s']:.1f}x ({lat['teacher_median_s'] / lat[key + '_median_s']:.1f}x) |")
        print(f"faster teacher / MLP per round, median: {lat['speedup_median']:.0f}x (packed MLP: "
              f"{lat['speedup_packed_median']:.0f}x, INT8 MLP: {lat['speedup_int8_median']:.0f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
