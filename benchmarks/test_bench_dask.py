"""The Dask driver against the local one: scaling over worker processes, and
what a block costs the driver.

Groups (each labelled in ``extra_info``):

- ``dask python``: a Python cost Numba cannot compile (``np.einsum``), every
  coordinate, on the local driver (one thread: the GIL) and on 1 and 2
  one-thread worker processes;
- ``dask generic``: the same cost written so Numba compiles it (``jit=True``),
  on the local driver (all Numba threads) and on 1 and 2 workers (one row each);
- ``dask overhead``: blocks of one coordinate of a cost that costs nothing,
  so the time per block is the driver's and the scheduler's alone.

The default run (``--benchmark-disable``) calls each once on a tiny problem
as a smoke test; ``pytest benchmarks/test_bench_dask.py --benchmark-only``
times problems of a few seconds each. The clusters start outside the timing.
"""

import numpy as np
import pytest
from distributed import Client, LocalCluster

import fastcheck as fc
from fastcheck.costs import adapt
from fastcheck.drivers import dask as driver
from fastcheck.planning.plan import make_plan
from fastcheck.drivers import driver as session


def einsum_cost(p, X):
    """A two-layer net's squared output, with einsum, which Numba does not compile."""
    H = np.tanh(np.einsum("ij,jk->ik", p["W1"], X))
    return 0.5 * np.einsum("ik,ik->", p["W2"] @ H, p["W2"] @ H) / X.shape[1]


def compiled_cost(p, X):
    """``einsum_cost`` in what Numba compiles."""
    H = np.tanh(p["W1"] @ X)
    Z = p["W2"] @ H
    return 0.5 * np.sum(Z * Z) / X.shape[1]


def problem(hidden, inputs, batch):
    rng = np.random.default_rng(0)
    params = {"W1": rng.standard_normal((hidden, inputs)) / np.sqrt(inputs),
              "W2": rng.standard_normal((3, hidden)) / np.sqrt(hidden)}
    return params, rng.standard_normal((inputs, batch))


def exact(params, X):
    H = np.tanh(params["W1"] @ X)
    Z = params["W2"] @ H
    m = X.shape[1]
    return {"W1": ((params["W2"].T @ Z) * (1 - H**2)) @ X.T / m, "W2": Z @ H.T / m}


_CLUSTERS = {}


@pytest.fixture(scope="module")
def clusters():
    """Clients of 1- and 2-worker LocalClusters, started on first use, closed at the end."""
    yield lambda n: _client(n)
    for cluster, client in _CLUSTERS.values():
        client.close()
        cluster.close()
    _CLUSTERS.clear()


def _client(n):
    if n not in _CLUSTERS:
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1",
                               scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
        _CLUSTERS[n] = cluster, Client(cluster)
    return _CLUSTERS[n][1]


WHERE = [pytest.param(0, id="local"), pytest.param(1, id="1-worker"),
         pytest.param(2, id="2-workers")]


def run(cost, sizes, where, clusters, benchmark, jit):
    params, X = problem(*sizes)
    grads = exact(params, X)
    options = {"client": clusters(where)} if where else {}
    fc.check(cost, params, grads, X, jit=jit, **options)  # compile, build, warm up
    res = benchmark.pedantic(fc.check, args=(cost, params, grads, X),
                             kwargs=dict(jit=jit, progress=False, **options),
                             rounds=3, iterations=1)
    assert res.passed, str(res)
    benchmark.extra_info.update(driver="local" if not where else f"{where} workers",
                                engine=res.engine, parameters=res.checked)
    return res


@pytest.mark.benchmark(group="dask python")
@pytest.mark.parametrize("where", WHERE)
def test_python_cost(benchmark, clusters, where):
    # Timed: 60 x 80 + 3 x 60 = 4980 coordinates, a few seconds of Python.
    sizes = (4, 5, 8) if benchmark.disabled else (60, 80, 128)
    assert run(einsum_cost, sizes, where, clusters, benchmark, jit=False).engine == "python"


@pytest.mark.benchmark(group="dask generic")
@pytest.mark.parametrize("where", WHERE)
def test_compiled_cost(benchmark, clusters, where):
    # Timed: 100 x 80 + 3 x 100 = 8300 coordinates, a few seconds compiled.
    sizes = (4, 5, 8) if benchmark.disabled else (100, 80, 128)
    assert run(compiled_cost, sizes, where, clusters, benchmark, jit=True).engine == "generic"


def noop(p):
    return float(p["a"][0])


@pytest.mark.benchmark(group="dask overhead")
@pytest.mark.parametrize("workers", [1, 2])
def test_block_overhead(benchmark, clusters, monkeypatch, workers):
    """Blocks of one coordinate of a free cost: seconds per block are the overhead."""
    n = 8 if benchmark.disabled else 400
    adapter = adapt(noop, {"a": np.zeros(n)}, ())
    zeros = {"a": np.zeros(n)}
    plan = make_plan(adapter, np.zeros(n), zeros, zeros, engine="python", eps=1e-3)
    # One coordinate per block: as if each took a second.
    plan = plan._replace(seconds_per_coordinate=1.0)
    monkeypatch.setattr(driver, "TARGET_SECONDS", 0.0)
    monkeypatch.setattr(driver, "MIN_BLOCK_SECONDS", 0.0)
    client = clusters(workers)

    def run():
        with session(adapter, plan, client=client) as runner:
            return runner.run("block", (plan.idx, plan.h))

    est = benchmark.pedantic(run, rounds=3, iterations=1)
    np.testing.assert_array_equal(est.out, np.eye(n)[0] * 1.0)
    benchmark.extra_info.update(driver=f"{workers} workers", blocks=n)
