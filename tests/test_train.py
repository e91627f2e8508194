"""The one training loop (Trainer, FullBatch), the recipes, and ``sparsegnn train``."""

from __future__ import annotations

import json

import pytest
import torch

from sparsegnn.cli import main
from sparsegnn.data import find_data_root, load_dataset, sbm
from sparsegnn.nn import GCN, MLP
from sparsegnn.train import (
    MODELS,
    Batch,
    FullBatch,
    Method,
    Trainer,
    batch_loss,
    fit_recipe,
    recipe,
    seed_everything,
)


def _data():
    return sbm(300, 3, 6.0, num_features=8, seed=0)


def _masks(data):
    return {"train": data.train_mask, "val": data.val_mask, "test": data.test_mask}


def _trainer(data, epochs=30, **kwargs):
    seed_everything(0)
    model = GCN(8, 16, 3)
    method = FullBatch(data.x, data.graph, data.y, data.train_mask)
    return Trainer(model, method, data.y, _masks(data), epochs=epochs, **kwargs)


def test_trainer_learns_and_records_every_epoch():
    data = _data()
    result = _trainer(data).fit()
    assert len(result.records) == 30
    losses = [r.loss for r in result.records]
    assert losses[-1] < 0.8 * losses[0]
    best = result.records[result.best_epoch]
    assert result.acc == best.acc and result.acc["test"] > 60  # three classes: chance is 33
    assert best.acc["val"] == max(r.acc["val"] for r in result.records)
    later = [r for r in result.records[result.best_epoch + 1:] if r.acc["val"] == best.acc["val"]]
    assert not later  # ties go to the later epoch
    record = result.records[0].as_dict()
    for key in ("loss", "train_acc", "val_acc", "test_acc", "val_loss", "epoch_time", "sample_time",
                "compute_time", "peak_rss_mib"):
        assert key in record
    assert record["sample_time"] + record["compute_time"] <= record["epoch_time"]
    assert record["peak_rss_mib"] > 0 and result.best_state is not None


def test_trainer_is_deterministic_per_seed():
    data = _data()
    a = [r.loss for r in _trainer(data, 5).fit().records]
    b = [r.loss for r in _trainer(data, 5).fit().records]
    assert a == b


def test_the_trainers_adam_is_fused_and_steps_as_torchs_loop_does():
    """The default optimizer is torch's fused Adam for CPU parameters (param groups given as
    generators too), and its steps equal the per-tensor loop's to rounding."""
    from sparsegnn.train.loop import adam

    torch.manual_seed(0)
    model = GCN(8, 16, 3)
    fused = _trainer(_data()).optimizer
    assert fused.defaults["fused"] and not fused.defaults["foreach"]
    groups = [{"params": iter([model.convs[0].lin.weight]), "weight_decay": 5e-4}, {"params": model.convs[1].lin.weight}]
    assert adam(groups, 0.01, 0.0).defaults["fused"]
    twins = [[p.detach().clone().requires_grad_() for p in model.parameters()] for _ in range(2)]
    optimizers = [adam(twins[0], 0.01, 5e-4), torch.optim.Adam(twins[1], lr=0.01, weight_decay=5e-4)]
    for step in range(20):
        for params, optimizer in zip(twins, optimizers):
            for k, p in enumerate(params):
                p.grad = torch.cos(torch.arange(p.numel(), dtype=p.dtype) * (step + k + 1)).view_as(p)
            optimizer.step()
    for a, b in zip(*twins):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_selection_val_first_takes_the_earliest_tied_epoch():
    data = _data()
    later, first = _trainer(data, 30).fit(), _trainer(data, 30, select="val-first").fit()
    best = max(r.acc["val"] for r in first.records)
    tied = [r.epoch for r in first.records if r.acc["val"] == best]
    assert first.best_epoch == tied[0] and later.best_epoch == tied[-1]
    assert [r.loss for r in first.records] == [r.loss for r in later.records]  # selection only


def test_selection_last_and_early_stopping():
    data = _data()
    last = _trainer(data, 8, select="last").fit()
    assert last.best_epoch == 7 and last.acc == last.records[-1].acc
    stopped = _trainer(data, 200, patience=3, lr=0.05).fit()
    assert len(stopped.records) < 200
    assert len(stopped.records) - 1 - stopped.best_epoch == 3


def test_best_state_is_the_selected_epochs_weights():
    data = _data()
    trainer = _trainer(data, 20)
    result = trainer.fit()
    trainer.model.load_state_dict(result.best_state)
    acc, _ = trainer.evaluate()
    assert acc == result.acc


def test_trainer_and_method_errors():
    data = _data()
    model, y = MLP(8, 4, 3), data.y
    method = FullBatch(data.x, None, y, data.train_mask)
    for kwargs, name in (({"epochs": 0}, "epochs"), ({"select": "best"}, "select"),
                         ({"patience": 0}, "patience"), ({"lr": 0.0}, "lr")):
        with pytest.raises(ValueError, match=name):
            Trainer(model, method, y, _masks(data), **kwargs)
    with pytest.raises(ValueError, match="masks"):
        Trainer(model, method, y, {"train": data.train_mask})
    with pytest.raises(ValueError, match="train_mask"):
        FullBatch(data.x, None, y, torch.zeros_like(data.train_mask))
    with pytest.raises(ValueError, match="train_mask"):
        FullBatch(data.x, None, y, data.train_mask.long())

    class Empty(Method):
        def batches(self, epoch):
            return []

    with pytest.raises(ValueError, match="no batch"):
        Trainer(model, Empty(), y, _masks(data)).train_epoch(0)


def test_batch_loss_mean_and_weighted_sum():
    logits = torch.randn(5, 3)
    y = torch.tensor([0, 2, 1])
    rows = torch.tensor([4, 0, 2])
    mean = batch_loss(logits, Batch(logits, None, y, loss_rows=rows))
    torch.testing.assert_close(mean, torch.nn.functional.cross_entropy(logits[rows], y))
    weight = torch.tensor([0.5, 2.0, 1.0])
    summed = batch_loss(logits, Batch(logits, None, y, loss_rows=rows, loss_weight=weight))
    per_node = torch.nn.functional.cross_entropy(logits[rows], y, reduction="none")
    torch.testing.assert_close(summed, (per_node * weight).sum())


@pytest.mark.parametrize("model", MODELS)
def test_every_recipe_trains(model):
    data = _data()
    result = fit_recipe(model, data, recipe(model, epochs=40, hidden=16, dropout=0.0 if model == "sgc" else 0.5), seed=0)
    assert result.acc["test"] > 50, model


def test_recipe_overrides():
    assert recipe("gcn", lr=0.1, epochs=None).lr == 0.1
    assert recipe("gcn", epochs=None).epochs == 200
    with pytest.raises(ValueError, match="overrides"):
        recipe("gcn", learning_rate=0.1)
    with pytest.raises(ValueError, match="model"):
        recipe("gat")


@pytest.mark.skipif(find_data_root() is None or not (find_data_root() / "planetoid").is_dir(),
                    reason="Planetoid files not found ($SPARSEGNN_DATA or ../shared/datasets)")
def test_gcn_recipe_on_cora_reaches_the_published_accuracy():
    data = load_dataset("cora")
    result = fit_recipe("gcn", data, recipe("gcn"), seed=0)
    assert result.acc["test"] >= 79.0  # Kipf & Welling 81.5; seeds 0-9 here 82.0 +- 0.9


# -------------------------------------------------------------------------------- the command
def test_train_command_writes_the_documented_json(tmp_path, capsys):
    out = tmp_path / "run.json"
    argv = ["train", "--dataset", "sbm:300,3,6", "--model", "sage", "--epochs", "4", "--seeds", "2",
            "--hidden", "8", "--json", str(out), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.count("epoch ") >= 8 and "test" in text
    payload = json.loads(out.read_text())
    assert payload["schema"] == "sparsegnn-train/1"
    assert len(payload["per_seed"]) == 2 and len(payload["epochs"]) == 8
    mean = sum(s["test_acc"] for s in payload["per_seed"]) / 2
    assert payload["test_acc_mean"] == pytest.approx(mean)
    assert payload["config"]["model"] == "sage" and payload["config"]["hidden"] == 8
    assert "torch" in payload["env"]["versions"]
    assert main(argv[:-3] + ["--no-progress", "--quiet"]) == 0
    assert "seed 0 epoch" not in capsys.readouterr().out


def test_recipe_refuses_settings_no_model_or_loop_takes():
    for field, value in (("dropout", 1.0), ("dropout", -0.1), ("lr", 0.0), ("weight_decay", -1e-4)):
        with pytest.raises(ValueError, match=f"^{field}: expected"):
            recipe("gcn", **{field: value})


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["train", "--dataset", "bogus"], "--dataset"),
        (["train", "--dataset", "file:/nonexistent.npz"], "no such file"),
        (["train", "--model", "gat"], "--model"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--dropout", "1.5"], "--dropout"),
        (["train", "--lr", "-1"], "--lr"),
        (["train", "--weight-decay", "-1"], "--weight-decay"),
    ],
)
def test_train_usage_errors_are_one_line(argv, needle, capsys):
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_train_reads_an_npz_dataset(tmp_path, capsys):
    import numpy as np

    data = _data()
    path = tmp_path / "g.npz"
    np.savez(path, edge_index=data.edge_index.numpy(), x=data.x.numpy(), y=data.y.numpy())
    assert main(["train", "--dataset", f"file:{path}", "--model", "mlp", "--epochs", "2", "--quiet"]) == 0
    assert "mlp on file:" in capsys.readouterr().out
