"""Tests for sparsegnn.data: the Planetoid reader (against PyG on the shared raw files), the
synthetic generators and their spec parser, and the GraphData object."""

from __future__ import annotations

import os
import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sparsegnn.data import (
    GraphData,
    Planetoid,
    find_data_root,
    make_synthetic,
    power_law,
    rmat,
    sbm,
)
from sparsegnn.data import safe_pickle

RAW_PARTS = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
PYG_NAMES = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}


def planetoid_raw_dir(name: str) -> Path:
    """The folder with the shared raw files of ``name``, or skip the test."""
    root = find_data_root()
    if root is None:
        pytest.skip("no data root: set $SPARSEGNN_DATA or provide ../shared/datasets")
    for folder in (root / "planetoid", root):
        if (folder / f"ind.{name}.graph").is_file():
            return folder
    pytest.skip(f"Planetoid raw files for {name} not found under {root}")


def edge_keys(data: GraphData) -> torch.Tensor:
    """Sorted int64 keys target * N + source of the edges."""
    ei = data.edge_index
    return torch.sort(ei[1] * data.num_nodes + ei[0])[0]


def check_simple(data: GraphData) -> None:
    """int64 [2, E] in range, no self loops, no duplicates, sorted by (target, source)."""
    ei = data.edge_index
    assert ei.dtype == torch.int64 and ei.dim() == 2 and ei.size(0) == 2
    if ei.numel():
        assert int(ei.min()) >= 0 and int(ei.max()) < data.num_nodes
    assert not bool((ei[0] == ei[1]).any())
    keys = ei[1] * data.num_nodes + ei[0]
    assert bool((keys[1:] > keys[:-1]).all())


def is_symmetric(data: GraphData) -> bool:
    ei = data.edge_index
    reverse = torch.sort(ei[0] * data.num_nodes + ei[1])[0]
    return torch.equal(edge_keys(data), reverse)


# ------------------------------------------------------------------------------- Planetoid


@pytest.mark.parametrize("name", ["cora", "citeseer"])
def test_planetoid_matches_pyg(name: str, tmp_path: Path) -> None:
    pyg_datasets = pytest.importorskip("torch_geometric.datasets")
    src = planetoid_raw_dir(name)
    raw = tmp_path / PYG_NAMES[name] / "raw"
    raw.mkdir(parents=True)
    for part in RAW_PARTS:
        shutil.copy(src / f"ind.{name}.{part}", raw)
    expected_ds = pyg_datasets.Planetoid(str(tmp_path), PYG_NAMES[name])
    expected = expected_ds[0]

    ours = Planetoid(tmp_path, PYG_NAMES[name])  # also finds PyG's root/<Name>/raw layout
    assert ours.num_nodes == expected.num_nodes
    assert ours.x.dtype == torch.float32 and ours.y.dtype == torch.int64
    assert torch.equal(ours.x, expected.x)
    assert torch.equal(ours.y, expected.y)
    assert torch.equal(ours.edge_index, expected.edge_index)  # same (target, source) order
    for mask in ("train_mask", "val_mask", "test_mask"):
        assert torch.equal(getattr(ours, mask), getattr(expected, mask)), mask
    assert ours.num_features == expected_ds.num_features
    assert ours.num_classes == expected_ds.num_classes


@pytest.mark.parametrize(
    "name, nodes, edges, features, classes",
    [("cora", 2708, 10556, 1433, 7), ("CiteSeer", 3327, 9104, 3703, 6)],
)
def test_planetoid_shapes(name: str, nodes: int, edges: int, features: int, classes: int) -> None:
    planetoid_raw_dir(name.lower())
    data = Planetoid(None, name)
    assert (data.num_nodes, data.num_edges) == (nodes, edges)
    assert (data.num_features, data.num_classes) == (features, classes)
    assert data.x.shape == (nodes, features) and data.y.shape == (nodes,)
    check_simple(data)
    assert is_symmetric(data)
    assert int(data.train_mask.sum()) == 20 * classes
    assert bool(data.train_mask[: 20 * classes].all())
    assert int(data.val_mask.sum()) == 500 and int(data.test_mask.sum()) == 1000
    masks = data.train_mask.int() + data.val_mask.int() + data.test_mask.int()
    assert int(masks.max()) == 1
    assert "edge_index=[2, " in repr(data)


def test_planetoid_graph_is_lazy_and_cached() -> None:
    planetoid_raw_dir("cora")
    data = Planetoid(None, "cora")
    assert data._graph is None
    graph = data.graph
    assert graph is data.graph
    assert graph.num_nodes == data.num_nodes and graph.nnz == data.num_edges
    # CSR rows are targets: row i holds the sources of the edges into i.
    counts = torch.bincount(data.edge_index[1], minlength=data.num_nodes)
    assert torch.equal(graph.rowptr.diff(), counts)
    assert torch.equal(graph.col.long(), data.edge_index[0])


def test_pubmed_without_allx() -> None:
    folder = planetoid_raw_dir("pubmed")
    if not (folder / "ind.pubmed.allx").exists():
        with pytest.raises(FileNotFoundError, match=r"ind\.pubmed\.allx"):
            Planetoid(folder, "pubmed")
    data = Planetoid(folder, "PUBMED", features="random", seed=3)
    assert data.x.shape == (19717, 500) and data.x.dtype == torch.float32
    assert torch.equal(data.x, Planetoid(folder, "pubmed", features="random", seed=3).x)
    assert data.num_classes == 3 and int(data.train_mask.sum()) == 60
    check_simple(data)
    assert is_symmetric(data)
    bare = Planetoid(folder, "pubmed", features="none")
    assert bare.x is None and bare.num_features == 0
    assert torch.equal(bare.edge_index, data.edge_index) and torch.equal(bare.y, data.y)


def test_planetoid_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="name"):
        Planetoid(tmp_path, "reddit")
    with pytest.raises(ValueError, match="features"):
        Planetoid(tmp_path, "cora", features="ones")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match=r"ind\.cora\.graph"):
        Planetoid(tmp_path, "cora")
    (tmp_path / "ind.cora.graph").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"ind\.cora\.y"):
        Planetoid(tmp_path, "cora")


class _RunsCode:
    """Unpickling calls ``fn(*args)``: the shape of a malicious pickle."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_safe_pickle_round_trips_the_planetoid_types(tmp_path: Path, protocol: int) -> None:
    from collections import defaultdict

    import scipy.sparse as sp

    graph = defaultdict(list, {0: [1, 2], 2: [0]})
    dense = np.arange(12, dtype=np.float32).reshape(3, 4)
    sparse = sp.csr_matrix(dense)
    for name, obj in (("graph", graph), ("dense", dense), ("sparse", sparse)):
        (tmp_path / name).write_bytes(pickle.dumps(obj, protocol=protocol))
    assert safe_pickle.load(tmp_path / "graph") == graph
    assert np.array_equal(safe_pickle.load(tmp_path / "dense"), dense)
    assert np.array_equal(safe_pickle.load(tmp_path / "sparse").toarray(), dense)


@pytest.mark.parametrize(
    "payload",
    [
        lambda marker: _RunsCode(open, str(marker), "w"),
        lambda marker: _RunsCode(os.system, f"touch {marker}"),
        lambda marker: _RunsCode(eval, f"open({str(marker)!r}, 'w')"),
        lambda marker: np.array([_RunsCode(open, str(marker), "w")], dtype=object),
    ],
    ids=["open", "os.system", "eval", "inside-an-array"],
)
def test_safe_pickle_refuses_code_and_runs_nothing(tmp_path: Path, payload) -> None:
    marker = tmp_path / "ran"
    bad = tmp_path / "ind.cora.y"
    bad.write_bytes(pickle.dumps(payload(marker), protocol=2))
    with pytest.raises(ValueError, match=r"ind\.cora\.y: refused"):
        safe_pickle.load(bad)
    (tmp_path / "ind.cora.graph").write_bytes(pickle.dumps({0: [1]}, protocol=2))
    with pytest.raises(ValueError, match=r"ind\.cora\.y: refused"):
        Planetoid(tmp_path, "cora")
    assert not marker.exists()


def test_safe_pickle_truncated_or_damaged_names_the_file(tmp_path: Path) -> None:
    full = pickle.dumps(np.arange(1000.0).reshape(10, 100), protocol=2)
    cases = {"truncated": full[: len(full) // 2], "empty": b"", "garbage": b"not a pickle"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=f"{name}: truncated or damaged"):
            safe_pickle.load(tmp_path / name)
    (tmp_path / "ind.cora.graph").write_bytes(pickle.dumps({0: [1]}, protocol=2))
    (tmp_path / "ind.cora.y").write_bytes(full[:-7])
    with pytest.raises(ValueError, match=r"ind\.cora\.y: truncated"):
        Planetoid(tmp_path, "cora")
    (tmp_path / "ind.cora.y").write_bytes(pickle.dumps([1, 2], protocol=2))  # wrong kind
    with pytest.raises(ValueError, match=r"ind\.cora\.y: expected a 2-D"):
        Planetoid(tmp_path, "cora")


@pytest.mark.parametrize("name", ["cora", "citeseer", "pubmed"])
def test_safe_pickle_reads_the_real_files_as_pickle_does(name: str) -> None:
    folder = planetoid_raw_dir(name)
    for part in ("y", "ty", "ally", "tx", "graph"):
        path = folder / f"ind.{name}.{part}"
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            expected = pickle.load(f, encoding="latin1")
        ours = safe_pickle.load(path)
        assert type(ours) is type(expected)
        if part == "graph":
            assert ours == expected
        elif hasattr(expected, "toarray"):
            assert (ours != expected).nnz == 0 and ours.dtype == expected.dtype
        else:
            assert np.array_equal(ours, expected) and ours.dtype == expected.dtype


def test_find_data_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPARSEGNN_DATA", str(tmp_path))
    assert find_data_root() == tmp_path
    monkeypatch.delenv("SPARSEGNN_DATA")
    root = find_data_root()
    assert root is None or (root.is_dir() and root.parts[-2:] == ("shared", "datasets"))


# ------------------------------------------------------------------------------- GraphData


def test_graph_data_validation() -> None:
    ei = torch.tensor([[0, 1], [1, 2]])
    data = GraphData(ei, 3, x=torch.zeros(3, 4), y=torch.tensor([0, 2, 1]))
    assert (data.num_edges, data.num_features, data.num_classes) == (2, 4, 3)
    assert repr(data) == "GraphData(num_nodes=3, edge_index=[2, 2], x=[3, 4], y=[3], num_classes=3)"
    first = data.graph
    data.edge_index = torch.tensor([[2], [0]])
    assert data.graph is not first and data.graph.nnz == 1
    with pytest.raises(TypeError, match="int64"):
        GraphData(ei.int(), 3)
    with pytest.raises(ValueError, match=r"\[2, E\]"):
        GraphData(torch.zeros(3, 2, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="outside"):
        GraphData(ei, 2)
    with pytest.raises(ValueError, match="x must have"):
        GraphData(ei, 3, x=torch.zeros(4, 2))
    empty = GraphData(torch.zeros(2, 0, dtype=torch.long), 0)
    assert (empty.num_edges, empty.num_features, empty.num_classes) == (0, 0, 0)


# ------------------------------------------------------------------------------- generators


def test_power_law() -> None:
    data = power_law(5000, 40000, seed=1)
    assert (data.num_nodes, data.num_edges) == (5000, 40000)
    check_simple(data)
    assert torch.equal(data.edge_index, power_law(5000, 40000, seed=1).edge_index)
    assert not torch.equal(data.edge_index, power_law(5000, 40000, seed=2).edge_index)
    degree = torch.bincount(data.edge_index.flatten(), minlength=5000).double()
    assert degree.max() > 10 * degree.mean()  # heavy tail
    assert degree.max() < 2 * (2 * 40000**0.5)  # capped at about max_degree
    # a steeper exponent gives a lighter tail
    steep = power_law(5000, 40000, exponent=3.5, seed=1)
    assert torch.bincount(steep.edge_index.flatten()).max() < degree.max()
    capped = power_law(5000, 40000, seed=1, max_degree=60)
    assert torch.bincount(capped.edge_index.flatten()).max() < 2 * 60


def test_rmat() -> None:
    data = rmat(10, edge_factor=8, seed=0)
    assert (data.num_nodes, data.num_edges) == (1024, 8192)
    check_simple(data)
    assert torch.equal(data.edge_index, rmat(10, edge_factor=8, seed=0).edge_index)
    assert not torch.equal(data.edge_index, rmat(10, edge_factor=8, seed=1).edge_index)
    degree = torch.bincount(data.edge_index.flatten(), minlength=1024).double()
    assert degree.max() > 5 * degree.mean()
    uniform = rmat(10, edge_factor=8, a=0.25, b=0.25, c=0.25)
    assert torch.bincount(uniform.edge_index.flatten()).max() < degree.max()
    with pytest.raises(ValueError, match="a, b, c"):
        rmat(10, a=0.6, b=0.3, c=0.3)
    with pytest.raises(ValueError, match="scale"):
        rmat(0)


@pytest.mark.parametrize("homophily", [0.1, 0.5, 0.9])
def test_sbm_homophily(homophily: float) -> None:
    data = sbm(4000, 4, 12, homophily=homophily, num_features=16, seed=0)
    assert data.num_edges == 2 * round(4000 * 12 / 2)
    check_simple(data)
    assert is_symmetric(data)
    ei = data.edge_index
    measured = float((data.y[ei[0]] == data.y[ei[1]]).double().mean())
    assert abs(measured - homophily) < 0.03


def test_sbm_features_labels_split() -> None:
    data = sbm(10000, 5, 10, seed=4)
    assert data.x.shape == (10000, 64) and data.x.dtype == torch.float32
    assert data.y.dtype == torch.int64 and data.num_classes == 5
    assert torch.equal(torch.bincount(data.y), torch.full((5,), 2000))
    assert torch.equal(torch.bincount(data.y[data.train_mask]), torch.full((5,), 20))
    assert int(data.val_mask.sum()) == 500 and int(data.test_mask.sum()) == 1000
    masks = data.train_mask.int() + data.val_mask.int() + data.test_mask.int()
    assert int(masks.max()) == 1
    # features carry the class: a nearest-class-mean rule beats chance (0.2) clearly
    means = torch.stack([data.x[data.y == c].mean(0) for c in range(5)])
    accuracy = (torch.cdist(data.x, means).argmin(1) == data.y).double().mean()
    assert accuracy > 0.5
    again = sbm(10000, 5, 10, seed=4)
    for attr in ("edge_index", "x", "y", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(getattr(data, attr), getattr(again, attr)), attr


def test_sbm_small_split_is_proportional() -> None:
    data = sbm(100, 5, 4, seed=0)
    assert int(data.train_mask.sum()) == 10  # 2 per class
    assert int(data.val_mask.sum()) == 30 and int(data.test_mask.sum()) == 60
    one_class = sbm(50, 1, 3, homophily=0.0)
    assert one_class.num_classes == 1 and one_class.num_edges == 2 * 75


@settings(max_examples=25, deadline=None)
@given(
    num_nodes=st.integers(2, 60),
    density=st.floats(0.0, 0.9),
    seed=st.integers(0, 2**31),
)
def test_generators_any_size(num_nodes: int, density: float, seed: int) -> None:
    num_edges = int(density * num_nodes * (num_nodes - 1))
    data = power_law(num_nodes, num_edges, seed=seed)
    assert data.num_edges == num_edges
    check_simple(data)
    avg_degree = density * (num_nodes - 1)
    blocks = sbm(num_nodes, 2, avg_degree, seed=seed)
    assert blocks.num_edges == 2 * round(num_nodes * avg_degree / 2)  # the docstring's count, same float order
    check_simple(blocks)


def test_generator_errors() -> None:
    with pytest.raises(ValueError, match="num_edges"):
        power_law(5, 21)
    with pytest.raises(ValueError, match="exponent"):
        power_law(100, 10, exponent=1.0)
    with pytest.raises(ValueError, match="homophily"):
        sbm(100, 2, 4, homophily=1.5)
    with pytest.raises(ValueError, match="num_classes"):
        sbm(3, 5, 1)


def test_million_edges() -> None:
    data = power_law(100_000, 1_000_000)
    assert data.num_edges == 1_000_000
    check_simple(data)
    graph = rmat(16, edge_factor=16)
    assert (graph.num_nodes, graph.num_edges) == (65536, 1_048_576)
    check_simple(graph)


# ------------------------------------------------------------------------------- spec parser


@pytest.mark.parametrize(
    "spec, name, nodes, edges",
    [
        ("power_law:2000,10000", "power_law", 2000, 10000),
        ("power_law:2000,10000,2.5", "power_law", 2000, 10000),
        (" rmat:8 ", "rmat", 256, 4096),
        ("rmat:8,4", "rmat", 256, 1024),
        ("sbm:1000,4,6", "sbm", 1000, 6000),
        ("sbm:1000,4,6.5,0.3", "sbm", 1000, 6500),
    ],
)
def test_make_synthetic(spec: str, name: str, nodes: int, edges: int) -> None:
    data = make_synthetic(spec, seed=5)
    assert (data.name, data.num_nodes, data.num_edges) == (name, nodes, edges)
    assert torch.equal(data.edge_index, make_synthetic(spec, seed=5).edge_index)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("erdos:10,20", "unknown synthetic graph"),
        ("rmat", "expected rmat:SCALE"),
        ("rmat:", "expected rmat:SCALE"),
        ("rmat:x", "expected rmat:SCALE"),
        ("rmat:8,4,2", "expected rmat:SCALE"),
        ("rmat:8.5", "expected rmat:SCALE"),
        ("sbm:100,2", "expected sbm:NUM_NODES"),
        ("power_law:10", "expected power_law:NUM_NODES"),
        ("power_law:10,1000", "num_edges"),
    ],
)
def test_make_synthetic_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_synthetic(spec)


def test_generated_graph_builds() -> None:
    data = make_synthetic("sbm:500,3,8")
    assert data.graph.nnz == data.num_edges
    assert torch.equal(data.graph.rowptr.diff(), torch.bincount(data.edge_index[1], minlength=500))
    assert np.isclose(data.graph.nnz / data.num_nodes, 8)
