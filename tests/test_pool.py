"""The process-pool driver: a long Python check on every core, bit-identical to one
process, chosen only when no option says how to run, and never from a script that
would run its check again in each worker."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.drivers import DRIVERS, pool
from fastcheck.errors import CostError

ROOT = Path(__file__).resolve().parents[1]


def relu_net(seed=0):
    """A two-layer ReLU net (kinks: the closer look runs), X (12, 6), 3 outputs."""
    rng = np.random.default_rng(seed)
    X, y = rng.standard_normal((12, 6)), rng.standard_normal((12, 3))
    params = {"W1": 0.5 * rng.standard_normal((6, 8)), "b1": np.zeros((1, 8)),
              "W2": 0.5 * rng.standard_normal((8, 3))}
    return params, X, y


def cost(params, X, y):
    h = np.maximum(0, X @ params["W1"] + params["b1"])
    return 0.5 * np.sum((h @ params["W2"] - y) ** 2)


def backward(params, X, y):
    z = X @ params["W1"] + params["b1"]
    h = np.maximum(0, z)
    dout = h @ params["W2"] - y
    dz = (dout @ params["W2"].T) * (z > 0)
    return {"W1": X.T @ dz, "b1": dz.sum(axis=0, keepdims=True), "W2": h.T @ dout}


@pytest.fixture
def always_pool(monkeypatch):
    """Every python-engine check counts as long enough for the pool, on every core
    (the shared test machine's are often busy)."""
    monkeypatch.setattr(pool, "POOL_SECONDS", 0.0)
    monkeypatch.setattr(pool, "idle_cores", pool.cores)


def test_registered_beside_dask():
    assert DRIVERS["pool"].module == "fastcheck.drivers.pool"


def test_pool_is_bit_identical_to_one_process(always_pool, monkeypatch):
    params, X, y = relu_net()
    grads = backward(params, X, y)
    grads["W2"] = grads["W2"] * 1.01  # wrong: the closer look runs too
    reusing = fc.check(cost, params, grads, X, y, jit=False, threads=1)
    # The workers' closer look evaluates all four points; one process takes two of
    # them from its first pass (costs/reuse.py), which is all that differs.
    from fastcheck.costs.reuse import StepValues
    monkeypatch.setattr(StepValues, "fitting", classmethod(lambda cls, size, slots: None))
    here = fc.check(cost, params, grads, X, y, jit=False, threads=1)
    assert reusing.evaluations < here.evaluations and str(reusing.located) == str(here.located)
    there = fc.check(cost, params, grads, X, y, jit=False)
    assert any("worker processes" in note for note in there.notes)
    assert not any("worker processes" in note for note in here.notes)
    for name in ("gradapprox_flat", "error_flat", "indices", "judgement"):
        assert np.array_equal(getattr(here, name), getattr(there, name), equal_nan=True), name
    assert here.kinks == there.kinks and here.verdict == there.verdict == "mistake"
    assert here.evaluations == there.evaluations


def test_options_choose_otherwise(always_pool):
    params, X, y = relu_net()
    grads = backward(params, X, y)
    res = fc.check(cost, params, grads, X, y, jit=False, threads=1)
    assert res.passed and not any("worker processes" in note for note in res.notes)


def test_busy_cores_run_here_and_say_why(monkeypatch):
    monkeypatch.setattr(pool, "POOL_SECONDS", 0.0)
    monkeypatch.setattr(pool.os, "getloadavg", lambda: (pool.cores() + 4.0, 0.0, 0.0))
    params, X, y = relu_net()
    res = fc.check(cost, params, backward(params, X, y), X, y, jit=False)
    assert res.passed and any("keep this machine's" in note for note in res.notes)
    assert not any("worker processes" in note for note in res.notes)


def test_short_checks_stay_here():
    params, X, y = relu_net()
    res = fc.check(cost, params, backward(params, X, y), X, y, jit=False)
    assert res.passed and not any("worker processes" in note for note in res.notes)


def raising_cost(params, X, y):
    if params["W1"][2, 3] > 10.0:
        raise ValueError("too large")
    return cost(params, X, y)


def test_a_cost_that_raises_in_a_worker(always_pool):
    params, X, y = relu_net()
    params["W1"][2, 3] = 10.0  # +h raises
    with pytest.raises(CostError, match=r"W1\[2, 3\]") as there:
        fc.check(raising_cost, params, backward(params, X, y), X, y, jit=False)
    with pytest.raises(CostError) as here:
        fc.check(raising_cost, params, backward(params, X, y), X, y, jit=False, threads=1)
    assert str(there.value) == str(here.value)
    assert there.value.__cause__ is None and there.value.__suppress_context__


SCRIPT = """
import numpy as np
import fastcheck as fc
from fastcheck.drivers import pool

pool.POOL_SECONDS = 0.0
pool.idle_cores = pool.cores

def cost(p, X):
    return np.sum(np.tanh(X @ p["W"]) ** 2)

def main():
    rng = np.random.default_rng(0)
    X, W = rng.standard_normal((5, 4)), rng.standard_normal((4, 3))
    t = np.tanh(X @ W)
    res = fc.check(cost, {"W": W}, {"W": X.T @ (2 * t * (1 - t ** 2))}, X, jit=False)
    print(res.passed, [n for n in res.notes if "process" in n])
"""


def run_script(tmp_path, code, *, file=True):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if file:
        path = tmp_path / "user_script.py"
        path.write_text(code)
        command = [sys.executable, str(path)]
    else:
        command = [sys.executable, "-c", code]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_guarded_script_uses_the_pool(tmp_path):
    out = run_script(tmp_path, SCRIPT + "\nif __name__ == '__main__':\n    main()\n")
    assert out.startswith("True") and "worker processes" in out


def test_an_unguarded_script_runs_in_one_process_and_says_why(tmp_path):
    out = run_script(tmp_path, SCRIPT + "\nmain()\n")
    assert out.startswith("True") and "ran in one process" in out and "__main__" in out
    assert out.count("True") == 1  # no worker ran the script's check again


def test_a_cost_from_python_c_goes_by_value(tmp_path):
    """No script to import (a notebook, python -c): the cost goes by value."""
    out = run_script(tmp_path, textwrap.dedent(SCRIPT) + "\nmain()\n", file=False)
    assert out.startswith("True") and "worker processes" in out
