"""``sparsegnn.distill``: every loss is zero (or at its minimum) when the student equals the
teacher and positive otherwise, its gradient points the right way, LSP equals a dense reference
of its formula, G-CRD learns on a toy problem, the teacher's outputs are computed once (also in
batches), distillation trains full batch and with a sampler, every bad argument is refused, and
the segment softmax under LSP is exact with the right gradient."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from sparsegnn import Graph
from sparsegnn.cli import main
from sparsegnn.data import find_data_root, load_dataset, sbm
from sparsegnn.distill import (
    GCRD,
    GLNN,
    GSP,
    KERNELS,
    LSP,
    DistillBatch,
    Distillation,
    LogitKD,
    Outputs,
    KD_GRID,
    TeacherCache,
    build_losses,
    choose_on_validation,
    distill,
    fit_distilled,
    grid_points,
    load_teacher,
)
from sparsegnn.distill.kernels import from_dot
from sparsegnn.durable import DamagedFileError
from sparsegnn.nn import GCN, MLP
from sparsegnn.quant import QATConfig, QATRun, paper_config
from sparsegnn.ops import segment_log_softmax, segment_softmax
from sparsegnn.sampling import ShaDowKHop, make_method
from sparsegnn.train import FullBatch, fit_recipe, recipe, seed_everything

ROOT = Path(__file__).resolve().parents[1]


def _graph(n=7):
    """A small directed graph with a self loop, a hub row and an isolated node (row 6)."""
    edges = [(0, 1), (0, 2), (0, 3), (0, 0), (1, 0), (2, 1), (2, 3), (3, 4), (4, 5), (5, 0), (5, 1), (5, 2),
             (5, 3), (5, 4)]
    row, col = torch.tensor(edges).t()
    return Graph.from_coo(row, col, None, n, n)


def _batch(s_logits, t_logits, s_hidden=None, t_hidden=None, graph=None, ce=None, loss_rows=None):
    s_h = [s_hidden, s_logits] if s_hidden is not None else [s_logits]
    t_h = [t_hidden, t_logits] if t_hidden is not None else [t_logits]
    ce = torch.tensor(0.0) if ce is None else ce
    return DistillBatch(Outputs(s_logits, s_h), Outputs(t_logits, t_h), graph, ce, loss_rows)


@pytest.fixture(scope="module")
def data():
    return sbm(300, 3, 6.0, num_features=8, seed=0)


@pytest.fixture(scope="module")
def teacher(data):
    result = fit_recipe("gcn", data, recipe("gcn", epochs=40), seed=0)
    model = GCN(8, 16, 3)
    model.load_state_dict(result.best_state)
    return model.eval()


# ------------------------------------------------------------------------- segment softmax
def test_segment_softmax_matches_a_dense_masked_softmax_and_its_gradient():
    g = _graph()
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(g.nnz, 3, dtype=torch.float64, generator=gen) * 5
    dense = torch.full((g.num_nodes, g.num_cols, 3), float("-inf"), dtype=torch.float64)
    dense[g.row_index(), g.col.long()] = scores
    expected = torch.softmax(dense, 1)[g.row_index(), g.col.long()]
    torch.testing.assert_close(segment_softmax(scores, g.rowptr), expected)
    sums = torch.zeros(g.num_nodes, 3, dtype=torch.float64).index_add_(0, g.row_index(), segment_softmax(scores, g.rowptr))
    torch.testing.assert_close(sums[:6], torch.ones(6, 3, dtype=torch.float64))  # row 6 has no entry
    scores.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: segment_log_softmax(s, g.rowptr), (scores,))
    big = torch.tensor([1000.0, 0.0, -1000.0])  # shift-invariant, no overflow
    assert torch.isfinite(segment_log_softmax(big, torch.tensor([0, 3]))).all()
    with pytest.raises(ValueError, match="rowptr"):
        segment_softmax(scores.detach(), torch.tensor([0, 2]))
    with pytest.raises(TypeError, match="src"):
        segment_softmax(torch.arange(3), torch.tensor([0, 3]))


# -------------------------------------------------------------- zero at equality, positive else
LOSS_NAMES = ["kd", "glnn", "lsp", "gsp", "gcrd"]


def _toy(name, seed):
    """``(loss, graph, logits [7, 4], hidden [7, 5], generator)`` for one loss with its defaults."""
    losses = {"kd": LogitKD(), "glnn": GLNN(), "lsp": LSP(), "gsp": GSP(), "gcrd": GCRD(5, 5, projection=False)}
    gen = torch.Generator().manual_seed(seed)
    return losses[name], _graph(), torch.randn(7, 4, generator=gen), torch.randn(7, 5, generator=gen), gen


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_each_loss_is_at_its_minimum_when_the_student_equals_the_teacher(name):
    loss, g, logits, hidden, gen = _toy(name, 0)
    ce = torch.tensor(0.7)
    same = loss(_batch(logits, logits.clone(), hidden, hidden.clone(), g, ce))
    other = loss(_batch(logits, torch.randn(7, 4, generator=gen), hidden, torch.randn(7, 5, generator=gen), g, ce))
    if isinstance(loss, LogitKD):  # the soft term vanishes, the CE part stays
        torch.testing.assert_close(same, (1 - loss.alpha) * ce)
        assert other > same
    elif isinstance(loss, GCRD):  # InfoNCE is never 0: each row is closest to its own copy
        shuffled = loss(_batch(logits, logits, hidden, hidden[torch.tensor([1, 2, 3, 4, 5, 6, 0])], g, ce))
        assert same < shuffled and same < other
    else:
        assert float(same) == pytest.approx(0.0, abs=1e-6)
        assert other > 1e-4


def test_kd_is_hintons_formula_with_batchmean():
    gen = torch.Generator().manual_seed(1)
    s, t, ce = torch.randn(6, 5, generator=gen), torch.randn(6, 5, generator=gen), torch.tensor(1.3)
    T = 4.0
    p, q = torch.softmax(t / T, 1), torch.softmax(s / T, 1)
    kl = (p * (p.log() - q.log())).sum(1).mean()  # per node, then the mean over nodes
    torch.testing.assert_close(LogitKD()(_batch(s, t, ce=ce)), 0.9 * T * T * kl + 0.1 * ce)
    glnn = GLNN(lam=0.3)(_batch(s, t, ce=ce))
    p1, q1 = torch.softmax(t, 1), torch.softmax(s, 1)
    torch.testing.assert_close(glnn, 0.3 * ce + 0.7 * (p1 * (p1.log() - q1.log())).sum(1).mean())
    labelled = LogitKD(nodes="labelled")(_batch(s, t, ce=ce, loss_rows=torch.tensor([0, 2])))
    kl2 = (p * (p.log() - q.log())).sum(1)[[0, 2]].mean()
    torch.testing.assert_close(labelled, 0.9 * T * T * kl2 + 0.1 * ce)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_each_loss_gradient_moves_the_student_towards_the_teacher(name):
    loss, g, t_logits, t_hidden, gen = _toy(name, 2)
    s_logits = (t_logits + torch.randn(7, 4, generator=gen)).requires_grad_(True)
    s_hidden = (t_hidden + 0.5 * torch.randn(7, 5, generator=gen)).requires_grad_(True)
    value = loss(_batch(s_logits, t_logits, s_hidden, t_hidden, g))
    value.backward()
    if isinstance(loss, LogitKD):  # the descent direction points from the student to the teacher's
        assert float((s_logits.grad * (s_logits - t_logits)).sum().detach()) > 0
        assert s_hidden.grad is None
        step = s_logits - 0.1 * s_logits.grad / s_logits.grad.norm()
        after = loss(_batch(step, t_logits, s_hidden, t_hidden, g))
    else:
        assert s_hidden.grad is not None and float(s_hidden.grad.norm()) > 0
        step = s_hidden - 1e-3 * s_hidden.grad / s_hidden.grad.norm()
        after = loss(_batch(s_logits, t_logits, step, t_hidden, g))
    assert after < value


# --------------------------------------------------------------------------- LSP, dense reference
def _dense_lsp(graph, s, t, kernel, beta):
    """The formula of LSP on dense [N, N] matrices: masked softmax per row, KL(teacher || student)
    per row, the mean over rows with an entry."""
    mask = torch.zeros(graph.num_nodes, graph.num_cols, dtype=torch.bool)
    mask[graph.row_index(), graph.col.long()] = True

    def local_structure(z):
        sq = (z * z).sum(1)
        k = from_dot(kernel, z @ z.t(), sq[:, None], sq[None, :])
        return torch.log_softmax(k.masked_fill(~mask, float("-inf")), 1)

    log_s, log_t = local_structure(s), local_structure(t)
    kl = torch.where(mask, log_t.exp() * (log_t - log_s), torch.zeros(())).sum(1)
    rows = mask.any(1)
    return beta * kl[rows].mean()


@pytest.mark.parametrize("kernel", KERNELS)
def test_lsp_equals_the_dense_reference(kernel):
    g = _graph()
    gen = torch.Generator().manual_seed(3)
    s, t = torch.randn(7, 5, dtype=torch.float64, generator=gen), torch.randn(7, 3, dtype=torch.float64, generator=gen)
    lsp = LSP(kernel=kernel, beta=2.0)
    value = lsp(_batch(torch.zeros(7, 2), torch.zeros(7, 2), s.float(), t.float(), g))
    torch.testing.assert_close(value.double(), _dense_lsp(g, s, t, kernel, 2.0), rtol=1e-4, atol=1e-5)


def test_lsp_never_builds_an_edge_by_feature_tensor(monkeypatch):
    """No tensor of nnz x F elements is allocated: the kernels come from one SDDMM per model."""
    g = _graph()
    seen = []
    real = torch.Tensor.__mul__

    def spy(a, b):
        out = real(a, b)
        seen.append(out.numel())
        return out

    monkeypatch.setattr(torch.Tensor, "__mul__", spy)
    s = torch.randn(7, 64)
    LSP()(_batch(torch.zeros(7, 2), torch.zeros(7, 2), s, s + 1, g))
    assert seen and max(seen) < g.nnz * 64


# ------------------------------------------------------------------------------------ G-CRD
def test_gcrd_loss_decreases_over_a_few_steps_on_a_toy_problem():
    torch.manual_seed(0)
    teacher_z = torch.randn(64, 12)
    student = torch.nn.Linear(12, 6)
    loss = GCRD(6, 12, width=32)
    opt = torch.optim.Adam([*student.parameters(), *loss.parameters()], lr=0.01)
    values = []
    for _ in range(30):
        opt.zero_grad()
        s = student(teacher_z)
        value = loss(_batch(torch.zeros(64, 2), torch.zeros(64, 2), s, teacher_z))
        value.backward()
        opt.step()
        values.append(float(value.detach()))
    assert values[-1] < 0.7 * values[0]


def test_gsp_and_gcrd_sample_at_most_max_samples_nodes():
    torch.manual_seed(0)
    z = torch.randn(50, 4)
    batch = _batch(torch.zeros(50, 2), torch.zeros(50, 2), z, z + 0.1 * torch.randn(50, 4))
    assert float(GSP(max_samples=10)(batch)) > 0 and float(GCRD(4, 4, max_samples=8)(batch).detach()) > 0


# ----------------------------------------------------------------------------- teacher cache
def test_teacher_outputs_are_computed_once(data, teacher):
    calls = []
    handle = teacher.register_forward_hook(lambda *args: calls.append(1))
    seed_everything(0)
    student = GCN(8, 4, 3)
    result = distill(teacher, student, data, ["kd", "lsp"], epochs=5, select="last")
    handle.remove()
    assert len(calls) == 1 and len(result.records) == 5


def test_batched_teacher_cache_equals_one_forward(data):
    torch.manual_seed(0)
    model = GCN(8, 16, 3).eval()  # uncached: every ball aggregates its own subgraph
    graph = data.graph.gcn_norm()
    whole = TeacherCache(model, data.x, graph)
    batched = TeacherCache(model, data.x, graph, batch_size=37)
    torch.testing.assert_close(batched.logits, whole.logits, rtol=1e-5, atol=1e-5)
    for a, b in zip(batched.hidden, whole.hidden):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="norm"):
        TeacherCache(model, data.x, data.graph, batch_size=37)
    with pytest.raises(ValueError, match="cached"):
        TeacherCache(GCN(8, 16, 3, cached=True).eval(), data.x, graph, batch_size=37)


# ------------------------------------------------------------------------------ training
def test_distill_trains_a_student_with_every_loss_full_batch(data, teacher):
    seed_everything(0)
    student = GCN(8, 8, 3)
    result = distill(teacher, student, data, "kd,lsp,gsp,gcrd", epochs=30, options={"gsp": {"beta": 10.0}})
    assert result.acc["test"] > 45 and result.best_state is not None  # three classes: chance is 33
    assert result.records[-1].loss < 0.7 * result.records[0].loss
    seed_everything(0)
    mlp = MLP(8, 16, 3)
    assert distill(teacher, mlp, data, "glnn", epochs=30).acc["test"] > 40


def test_distill_trains_with_a_samplers_batches(data, teacher):
    method = make_method("cluster", data.x, data.graph, data.y, data.train_mask, num_parts=6, batch_size=2)
    seed_everything(0)
    result = distill(teacher, GCN(8, 8, 3), data, ["kd", "lsp", "gcrd"], method=method, epochs=10, select="last")
    assert len(result.records) == 10 and result.acc["test"] > 40


def test_distill_turns_the_neighbour_samplers_blocks_off(data, teacher):
    """Neighbour sampling cuts hop-trimmed blocks by default; the distillation losses read every
    node's row, so the wrapper asks for the square graph."""
    method = make_method("neighbor", data.x, data.graph, data.y, data.train_mask, num_neighbors=[4, 3],
                         batch_size=16, norm="gcn", trim=True)
    assert method.trim
    seed_everything(0)
    result = distill(teacher, GCN(8, 8, 3), data, ["kd", "lsp"], method=method, epochs=3, select="last")
    assert not method.trim and len(result.records) == 3


# ------------------------------------------------------------------ settings chosen on validation
def test_grid_points_spell_out_every_combination_in_order():
    assert grid_points({"alpha": (0.5, 0.9), "temperature": (1, 4)}) == [
        {"alpha": 0.5, "temperature": 1}, {"alpha": 0.5, "temperature": 4},
        {"alpha": 0.9, "temperature": 1}, {"alpha": 0.9, "temperature": 4}]
    points = grid_points(KD_GRID)
    assert len(points) == 6 and {"alpha": 0.9, "temperature": 4.0} in points
    for bad in ({}, {"alpha": ()}, {"alpha": "0.5"}, {"alpha": 0.5}):
        with pytest.raises(ValueError, match="grid"):
            grid_points(bad)


def test_choose_on_validation_never_reads_the_test_accuracies():
    points = grid_points({"t": (1, 2, 4)})
    val = [[70.0, 72.0], [74.0, 73.0], [71.0, 71.0]]
    test = [[99.0, 99.0], [60.0, 62.0], [10.0, 10.0]]  # point 0 has the best test, point 1 the best val
    choice = choose_on_validation(points, val, test)
    assert choice.best == 1 and choice.settings == {"t": 2} and choice.test == [60.0, 62.0]
    assert choice.val_mean == pytest.approx([71.0, 73.5, 71.0])
    assert choice.test_mean == pytest.approx(61.0) and choice.test_std == pytest.approx(2 ** 0.5)
    assert choose_on_validation(points, [[1.0]] * 3, [[3.0], [2.0], [1.0]]).best == 0  # a tie: the earliest
    with pytest.raises(ValueError, match="points"):
        choose_on_validation([], [], [])
    with pytest.raises(ValueError, match="one list per point"):
        choose_on_validation(points, val[:2], test)
    with pytest.raises(ValueError, match="same number"):
        choose_on_validation(points, [[1.0], [1.0, 2.0], [1.0]], test)


# ------------------------------------------------------------------------- KD + Degree-Quant
def test_paper_config_is_degree_quants_settings():
    assert paper_config(8) == QATConfig(8, degree_quant=True, p_range=(0.0, 0.1), percentile=0.001)
    assert paper_config(4) == QATConfig(4, degree_quant=True, p_range=(0.1, 0.2), percentile=0.01)
    assert paper_config(4, degree_quant=False) == QATConfig(4, degree_quant=False, percentile=0.0)
    for bad in (2, 16, True):
        with pytest.raises(ValueError, match="bits"):
            paper_config(bad)


def test_a_degree_quant_student_distilled_from_its_teacher_converts_to_the_integer_model(data, teacher):
    run = QATRun(paper_config(8))
    with pytest.raises(ValueError, match="no model was prepared"):
        run.converted_accuracy(None, data.x, data)
    r = recipe("gcn", epochs=30)
    result = fit_distilled("gcn", data, r, 0, teacher, "kd", data.x, prepare=run.prepare)
    assert type(run.model.convs[0]).__name__ == "QATGCNConv" and result.best_state is not None
    converted = run.converted_accuracy(result, data.x, data)
    assert set(converted) == {"train", "val", "test"}
    assert abs(converted["val"] - result.acc["val"]) <= 2.0  # INT8: the integer model computes the fake-quant one
    kept = QATRun(paper_config(4))
    last = fit_distilled("gcn", data, recipe("gcn", epochs=5), 0, teacher, "kd", data.x, prepare=kept.prepare,
                         keep_best_state=False)
    if last.best_epoch != last.records[-1].epoch:
        with pytest.raises(ValueError, match="not the last"):
            kept.converted_accuracy(last, data.x, data)
    with pytest.raises(TypeError, match="config"):
        QATRun(8)


# ------------------------------------------------------------------------------ bad arguments
def test_bad_arguments_are_refused(data, teacher):
    with pytest.raises(ValueError, match="temperature"):
        LogitKD(temperature=0)
    with pytest.raises(ValueError, match="temperature"):
        LogitKD(temperature=-1.0)
    with pytest.raises(ValueError, match="alpha"):
        LogitKD(alpha=1.5)
    with pytest.raises(ValueError, match="alpha"):
        LogitKD(alpha=-0.1)
    with pytest.raises(ValueError, match="lam"):
        GLNN(lam=2)
    with pytest.raises(ValueError, match="nodes"):
        LogitKD(nodes="train")
    with pytest.raises(ValueError, match="kernel"):
        LSP(kernel="gauss")
    with pytest.raises(ValueError, match="beta"):
        GSP(beta=0)
    with pytest.raises(ValueError, match="tau"):
        GCRD(4, 4, tau=0)
    with pytest.raises(ValueError, match="unknown loss 'fitnet'"):
        distill(teacher, GCN(8, 8, 3), data, ["kd", "fitnet"], epochs=1)
    with pytest.raises(ValueError, match="at least one"):
        build_losses("")
    with pytest.raises(ValueError, match="options"):
        build_losses("kd", options={"lsp": {"beta": 1.0}})
    with pytest.raises(ValueError, match="projection"):
        GCRD(8, 16, projection=False)
    with pytest.raises(ValueError, match="projection"):
        distill(teacher, GCN(8, 8, 3), data, "gcrd", options={"gcrd": {"projection": False}}, epochs=1)
    with pytest.raises(ValueError, match="include the cross-entropy"):
        distill(teacher, GCN(8, 8, 3), data, "kd,glnn", epochs=1)
    with pytest.raises(ValueError, match="layer"):  # a one-layer student has no hidden layer
        distill(teacher, MLP(8, 8, 3, num_layers=1), data, "lsp", epochs=1)
    teacher.train()
    try:
        with pytest.raises(ValueError, match="teacher: in training mode"):
            distill(teacher, GCN(8, 8, 3), data, "kd", epochs=1)
    finally:
        teacher.eval()
    with pytest.raises(ValueError, match="teacher"):  # teacher and student disagree on the classes
        distill(teacher, GCN(8, 8, 5), data, "kd", epochs=1)
    cache = TeacherCache(teacher, data.x, data.graph, hidden=False)
    with pytest.raises(ValueError, match="hidden"):
        Distillation(FullBatch(data.x, data.graph, data.y, data.train_mask), cache, [LSP()])
    shadow = ShaDowKHop(data.x, data.graph, data.y, data.train_mask, depth=2, num_neighbors=3, batch_size=16)
    with pytest.raises(ValueError, match="own loss"):
        Distillation(shadow, cache, [LogitKD()])
    with pytest.raises(TypeError, match="student"):
        distill(teacher, lambda x, g: x, data, "kd")


# ------------------------------------------------------------------------------ Planetoid, bench
@pytest.mark.skipif(find_data_root() is None or not (find_data_root() / "planetoid").is_dir(),
                    reason="Planetoid files not found ($SPARSEGNN_DATA or ../shared/datasets)")
def test_glnn_lifts_an_mlp_towards_its_gcn_teacher_on_cora():
    torch.set_num_threads(1)
    bench = _bench()
    data = load_dataset("cora")
    teacher, x, teacher_acc = bench.train_teacher(data, 0)
    cache = TeacherCache(teacher, x, data.graph, hidden=False)
    mlp = fit_recipe("mlp", data, recipe("mlp"), 0, x, keep_best_state=False).acc["test"]
    glnn_r = recipe("mlp", weight_decay=0.0)  # as bench/distill.py
    glnn = fit_distilled("mlp", data, glnn_r, 0, teacher, "glnn", x, cache, keep_best_state=False).acc["test"]
    assert glnn >= mlp + 10 and glnn >= teacher_acc - 4  # seed 0: 80.7 teacher, 60.4 MLP, 78.5 GLNN


def _bench():
    spec = importlib.util.spec_from_file_location("bench_distill", ROOT / "bench" / "distill.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_latency_reports_every_figure():
    out = _bench().latency(2000, 8000, 100, 16, 16, 4, repeats=1, compiled=False)
    names = ("mlp", "mlp_packed", "mlp_int8", "gather", "gcn", "gcn_packed", "teacher")
    times = {f"{name}_{kind}" for name in names for kind in ("s", "median_s")}
    ratios = {f"speedup{kind}{median}" for kind in ("", "_packed", "_int8") for median in ("", "_median")}
    assert set(out) == {"graph_nnz", "ball_nodes", *ratios, *times}
    assert out["ball_nodes"] >= 100 and all(out[key] > 0 for key in ratios)
    assert out["teacher_s"] == min(out["gcn_s"], out["gcn_packed_s"])  # the faster teacher of each round


# ------------------------------------------------------------------- the teacher checkpoint, CLI
def _teacher_checkpoint(tmp_path, dataset="sbm:300,3,6"):
    """``(path, test accuracy)`` of a gcn teacher checkpointed by ``sparsegnn train --checkpoint``."""
    out = tmp_path / "teacher.json"
    argv = ["train", "--dataset", dataset, "--model", "gcn", "--epochs", "20", "--checkpoint", str(tmp_path / "t"),
            "--json", str(out), "--quiet", "--no-progress"]
    assert main(argv) == 0
    return tmp_path / "t" / "seed-0.ckpt", json.loads(out.read_text())["per_seed"][0]["test_acc"]


def test_load_teacher_reads_a_train_checkpoint_at_its_best_epoch(tmp_path, capsys):
    data = load_dataset("sbm:300,3,6")
    path, test_acc = _teacher_checkpoint(tmp_path)
    teacher, x = load_teacher(path, data, dataset="sbm:300,3,6")
    assert not teacher.training
    with torch.no_grad():
        pred = teacher(x, data.graph).argmax(1)
    acc = 100.0 * float((pred[data.test_mask] == data.y[data.test_mask]).float().mean())
    assert acc == pytest.approx(test_acc)  # the selected epoch's weights
    with pytest.raises(ValueError, match="trained on"):
        load_teacher(path, data, dataset="cora")
    damaged = tmp_path / "damaged.ckpt"
    damaged.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DamagedFileError, match="damaged.ckpt"):
        load_teacher(damaged, data)
    foreign = tmp_path / "foreign.ckpt"  # a checkpoint of distill() without model and recipe
    seed_everything(0)
    distill(teacher, GCN(data.num_features, 8, 3), data, "kd", x=x, epochs=1, checkpoint=foreign, identity={"run": "x"})
    with pytest.raises(ValueError, match="'model' and 'recipe'"):
        load_teacher(foreign, data)


def test_train_command_distils_from_a_teacher_checkpoint(tmp_path, capsys):
    path, _ = _teacher_checkpoint(tmp_path)
    out = tmp_path / "run.json"
    argv = ["train", "--dataset", "sbm:300,3,6", "--model", "mlp", "--epochs", "5", "--teacher", str(path),
            "--distill", "kd,lsp,gcrd", "--json", str(out), "--no-progress", "--quiet"]
    assert main(argv) == 0
    payload = json.loads(out.read_text())
    assert payload["config"]["distill"] == ["kd", "lsp", "gcrd"] and len(payload["per_seed"]) == 1
    argv = ["train", "--dataset", "sbm:300,3,6", "--model", "gcn", "--epochs", "3", "--teacher", str(path),
            "--distill", "glnn", "--method", "cluster", "--num-parts", "6", "--batch-size", "2", "--quiet",
            "--no-progress", "--checkpoint", str(tmp_path / "s")]
    assert main(argv) == 0
    argv[argv.index("--distill") + 1] = "kd"  # a student checkpoint belongs to its teacher and losses
    assert _exit_code(argv[:-2] + ["--resume", str(tmp_path / "s")]) == 2
    assert "distill" in capsys.readouterr().err
    capsys.readouterr()
    for bad, needle in ((["--distill", "kd"], "give both"), (["--teacher", str(path)], "give both"),
                        (["--teacher", str(path), "--distill", "fitnet"], "unknown losses"),
                        (["--teacher", str(tmp_path / "none.ckpt"), "--distill", "kd"], "--teacher"),
                        (["--teacher", str(path), "--distill", "kd,glnn"], "cross-entropy")):
        assert _exit_code(["train", "--dataset", "sbm:300,3,6", "--epochs", "1", "--no-progress", *bad]) == 2
        assert needle in capsys.readouterr().err


def _exit_code(argv):
    try:
        return main(argv)
    except SystemExit as done:  # argparse's own errors
        return done.code


def test_a_distillation_checkpoint_resumes_with_the_losses_state(tmp_path, data, teacher):
    path = tmp_path / "student.ckpt"
    identity = {"student": "gcn", "losses": ["kd", "gcrd"]}
    seed_everything(0)
    whole = distill(teacher, GCN(8, 8, 3), data, "kd,gcrd", epochs=4, select="last")
    seed_everything(0)
    distill(teacher, GCN(8, 8, 3), data, "kd,gcrd", epochs=2, select="last", checkpoint=path, identity=identity)
    seed_everything(1)  # the checkpoint restores every generator
    resumed = distill(teacher, GCN(8, 8, 3), data, "kd,gcrd", epochs=4, select="last", checkpoint=path,
                      identity=identity, resume=True)
    assert [r.loss for r in resumed.records] == pytest.approx([r.loss for r in whole.records], rel=1e-5)


def test_bench_quant_and_tuned_rows_report_every_student(data):
    bench = _bench()
    quant = bench.quant_seed(data, 0, epochs=3)
    assert list(quant) == [bench.TEACHER, "INT8-DQ", "INT8-DQ + KD", "INT4-DQ", "INT4-DQ + KD", bench.GLNN_INT8]
    assert set(quant["INT4-DQ + KD"]) == {"val", "test", "converted_val", "converted_test"}
    assert bench.quant_table({"sbm": {k: [v, v] for k, v in quant.items()}}).count("\n") == 2
    tuned = bench.tuned_seed(data, "cora", 0, epochs=2)
    assert list(tuned) == [label for label, _, _ in bench.TUNED_STUDENTS["cora"]]
    assert all(len(student["kd"]) == len(grid_points(KD_GRID)) for student in tuned.values())
    table = bench.tuned_table({"sbm": {k: [v, v] for k, v in tuned.items()}})
    assert table.count("\n") == 1 + len(tuned) and " / " in table  # the INT4 student's converted accuracy
