"""``fastcheck bench``, run in process through ``cli.main`` on tiny networks.

No timing is asserted (other jobs share the machine); what is asserted is that
every engine ran, estimated the gradient it was given (its difference from the
model's exact backward), and that the table's arithmetic holds.
"""

import importlib.util
import json
import sys

import pytest
from clirun import run_cli

ENGINES = ["naive", "python", "generic", "layered", "scipy"]
HAS_TORCH = importlib.util.find_spec("torch") is not None


def run(*args):
    return run_cli("bench", *args)


@pytest.fixture(scope="module")
def quick_json():
    done = run("--quick", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_quick_prints_a_table_of_engines_with_speedups():
    done = run("--quick")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.split()[:1] == ["network"])
    assert header.split() == ["network", "parameters", "engine", "seconds", "coords/s",
                              "speedup", "difference"]
    rows = lines[lines.index(header) + 1:lines.index("", lines.index(header))]
    for engine in ENGINES + (["torch"] if HAS_TORCH else []):
        assert sum(f" {engine} " in row for row in rows) == 2, engine  # one per network
    assert all(row.rstrip().split()[-2].endswith("x") for row in rows)  # the speedup column
    assert any("*" in row for row in rows)  # the sampled network is extrapolated ...
    assert any(line.startswith("* timed on") for line in lines)  # ... and says so
    assert ("torch: not installed" in done.stdout) is not HAS_TORCH
    assert "first calls" in done.stdout


def test_every_engine_estimates_the_gradient(quick_json):
    rows = quick_json["rows"]
    assert sorted({row["network"] for row in rows}) == ["[16,8,1]x8", "seed [4,5,3,1]x3"]
    for row in rows:
        if row["engine"] == "torch":
            assert row["difference"] is None
        else:
            # Against the exact backward: 1e-7 steps (naive) and forward differences
            # (scipy) are the least accurate, at about 1e-7.
            assert row["difference"] < 1e-5, row


def test_rows_are_consistent(quick_json):
    for row in quick_json["rows"]:
        assert row["seconds"] == pytest.approx(
            row["measured"] * row["parameters"] / row["coordinates"])
        assert row["extrapolated"] == (row["coordinates"] < row["parameters"])
        if row["engine"] in ("generic", "layered"):
            assert not row["extrapolated"]  # compiled engines check every coordinate
        naive = next(r for r in quick_json["rows"]
                     if r["network"] == row["network"] and r["engine"] == "naive")
        assert row["speedup"] == pytest.approx(naive["seconds"] / row["seconds"])
    sampled = [r for r in quick_json["rows"] if r["network"] == "[16,8,1]x8"
               and r["engine"] in ("naive", "python", "scipy")]
    assert [r["coordinates"] for r in sampled] == [quick_json["sample"]] * 3
    assert set(quick_json["first_call_seconds"]) >= set(ENGINES)


def test_one_network_from_sizes():
    done = run("--sizes", "6,4,1", "--batch", "5", "--sample", "10", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert {(r["network"], r["parameters"]) for r in rows} == {("[6,4,1]x5", 6 * 4 + 4 + 4 + 1)}
    assert [r["engine"] for r in rows] == ENGINES + (["torch"] if HAS_TORCH else [])


def test_plot_without_matplotlib_exits_2_with_the_install_hint(tmp_path, monkeypatch):
    # None in sys.modules makes `import matplotlib` fail, installed or not.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    done = run("--quick", "--plot", str(tmp_path / "out.png"))
    assert done.returncode == 2
    assert done.stdout == ""  # it failed before benchmarking anything
    assert len(done.stderr.splitlines()) == 1
    assert "pip install fastcheck[plot]" in done.stderr
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("args", [["--quick", "--sizes", "4,1"], ["--batch", "8"],
                                  ["--sample", "0"], ["--sizes", "4"]])
def test_bad_usage_exits_2(args):
    done = run(*args)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("fastcheck: error:")
    assert "Traceback" not in done.stderr
