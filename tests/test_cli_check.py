"""``fastcheck check``, run in process through ``cli.main`` (tests/clirun.py), and
once through the installed console script.

Small networks keep each run fast. References are computed in this process with the public API on
the same arrays, so every assertion compares the command line with something
it did not compute itself.
"""

import json
import shutil
import subprocess

import numpy as np
import pytest

import fastcheck as fc
from clirun import run_cli
from fastcheck.models import MLP
from fastcheck.app.registry import random_problem

#: The network every test uses unless it says otherwise: P = 5*4+4 + 3*4+3 = 39.
SMALL = ["--sizes", "5,4,3", "--batch", "6"]


def run(*args, executable=None):
    if executable is None:
        return run_cli(*args)
    return subprocess.run([executable, *args], capture_output=True, text=True, timeout=120)


def run_json(*args):
    done = run("check", *args, "--json")
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def small_problem(seed=0, hidden="relu"):
    """What ``check --sizes 5,4,3 --batch 6 --seed SEED`` checks, built in this process."""
    model = MLP([5, 4, 3], hidden=hidden, output="sigmoid", loss="bce")
    params, X, Y = random_problem(model, 6, seed)
    return model, params, X, Y


def test_exact_backward_passes_with_exit_status_0():
    done = run("check", *SMALL)
    assert done.returncode == 0, done.stderr
    assert "fastcheck PASSED" in done.stdout
    assert "WRONG" not in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("seed", [0, 3])
def test_json_matches_an_in_process_check_on_the_same_seed(seed):
    status, got = run_json(*SMALL, "--seed", str(seed))
    model, params, X, Y = small_problem(seed)
    res = fc.check(model, params, model.backward(params, X, Y), X, Y)
    assert status == 0
    assert got["passed"] is True and got["verdict"] == "pass"
    assert got["difference"] == pytest.approx(res.difference, rel=1e-12, abs=0)
    assert [row["name"] for row in got["per_tensor"]] == ["W1", "b1", "W2", "b2"]
    assert [row["difference"] for row in got["per_tensor"]] == pytest.approx(
        [row.difference for row in res.per_tensor], rel=1e-12)
    assert got["parameters"] == model.n_params == 39


def test_planted_scale_names_the_tensor_and_fails_with_exit_status_1():
    status, got = run_json(*SMALL, "--bug", "W2:scale=2")
    model, params, X, Y = small_problem()
    exact = model.backward(params, X, Y)
    planted = dict(exact, dW2=2 * exact["dW2"])
    layout = model.layout
    # gradapprox is the exact gradient to ~1e-9, so the difference is the planted one's.
    expected = fc.relative_difference(layout.gather_grads(planted), layout.gather_grads(exact))
    assert status == 1
    assert got["passed"] is False and got["verdict"] == "mistake"
    assert got["suspects"] == ["W2"]
    assert got["difference"] == pytest.approx(expected, rel=1e-6)


def test_report_names_the_planted_tensor():
    done = run("check", *SMALL, "--bug", "W2:scale=2")
    assert done.returncode == 1
    assert "fastcheck FAILED" in done.stdout
    assert "wrong gradient in: W2" in done.stdout
    w2 = next(line for line in done.stdout.splitlines() if line.strip().startswith("W2 "))
    assert w2.rstrip().endswith("WRONG")


def test_several_bugs_by_gradient_or_parameter_name():
    status, got = run_json(*SMALL, "--bug", "db1:add=0.1", "--bug", "W1:scale=1.5")
    model, params, X, Y = small_problem()
    grads = model.backward(params, X, Y)
    grads["db1"] = grads["db1"] + 0.1
    grads["dW1"] = grads["dW1"] * 1.5
    res = fc.check(model, params, grads, X, Y)
    assert status == 1
    assert sorted(got["suspects"]) == ["W1", "b1"]
    assert got["difference"] == pytest.approx(res.difference, rel=1e-12)


@pytest.mark.parametrize("args", [
    ["--sizes", "4,x"],                               # a bad flag value
    ["--frobnicate"],                                 # an unknown flag
    ["--engine", "fast"],                             # not a choice
    ["--bug", "W2:mul=2"],                            # a bad --bug
    ["--bug", "W9:scale=2"],                          # a tensor the model does not have
    ["--threads", "999"],                             # fastcheck.errors.OptionError
    ["--sample", "1000"],                             # more coordinates than parameters
    ["--output", "softmax", "--loss", "bce"],         # a pair MLP rejects
    ["--directions", "3", "--engine", "python"],      # flags that do not go together
    ["--params", "no-such-file.npz"],                 # an unreadable file
])
def test_bad_usage_exits_2_with_one_line_and_no_traceback(args):
    done = run("check", *SMALL, *args)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("fastcheck: error: ")


def test_options_reach_the_check():
    args = ["--method", "richardson", "--sample", "20", "--eps", "1e-5",
            "--threshold", "1e-6", "--engine", "generic", "--threads", "1", "--seed", "2"]
    status, got = run_json(*SMALL, *args)
    model, params, X, Y = small_problem(2)
    res = fc.check(model, params, model.backward(params, X, Y), X, Y, method="richardson",
                   sample=20, eps=1e-5, threshold=1e-6, engine="generic", seed=2)
    assert status == 0
    assert (got["method"], got["engine"], got["eps"], got["threshold"], got["checked"]) == \
        ("richardson", "generic", 1e-5, 1e-6, 20)
    assert got["difference"] == pytest.approx(res.difference, rel=1e-12)


def test_directions_find_a_mistake_and_match_check_directions():
    status, got = run_json(*SMALL, "--directions", "4", "--bug", "W1:scale=1.5")
    model, params, X, Y = small_problem()
    grads = model.backward(params, X, Y)
    grads["dW1"] = 1.5 * grads["dW1"]
    res = fc.check_directions(model, params, grads, X, Y, n=4, seed=0)
    assert status == 1
    assert len(got["directions"]["errors"]) == 4
    assert got["difference"] == pytest.approx(res.difference, rel=1e-12)


def test_npz_round_trip(tmp_path):
    """Your own parameters, gradients and data, in .npz files, checked as given."""
    model = MLP([5, 4, 3], hidden="tanh", output="softmax", loss="ce")
    rng = np.random.default_rng(42)
    params = {name: rng.standard_normal(shape)
              for name, shape in zip(model.layout.names, model.layout.shapes)}
    X, labels = rng.standard_normal((5, 7)), rng.integers(0, 3, size=7)
    grads = model.backward(params, X, labels)
    np.savez(tmp_path / "p.npz", **params)
    np.savez(tmp_path / "d.npz", X=X, Y=labels)
    # Gradients keyed like the parameters (W1), with a mistake planted in W1 alone.
    wrong = {name[1:]: value for name, value in grads.items()}
    wrong["W1"] = wrong["W1"].copy()
    wrong["W1"][2, 3] += 1e-3
    np.savez(tmp_path / "g.npz", **wrong)
    files = ["--sizes", "5,4,3", "--hidden", "tanh", "--loss", "ce",
             "--params", str(tmp_path / "p.npz"), "--data", str(tmp_path / "d.npz")]

    status, got = run_json(*files)
    res = fc.check(model, params, grads, X, labels)
    assert status == 0
    assert got["difference"] == pytest.approx(res.difference, rel=1e-12)

    status, got = run_json(*files, "--grads", str(tmp_path / "g.npz"))
    res = fc.check(model, params, wrong, X, labels)
    assert status == 1
    assert got["suspects"] == ["W1"]
    assert got["per_tensor"][0]["worst_index"] == [2, 3]
    assert got["difference"] == pytest.approx(res.difference, rel=1e-12)


@pytest.mark.parametrize("case", ["no Y", "not an archive", "wrong shape"])
def test_bad_npz_files_exit_2(tmp_path, case):
    model = MLP([5, 4, 3])
    params = model.init_params(0)
    if case == "no Y":
        np.savez(tmp_path / "d.npz", X=np.zeros((5, 2)))
        args, said = ["--data", str(tmp_path / "d.npz")], "Y"
    elif case == "not an archive":
        (tmp_path / "p.npz").write_text("W1 = 3")
        args, said = ["--params", str(tmp_path / "p.npz")], "is not an .npz archive"
    else:
        np.savez(tmp_path / "p.npz", **dict(params, W2=np.zeros((3, 5))))
        args, said = ["--params", str(tmp_path / "p.npz")], "W2"
    done = run("check", *SMALL, *args)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and said in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_console_script_runs_the_same_command():
    path = shutil.which("fastcheck")
    assert path is not None, "the fastcheck console script is not on PATH"
    done = run("check", *SMALL, "--bug", "b2:add=0.5", executable=path)
    assert done.returncode == 1
    assert "wrong gradient in: b2" in done.stdout
