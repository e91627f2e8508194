"""bench/upstream_suites.py's own logic (not the upstream suites, which need checkouts): it skips
cleanly without checkouts, extracts a bare git checkout, reads JUnit outcomes and names the
tests that pass upstream but not with the drop-in."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def suites():
    path = ROOT / "bench" / "upstream_suites.py"
    spec = importlib.util.spec_from_file_location("upstream_suites", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    yield mod
    del sys.modules[spec.name]


def test_skips_cleanly_without_checkouts(monkeypatch):
    for var in ("SPARSEGNN_SCATTER_CHECKOUT", "SPARSEGNN_PYG_CHECKOUT"):
        monkeypatch.delenv(var, raising=False)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "upstream_suites.py")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("skipped (no checkout") == 3


def test_checkout_of_a_bare_git_directory(suites, tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    work = tmp_path / "work"
    (work / "test").mkdir(parents=True)
    (work / "test" / "test_one.py").write_text("def test_one():\n    assert True\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(work)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    with suites.checkout(str(bare), "HEAD", ("test/test_one.py",)) as tree:
        assert (tree / "test" / "test_one.py").read_text().startswith("def test_one")
        outcome = suites.run_pytest(tree, ["test/test_one.py"], [], None, tmp_path)
    assert outcome.tests and set(outcome.tests.values()) == {"passed"}
    with suites.checkout(None, "HEAD", ()) as nothing:
        assert nothing is None


def test_junit_outcomes_and_regressions(suites, tmp_path, capsys):
    xml = tmp_path / "junit.xml"
    xml.write_text(
        '<testsuites><testsuite name="s">'
        '<testcase classname="t.a" name="ok"/>'
        '<testcase classname="t.a" name="bad"><failure message="x"/></testcase>'
        '<testcase classname="t.a" name="skip"><skipped message="y"/></testcase>'
        '<testcase classname="t.b" name="err"><error message="z"/></testcase>'
        "</testsuite></testsuites>"
    )
    ours = suites.read_junit(xml)
    assert ours.summary() == "1 passed, 1 failed, 1 skipped, 1 error"
    upstream = suites.Outcome({name: "passed" for name in ours.tests})
    suites.report("demo", upstream, ours, "upstream", show=1)
    out = capsys.readouterr().out
    assert "pass upstream but not with the drop-in: 3" in out
    assert "t.a::bad  [failed]" in out and "... and 2 more" in out
