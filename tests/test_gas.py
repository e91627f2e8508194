"""GNNAutoScale (sparsegnn.gas): histories, halo batches, layer-wise inference, GAS training,
resume after kill -9, agreement across ranks, and ``sparsegnn train --method gas``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from sparsegnn.cli import main
from sparsegnn.data import find_data_root, load_dataset, sbm
from sparsegnn.gas import GAS, PYGAS_RECIPE, GASModel, History, HaloBatcher, Transfers, halo_graph, quantize_rows
from sparsegnn.graph import k_hop, partition
from sparsegnn.nn import EGC, GCN, MLP, SAGE
from sparsegnn.nn.gcn_conv import aggregate_first
from sparsegnn.train import FullBatch, Trainer, fit_recipe, recipe, seed_everything

ROOT = Path(__file__).resolve().parents[1]
DTYPES = ["float32", "float16", "bfloat16", "int8"]


def _data(n=300):
    return sbm(n, 3, 6.0, num_features=8, seed=0)


def _masks(data):
    return {"train": data.train_mask, "val": data.val_mask, "test": data.test_mask}


def _stack(kind, layers=2):
    if kind == "gcn":
        return GCN(8, 16, 3, layers, 0.5)
    if kind == "sage":
        return SAGE(8, 16, 3, layers, 0.5)
    return EGC(8, 16, 3, layers, 0.5, aggregators=["symnorm", "max"], num_heads=4, num_bases=2)


def _bound(data, kind="gcn", layers=2, **options):
    method = GAS(data.x, data.graph, data.y, data.train_mask, **{"num_parts": 6, "batch_size": 2, **options})
    model = method.wrap(_stack(kind, layers))
    method.bind(model)
    return method, model


# -- History -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_history_round_trip_error_bounds(dtype):
    torch.manual_seed(0)
    x = torch.randn(50, 12) * torch.logspace(-2, 2, 50)[:, None]
    x[3] = 0.0  # a zero row (int8 scale 0)
    h = History(50, 12, dtype)
    h.push(x)
    back = h.pull()
    assert back.dtype == torch.float32 and back.shape == (50, 12)
    err = (back - x).abs()
    if dtype == "float32":
        assert torch.equal(back, x)
    elif dtype == "float16":
        assert bool((err <= 2**-11 * x.abs()).all())
    elif dtype == "bfloat16":
        assert bool((err <= 2**-8 * x.abs()).all())
    else:  # per-row int8: |x - x̂| <= max|x_row| / 254 * (1 + 2^-7)
        bound = x.abs().amax(1, keepdim=True) / 254 * (1 + 2**-7)
        assert bool((err <= bound).all())
        assert torch.equal(back[3], torch.zeros(12))


def test_int8_history_memory_and_quantize_rows():
    assert History(1000, 16, "int8").nbytes <= 0.3 * History(1000, 16, "float32").nbytes
    assert History(1000, 16, "float16").nbytes == History(1000, 16, "float32").nbytes // 2
    q, scale = quantize_rows(torch.tensor([[1.0, -2.0, 0.5], [0.0, 0.0, 0.0]]))
    assert q.dtype == torch.int8 and int(q.abs().max()) >= 126 and float(scale[1]) == 0.0
    assert float(scale[0]) >= 2.0 / 127  # rounded up: no clipping


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_history_ids_and_chunks(dtype):
    h = History(20, 4, dtype)
    x = torch.arange(80, dtype=torch.float32).reshape(20, 4) / 10
    ids = torch.tensor([5, 0, 19])
    h.push(x[ids], ids)
    exact = dtype == "float32"
    check = torch.equal if exact else (lambda a, b: torch.allclose(a, b, atol=0.05))
    assert check(h.pull(ids), x[ids])
    h.push_chunks(x[[2, 3, 4, 10, 11]], torch.tensor([2, 10]), torch.tensor([3, 2]))
    assert check(h.pull_chunks(torch.tensor([2, 10]), torch.tensor([3, 2])), x[[2, 3, 4, 10, 11]])
    assert check(h.pull(torch.tensor([4, 11])), x[[4, 11]])
    assert torch.equal(h.pull(torch.tensor([1])), torch.zeros(1, 4))  # untouched rows stay zero
    state = h.state()
    other = History(20, 4, dtype)
    other.load_state(state)
    assert torch.equal(other.pull(), h.pull())


def test_history_bad_arguments():
    with pytest.raises(ValueError, match="dtype"):
        History(10, 4, "int4")
    with pytest.raises(ValueError, match="num_nodes"):
        History(0, 4)
    h = History(10, 4)
    with pytest.raises(ValueError, match="4 channels"):
        h.push(torch.zeros(2, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"n_id: ids must lie in \[0, 10\)"):
        h.pull(torch.tensor([3, 10]))
    with pytest.raises(ValueError, match="n_id"):
        h.push(torch.zeros(1, 4), torch.tensor([-1]))
    with pytest.raises(ValueError, match="n_id"):
        h.pull(torch.tensor([0.0]))
    with pytest.raises(ValueError, match="rows"):
        h.push(torch.zeros(3, 4), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="chunk"):
        h.push_chunks(torch.zeros(4, 4), torch.tensor([8]), torch.tensor([4]))
    with pytest.raises(ValueError, match="history rows"):
        h.load_state(History(10, 4, "float16").state())
    with pytest.raises(ValueError, match="channels"):
        Transfers().push_chunks(h, torch.zeros(2, 3), torch.tensor([0]), torch.tensor([2]))


def test_transfers_run_in_issue_order():
    h = History(100, 8)
    t = Transfers()
    ids = torch.arange(100)
    for k in range(5):
        t.push_chunks(h, torch.full((100, 8), float(k)), torch.tensor([0]), torch.tensor([100]))
        assert torch.equal(t.pull(h, ids, torch.device("cpu")).wait(), torch.full((100, 8), float(k)))
    t.wait_all()


# -- halo batches ----------------------------------------------------------------------------
def test_halo_equals_the_induced_one_hop_structure():
    data = _data(200)
    adj = data.graph.gcn_norm()
    targets = torch.tensor([7, 3, 150, 42, 99])
    graph, halo = halo_graph(adj, targets)
    ball, hops = k_hop(adj, targets, 1)
    assert torch.equal(halo, torch.sort(ball[hops == 1]).values)
    assert graph.shape == (5, 5 + halo.numel()) and graph.norm == "gcn"
    columns = torch.cat([targets, halo])
    assert torch.equal(graph.to_dense(), adj.to_dense()[targets][:, columns])


def test_halo_batcher_rows_are_contiguous_parts():
    data = _data(200)
    part = partition(data.graph, 5)
    batcher = HaloBatcher(data.graph, part)
    batch = batcher(torch.tensor([3, 1]))
    targets = torch.cat([part.nodes(3), part.nodes(1)])
    assert torch.equal(batch.target_ids, targets)
    assert batch.offsets.tolist() == [int(part.partptr[3]), int(part.partptr[1])]
    assert torch.equal(part.perm[batch.rows], batch.node_ids)  # history row r holds node perm[r]


# -- the model -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["gcn", "sage", "egc"])
def test_fresh_history_inference_equals_full_batch(kind):
    data = _data()
    seed_everything(0)
    method, model = _bound(data, kind, layers=3)
    model.eval()
    full = model.stack(data.x, data.graph)
    first = model.inference(data)  # fills the histories
    again = model.inference(data)  # reads fresh histories
    assert torch.allclose(first, full, atol=1e-5)  # first pass: exact inputs, same as full batch
    if kind == "gcn":
        assert torch.equal(again, full)  # float32 histories: exactly the full-batch forward
    else:
        assert torch.allclose(again, full, atol=1e-6, rtol=1e-6)


def test_aggregate_first_steps_equal_pyg_order():
    """GCN layers aggregating before their linear map on the batch graphs (GASModel(reorder=True))
    give the same loss, gradients and pushed history rows as PyG's order, up to float rounding."""
    data = _data()
    runs = []
    for reorder in (False, True):
        seed_everything(0)
        method = GAS(data.x, data.graph, data.y, data.train_mask, num_parts=6, batch_size=2)
        model = GASModel(GCN(8, 32, 3, 3, 0.5), method.partition, 2, reorder=reorder)
        method.bind(model)
        batch = next(iter(method.batches(0)))
        model.train()
        torch.manual_seed(1)
        loss = method.loss(model, batch)
        loss.backward()
        model.transfers.wait_all()
        runs.append((loss.detach(), [p.grad.clone() for p in model.parameters()], model.histories[0].pull()))
    with aggregate_first():
        conv, graph = model.stack.convs[0], batch.graph
        assert conv.aggregates_first(batch.x, graph)  # the 8 -> 32 layer on the halo batch reorders
        assert not conv.aggregates_first(batch.x.to_sparse(), graph)
        assert not model.stack.convs[1].aggregates_first(torch.zeros(300, 32), data.graph.gcn_norm())  # square
    assert not conv.aggregates_first(batch.x, graph)  # off outside the context
    (loss0, grads0, hist0), (loss1, grads1, hist1) = runs
    assert torch.allclose(loss0, loss1, rtol=1e-6)
    for g0, g1 in zip(grads0, grads1):
        assert torch.allclose(g0, g1, rtol=1e-4, atol=1e-6)
    assert torch.allclose(hist0, hist1, rtol=1e-5, atol=1e-6)


def test_gas_model_bad_arguments():
    data = _data()
    method = GAS(data.x, data.graph, data.y, data.train_mask, num_parts=4, batch_size=2)
    with pytest.raises(TypeError, match="GCN, SAGE or EGC"):
        method.wrap(MLP(8, 16, 3))
    with pytest.raises(ValueError, match="cached"):
        method.wrap(GCN(8, 16, 3, cached=True))
    with pytest.raises(TypeError, match="GASModel"):
        method.bind(GCN(8, 16, 3))
    with pytest.raises(ValueError, match="history_dtype|dtype"):
        GAS(data.x, data.graph, data.y, data.train_mask, history_dtype="int4")
    with pytest.raises(ValueError, match="num_parts"):
        GAS(data.x, data.graph, data.y, data.train_mask, num_parts=10_000)
    with pytest.raises(ValueError, match="histories have"):
        method.bind(GASModel(GCN(8, 16, 3), partition(_data(17).graph, 2)))
    with pytest.raises(ValueError, match="another partition"):
        method.bind(GASModel(GCN(8, 16, 3), partition(data.graph, 3)))
    with pytest.raises(TypeError, match="Partition"):
        GASModel(GCN(8, 16, 3), 300)
    with pytest.raises(ValueError, match="batch_size"):
        GASModel(GCN(8, 16, 3), method.partition, 0)
    model = method.wrap(GCN(8, 16, 3))
    with pytest.raises(ValueError, match="data: expected x of 300 rows"):
        model.inference(_data(17))
    with pytest.raises(ValueError, match="graph: expected the square"):
        model.inference(type("D", (), {"x": data.x, "graph": None})())
    with pytest.raises(ValueError, match="expected 1 histories"):
        _, model = _bound(data)
        m2, _ = _bound(data)
        m2.load_state_dict({"histories": []})


def test_one_part_equals_full_batch_step_for_step():
    data = _data()
    records = []
    for gas in (False, True):
        seed_everything(3)
        stack = GCN(8, 16, 3)
        if gas:
            method = GAS(data.x, data.graph, data.y, data.train_mask, num_parts=1, batch_size=1)
            model = method.wrap(stack)
        else:
            method, model = FullBatch(data.x, data.graph, data.y, data.train_mask), stack
        trainer = Trainer(model, method, data.y, _masks(data), epochs=15, param_groups=stack.param_groups(5e-4, True),
                          grad_clip=1.0)
        records.append([(r.loss, r.acc, r.eval_loss) for r in trainer.fit().records])
    assert records[0] == records[1]


@pytest.mark.parametrize("kind,dtype", [("gcn", "int8"), ("sage", "float16"), ("egc", "float32")])
def test_gas_trains_every_model(kind, dtype):
    data = _data()
    seed_everything(0)
    method = GAS(data.x, data.graph, data.y, data.train_mask, num_parts=4, batch_size=2, history_dtype=dtype)
    trainer = Trainer(method.wrap(_stack(kind)), method, data.y, _masks(data), epochs=40, grad_clip=1.0)
    result = trainer.fit()
    assert result.acc["val"] > 60.0
    assert result.records[-1].loss < result.records[0].loss


def test_fit_recipe_wraps_and_clips():
    data = _data()
    made = []

    def factory(x, seed):
        made.append(GAS(x, data.graph, data.y, data.train_mask, num_parts=6, batch_size=2, seed=seed))
        return made[-1]

    result = fit_recipe("gcn", data, recipe("gcn", epochs=5), 0, method=factory)
    assert isinstance(made[0].model, GASModel) and len(result.records) == 5
    assert made[0].grad_clip == 1.0
    unclipped = GAS(data.x, data.graph, data.y, data.train_mask, num_parts=6, batch_size=2, grad_clip=None)
    assert unclipped.grad_clip is None  # PyGAS's CiteSeer setting
    with pytest.raises(ValueError, match="grad_clip"):
        GAS(data.x, data.graph, data.y, data.train_mask, num_parts=6, batch_size=2, grad_clip=0)
    assert set(result.best_state) == {f"stack.{k}" for k in GCN(8, 16, 3).state_dict()}


# -- checkpoints: resume after kill -9 -----------------------------------------------------------
SCRIPT = textwrap.dedent("""
    import os, signal, sys, json
    import torch
    torch.set_num_threads(1)
    from sparsegnn.data import sbm
    from sparsegnn.gas import GAS
    from sparsegnn.train import fit_recipe, recipe
    data = sbm(300, 3, 6.0, num_features=8, seed=0)
    path, kill_at = sys.argv[1], int(sys.argv[2])
    def on_epoch(record):
        if record.epoch == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
    method = lambda x, seed: GAS(x, data.graph, data.y, data.train_mask, num_parts=6, batch_size=2,
                                 history_dtype="int8", seed=seed)
    result = fit_recipe("gcn", data, recipe("gcn", epochs=8), 0, method=method, on_epoch=on_epoch,
                        checkpoint=path if path != "-" else None, resume=path != "-", identity={"test": "gas"})
    print(json.dumps([[r.loss, r.acc] for r in result.records]))
""")


def _run(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", SCRIPT, *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)


def test_resume_with_histories_after_kill_9(tmp_path):
    straight = _run(tmp_path, "-", -1)
    assert straight.returncode == 0, straight.stderr
    path = tmp_path / "gas.ckpt"
    killed = _run(tmp_path, path, 3)
    assert killed.returncode == -signal.SIGKILL and path.exists()
    resumed = _run(tmp_path, path, -1)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == json.loads(straight.stdout)


# -- agreement across ranks ---------------------------------------------------------------------
def _agree_worker(rank, world, init, dtype, out):
    import torch.distributed as dist

    from sparsegnn.gas.method import agreed

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.manual_seed(rank)
    h = History(30, 5, dtype)
    h.push(torch.randn(30, 5) * (rank + 1))
    mine = (torch.arange(30) % world) == rank
    for storage in (h.emb, h.scale):
        if storage is not None:
            storage.copy_(agreed(storage, mine))
    torch.save({"rank": rank, "rows": h.pull()}, f"{out}/{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "int8"])
def test_histories_agree_across_ranks(tmp_path, dtype):
    world = 2
    mp.spawn(_agree_worker, args=(world, f"file://{tmp_path}/store", dtype, str(tmp_path)), nprocs=world)
    rows = [torch.load(tmp_path / f"{r}.pt")["rows"] for r in range(world)]
    assert torch.equal(rows[0], rows[1])
    for r in range(world):  # each row is the value its owner pushed
        h = History(30, 5, dtype)
        torch.manual_seed(r)
        h.push(torch.randn(30, 5) * (r + 1))
        own = (torch.arange(30) % world) == r
        assert torch.equal(rows[0][own], h.pull()[own])


# -- the command line ---------------------------------------------------------------------------
def test_train_command_with_gas(tmp_path, capsys):
    out = tmp_path / "run.json"
    code = main(["train", "--dataset", "sbm:300,3,6", "--method", "gas", "--history-dtype", "int8", "--num-parts",
                 "6", "--batch-size", "2", "--epochs", "4", "--quiet", "--threads", "1", "--json", str(out)])
    assert code == 0
    payload = json.loads(out.read_text())
    assert payload["config"]["method"] == "gas" and payload["config"]["history_dtype"] == "int8"
    assert payload["config"]["num_parts"] == 6 and len(payload["epochs"]) == 4


def test_gas_takes_pygas_settings_of_planetoid_datasets():
    from sparsegnn.sampling import paper_defaults, recipe_overrides

    assert paper_defaults("gas", "CiteSeer") == {"num_parts": 24, "batch_size": 8, "grad_clip": None,
                                                 "history_dtype": "float32"}
    assert paper_defaults("gas", "cora")["grad_clip"] == 1.0 and paper_defaults("gas", "sbm:300,3,6") == paper_defaults("gas")
    assert paper_defaults("cluster", "cora") == paper_defaults("cluster")
    assert recipe_overrides("gas") == PYGAS_RECIPE and recipe_overrides("cluster") == {}
    with pytest.raises(ValueError, match="method"):
        paper_defaults("gcn")


@pytest.mark.skipif(find_data_root() is None or not (find_data_root() / "planetoid").is_dir(),
                    reason="Planetoid data not found (set SPARSEGNN_DATA)")
def test_train_command_gas_on_citeseer_runs_pygas_recipe(tmp_path):
    out = tmp_path / "run.json"
    assert main(["train", "--dataset", "citeseer", "--method", "gas", "--epochs", "2", "--quiet", "--threads", "1",
                 "--json", str(out)]) == 0
    config = json.loads(out.read_text())["config"]
    assert config["method_settings"] == {"num_parts": 24, "batch_size": 8, "grad_clip": None, "history_dtype": "float32"}
    assert config["select"] == "val-first" and config["first_layer_decay_only"] is True


def test_train_command_gas_usage_errors(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--method", "gas", "--history-dtype", "int4"])
    assert "history-dtype" in capsys.readouterr().err


@pytest.mark.skipif(find_data_root() is None or not (find_data_root() / "planetoid").is_dir(),
                    reason="Planetoid data not found (set SPARSEGNN_DATA)")
def test_gas_on_cora_reaches_pygas_accuracy():
    data = load_dataset("cora")
    method = lambda x, seed: GAS(x, data.graph, data.y, data.train_mask, num_parts=40, batch_size=10, seed=seed)  # noqa: E731
    result = fit_recipe("gcn", data, recipe("gcn"), 0, method=method, keep_best_state=False)
    assert result.acc["test"] > 80.0


def _ddp_worker(rank, world, init, out):
    import torch.distributed as dist

    from sparsegnn.train.distributed import Distributed

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.set_num_threads(1)
    data = _data()
    snaps = []

    class Probe(GAS):
        def end_epoch(self, epoch):
            super().end_epoch(epoch)
            snaps.append([h.pull() for h in self.model.histories])

    method = lambda x, seed: Probe(x, data.graph, data.y, data.train_mask, num_parts=6, batch_size=1,  # noqa: E731
                                   history_dtype="float16", seed=seed)
    result = fit_recipe("gcn", data, recipe("gcn", epochs=3, layers=3), 0, method=method,
                        distributed=Distributed(rank, world), keep_best_state=False)
    torch.save({"snaps": snaps, "acc": result.acc}, f"{out}/{rank}.pt")
    dist.destroy_process_group()


def test_gas_under_ddp_keeps_histories_consistent(tmp_path):
    world = 2
    mp.spawn(_ddp_worker, args=(world, f"file://{tmp_path}/store", str(tmp_path)), nprocs=world)
    runs = [torch.load(tmp_path / f"{r}.pt") for r in range(world)]
    assert len(runs[0]["snaps"]) == 3 and runs[0]["acc"] == runs[1]["acc"]
    for mine, theirs in zip(runs[0]["snaps"], runs[1]["snaps"]):
        assert all(torch.equal(a, b) for a, b in zip(mine, theirs))


def _cli(tmp_path, *args, ranks=1):
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={ranks}"] if ranks > 1 else []
    base = ["--dataset", "sbm:300,3,6", "--method", "gas", "--history-dtype", "int8", "--num-parts", "6",
            "--batch-size", "1", "--quiet", "--threads", "1"]
    done = subprocess.run([sys.executable, *launcher, "-m", "sparsegnn", "train", *base, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    out = Path(args[args.index("--json") + 1])
    return [(e["epoch"], e["loss"], e["val_acc"]) for e in json.loads(out.read_text())["epochs"]]


@pytest.mark.parametrize("ranks", [1, 2])
def test_train_command_gas_resumes_from_its_checkpoints(tmp_path, ranks):
    straight = _cli(tmp_path, "--epochs", "8", "--json", str(tmp_path / "a.json"), ranks=ranks)
    folder = tmp_path / "ckpt"
    _cli(tmp_path, "--epochs", "4", "--checkpoint", str(folder), "--json", str(tmp_path / "b.json"), ranks=ranks)
    resumed = _cli(tmp_path, "--epochs", "8", "--resume", str(folder), "--json", str(tmp_path / "c.json"), ranks=ranks)
    assert resumed == straight
