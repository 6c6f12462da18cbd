"""fastcheck.check(client=..., workers=...): the Dask driver (fastcheck/drivers/dask.py).

One LocalCluster of two one-thread worker processes serves the module. Its
scheduler gives up on a task after two worker deaths (allowed-failures=1,
Dask's default is 3), so the crash test takes two worker restarts, not four.
The costs that sleep or crash do so only on a worker (``on_worker()``): the
local reference runs and the facade's own evaluations stay fast and alive.
"""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import dask
import numpy as np
import psutil
import pytest
from distributed import Client, LocalCluster, get_worker

import fastcheck as fc
from fastcheck.planning.noise import EVALUATIONS as NOISE_EVALUATIONS
from fastcheck import verdict
from fastcheck.app.registry import random_problem
from fastcheck.costs import adapt
from fastcheck.errors import CostError, MemoryBudgetError, OptionError
from fastcheck.planning.plan import make_plan
from fastcheck.drivers import driver

RNG = np.random.default_rng(7)
W0, X0 = RNG.uniform(-1.5, 1.5, (4, 5)), RNG.standard_normal((5, 6))
B0 = RNG.standard_normal(4)
#: The coordinate the crashing and raising costs react to: W[1, 2].
BAD = (1, 2)


def params0():
    return {"W": W0.copy(), "b": B0.copy()}


def grads0():
    """The exact gradient of ``py_cost``."""
    T = np.tanh(W0 @ X0)
    return {"dW": ((1 - T**2) @ X0.T), "db": B0 * np.cos(B0 ** 2) * 2}


def py_cost(p, X):
    """sum(tanh(W X)) + sum(sin(b^2)); einsum keeps it in Python (jit=False)."""
    return np.einsum("ij->", np.tanh(p["W"] @ X)) + np.sum(np.sin(p["b"] ** 2))


def jit_cost(p, X):
    """``py_cost`` in what Numba compiles, for the generic engine."""
    return np.sum(np.tanh(p["W"] @ X)) + np.sum(np.sin(p["b"] ** 2))


def on_worker():
    try:
        get_worker()
    except ValueError:
        return False
    return True


def slow_cost(p, X):
    """``py_cost``, taking 20 ms more per evaluation on a worker."""
    if on_worker():
        time.sleep(0.02)
    return py_cost(p, X)


def crashing_cost(p, X):
    """``py_cost``, but the worker process dies when W[1, 2] is perturbed."""
    if p["W"][BAD] != W0[BAD] and on_worker():
        os._exit(1)
    return py_cost(p, X)


def raising_cost(p, X):
    """``py_cost``, but a ValueError when W[1, 2] is perturbed."""
    if p["W"][BAD] != W0[BAD]:
        raise ValueError("W[1, 2] moved")
    return py_cost(p, X)


@pytest.fixture(scope="module")
def client():
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None, host="127.0.0.1",
                         scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster, \
            Client(cluster) as c:
        yield c


@pytest.fixture
def two(client):
    """The module's client with both workers up (a test before may have killed one).

    A killed worker's nanny starts a new one; on a loaded machine (load 10) one
    was seen not to be back after 60 s, so a new worker is then started beside
    it (one more in the cluster's spec) and given four more minutes: this waits
    for an event, not a time.
    """
    try:
        client.wait_for_workers(2, timeout=60)
    except TimeoutError:
        client.cluster.scale(len(client.cluster.worker_spec) + 1)
        client.wait_for_workers(2, timeout=240)
    return client


def same(local, remote):
    """Bit-identical estimates and the same verdict, report and kinks."""
    np.testing.assert_array_equal(local.gradapprox_flat, remote.gradapprox_flat)
    np.testing.assert_array_equal(local.error_flat, remote.error_flat)
    np.testing.assert_array_equal(local.judgement, remote.judgement)
    assert (local.passed, local.verdict, local.engine, local.kinks) == \
           (remote.passed, remote.verdict, remote.engine, remote.kinks)
    drop = ("seconds", "compile_seconds", "scratch_bytes")  # scratch: rows per machine
    assert {k: v for k, v in local.to_dict().items() if k not in drop} == \
           {k: v for k, v in remote.to_dict().items() if k not in drop}


# -- the same answer ---------------------------------------------------------------------

@pytest.mark.parametrize("method", ["central", "richardson", "complex"])
def test_same_as_local_python_engine(two, method):
    local = fc.check(py_cost, params0(), grads0(), X0, method=method, jit=False)
    remote = fc.check(py_cost, params0(), grads0(), X0, method=method, jit=False, client=two)
    assert remote.engine == "python" and remote.passed
    same(local, remote)


@pytest.mark.parametrize("method", ["central", "richardson", "complex"])
def test_same_as_local_generic_engine(two, method):
    """The workers rebuild the compiled cost from the disk cache, never receive it."""
    local = fc.check(jit_cost, params0(), grads0(), X0, method=method, jit=True)
    remote = fc.check(jit_cost, params0(), grads0(), X0, method=method, jit=True, client=two)
    assert remote.engine == "generic" and remote.passed
    same(local, remote)


@pytest.mark.parametrize("method", ["central", "richardson", "complex"])
@pytest.mark.parametrize("engine", ["layered", "generic"])
def test_same_as_local_models(two, method, engine):
    """ReLU units: the kink flags come back with the blocks, from each worker's caches."""
    model = fc.models.MLP([5, 6, 4, 3], hidden="relu", output="softmax", loss="ce", l2=0.1)
    params, X, Y = random_problem(model, 7, seed=3)
    grads = model.backward(params, X, Y)
    wrong = dict(grads, dW2=grads["dW2"] * 1.5)
    local = fc.check(model, params, wrong, X, Y, method=method, engine=engine)
    remote = fc.check(model, params, wrong, X, Y, method=method, engine=engine, client=two)
    assert remote.engine == engine and not remote.passed
    same(local, remote)


def test_sampled_check_and_untouched_arrays(two):
    params, grads = params0(), grads0()
    before = {k: v.copy() for k, v in params.items()}, {k: v.copy() for k, v in grads.items()}
    local = fc.check(py_cost, params, grads, X0, sample=7, seed=3, jit=False)
    remote = fc.check(py_cost, params, grads, X0, sample=7, seed=3, jit=False, client=two)
    same(local, remote)
    for old, new in zip(before, (params, grads)):
        for k in old:
            np.testing.assert_array_equal(old[k], new[k])


# -- failures ----------------------------------------------------------------------------

def test_cost_that_raises_is_named_as_locally(two):
    with pytest.raises(CostError) as local:
        fc.check(raising_cost, params0(), grads0(), X0, jit=False)
    with pytest.raises(CostError) as remote:
        fc.check(raising_cost, params0(), grads0(), X0, jit=False, client=two)
    assert "W[1, 2] perturbed" in str(remote.value)
    assert str(remote.value) == str(local.value)


def test_worker_killed_mid_run_changes_nothing(two):
    pids = two.run(os.getpid)
    done = {}
    run = threading.Thread(target=lambda: done.setdefault("res", fc.check(
        slow_cost, params0(), grads0(), X0, method="richardson", jit=False, client=two)))
    run.start()
    time.sleep(0.6)  # the blocks run for about 1 s: 12 coordinates x 4 x 20 ms per worker
    assert run.is_alive()
    os.kill(pids[sorted(pids)[0]], signal.SIGKILL)
    run.join(timeout=60)
    assert "res" in done
    local = fc.check(py_cost, params0(), grads0(), X0, method="richardson", jit=False)
    np.testing.assert_array_equal(local.gradapprox_flat, done["res"].gradapprox_flat)
    assert done["res"].passed


def test_cost_that_kills_its_worker(two):
    """Each run of W[1, 2]'s block kills its worker: after two, a CostError names it."""
    with pytest.raises(CostError, match="crashed every Dask worker") as err:
        fc.check(crashing_cost, params0(), grads0(), X0, jit=False, client=two)
    text = str(err.value)
    first, last = text.split("coordinates from ")[1].split(":")[0].split(" to ")
    order = [f"W[{i}, {j}]" for i in range(4) for j in range(5)] + [f"b[{i}]" for i in range(4)]
    assert order.index(first) <= order.index("W[1, 2]") <= order.index(last)


def test_memory_budget_checked_before_shipping(two):
    adapter = adapt(py_cost, params0(), (X0,))
    grad_flat = adapter.layout.gather_grads(grads0(), [])
    plan = make_plan(adapter, grad_flat, params0(), grads0(), engine="python")
    limit = min(w["memory_limit"] for w in two.scheduler_info()["workers"].values())
    adapter.scratch_bytes = lambda engine, method, rows: 2 * limit
    with pytest.raises(MemoryBudgetError, match="Dask worker"):
        with driver(adapter, plan, client=two) as runner:
            runner.run("block", (plan.idx, plan.h))
    assert not two.has_what() or not any(two.has_what().values())


def test_cost_that_cannot_travel(two):
    lock = threading.Lock()

    def locked_cost(p, X):
        with lock:
            return py_cost(p, X)

    with pytest.raises(fc.errors.InputTypeError, match="cannot be sent to Dask workers"):
        fc.check(locked_cost, params0(), grads0(), X0, jit=False, client=two)


def test_options(two):
    for options, match in [(dict(client=two, workers=2), "not both"),
                           (dict(client=two, threads=1), "threads"),
                           (dict(workers=2, threads=1), "threads"),
                           (dict(workers=0), "at least 1"),
                           (dict(workers=True), "at least 1"),
                           (dict(client="tcp://127.0.0.1:8786"), "distributed.Client")]:
        with pytest.raises(OptionError, match=match):
            fc.check(py_cost, params0(), grads0(), X0, **options)


# -- workers=N, __main__ and Ctrl-C, in their own processes ------------------------------

def spawned_children():
    """This process's children that multiprocessing spawned (Dask's worker processes)."""
    return {p.pid for p in psutil.Process().children(recursive=True)
            if "spawn_main" in " ".join(p.cmdline())}


def test_workers_starts_and_closes_its_cluster(client):
    before = spawned_children()
    res = fc.check(py_cost, params0(), grads0(), X0, jit=False, workers=2)
    local = fc.check(py_cost, params0(), grads0(), X0, jit=False)
    same(local, res)
    deadline = time.monotonic() + 10
    while spawned_children() - before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not spawned_children() - before


SCRIPT = """
import os, sys, time
import numpy as np
import fastcheck as fc

W = np.linspace(-1, 1, {size}).reshape(-1, 1)


def cost(p, scale):  # defined in __main__: workers get it by value
    if "{marker}":
        time.sleep(0.02)
        if os.getpid() != MAIN:
            open("{marker}", "a").close()
    return scale * np.einsum("ij,ij->", np.sin(p["W"]), p["W"])


if __name__ == "__main__":
    MAIN = os.getpid()
    params, grads = {{"W": W}}, {{"W": np.sin(W) + W * np.cos(W)}}
    try:
        res = fc.check(cost, params, grads, 1.0, jit=False, workers=2, progress=False)
    except KeyboardInterrupt:
        print("KeyboardInterrupt at", time.time(), flush=True)
        sys.exit(7)
    local = fc.check(cost, params, grads, 1.0, jit=False)
    assert np.array_equal(res.gradapprox_flat, local.gradapprox_flat), "differs"
    print("same", res.passed, flush=True)
"""


def run_script(tmp_path, size, marker=""):
    path = tmp_path / "user_script.py"
    path.write_text(textwrap.dedent(SCRIPT.format(size=size, marker=marker)))
    return path


def test_cost_defined_in_main(tmp_path):
    """cloudpickle sends a function of a script run as __main__ by value."""
    path = run_script(tmp_path, 12)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["same", "True"]


def test_ctrl_c_cancels_within_seconds(tmp_path):
    """SIGINT while 400 coordinates x 40 ms run on two workers (8 s): the check
    raises KeyboardInterrupt within about 2 s and the process exits, no hang."""
    marker = tmp_path / "running"
    path = run_script(tmp_path, 400, marker=str(marker))
    proc = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 90
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.communicate(timeout=5)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 7, err[-3000:]
    # Interrupted, not finished: the order of events (no seconds: the machine is shared).
    assert out.startswith("KeyboardInterrupt at") and "same" not in out, out


# -- the closer look runs on the workers -------------------------------------------------

def kinked_cost(p, X, log):
    """sum |w| + sum(tanh(W X)), appending this process's id to ``log`` per evaluation."""
    with open(log, "a") as f:
        f.write(f"{os.getpid()}\n")
    return np.sum(np.abs(p["w"])) + py_cost(p, X)


def test_closer_look_runs_on_the_workers(two, tmp_path, monkeypatch):
    """w = 0 in four places, where the given subgradient 1 differs from the central
    difference 0: the closer look settles them as kinks. With workers=2 the
    client evaluates the cost only while planning (J at theta, again for
    determinism, and the noise measurement's line); every other evaluation,
    the estimates' and the closer look's, happens on a worker."""
    w = np.array([0.0, 0.5, 0.0, -0.3, 0.0, 0.0])
    params = dict(params0(), w=w)
    grads = dict(grads0(), dw=np.where(w < 0, -1.0, 1.0))
    reusing = fc.check(kinked_cost, params, grads, X0, str(tmp_path / "reusing"), jit=False)
    # The workers' closer look evaluates all four points; here two of them come
    # from the first pass (costs/reuse.py): the reference evaluates them too.
    from fastcheck.costs.reuse import StepValues
    monkeypatch.setattr(StepValues, "fitting", classmethod(lambda cls, size, slots: None))
    local = fc.check(kinked_cost, params, grads, X0, str(tmp_path / "local"), jit=False)
    assert local.evaluations - reusing.evaluations == 2 * 4  # two per kink probed
    assert len((tmp_path / "local").read_text().split()) - \
        len((tmp_path / "reusing").read_text().split()) == 2 * 4
    log = tmp_path / "remote"
    remote = fc.check(kinked_cost, params, grads, X0, str(log), jit=False, workers=2)
    assert remote.verdict == "kinks" and remote.passed
    assert list(remote.judgement).count(verdict.KINK) == 4
    here = os.getpid()
    pids = [int(line) for line in log.read_text().split()]
    probed = 4 * list(remote.judgement).count(verdict.KINK)
    planning = remote.evaluations - 2 * len(remote.judgement) - probed
    assert planning <= 2 + 3 * NOISE_EVALUATIONS  # J, its repeat, at most 3 noise tables
    assert pids.count(here) <= planning
    assert len(pids) >= 2 * 30 + 4 * 4  # the estimates, then the closer look's four each
    same(local, remote)
