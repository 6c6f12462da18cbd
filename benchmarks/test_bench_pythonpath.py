"""The Python path against the naive loop, on costs written as users write them.

One group per cost: a BLAS-bound MLP of 101,770 parameters written with helper
functions ([784, 128, 10] x 32, tanh, softmax cross-entropy), a small network
of layer classes that copy the parameters into their own arrays (Dense ->
ReLU -> Dense, 1,066 parameters, batch 16), and the seed exercise's own
forward pass (47). Each is checked, warm, labelled in ``extra_info["engine"]``:

- ``naive``: ``fastcheck.naive_check``, the exercise's loop, with BLAS as the
  user's process has it (OpenBLAS's default: one thread per core);
- ``naive, 1 BLAS thread``: the same loop with BLAS held to one thread, the
  loop at its best;
- ``python``: ``fastcheck.check(..., jit=False)`` in one process;
- ``pool``: the same on every core (``drivers.pool``, forced on: its workers
  are started inside the timed call).

BLAS is left as the process has it here (``BLAS_AS_USERS_HAVE_IT``): fastcheck
limits it itself. Checks are full where that takes seconds; beyond that they
are timed on a seeded sample and extrapolated (per coordinate, so a check's
fixed cost is counted too often, never too rarely). The gradients checked are
the python engine's own central estimates, so no check spends time looking
closer at disagreements.
"""

import contextlib
import time

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.app import exercises as ex
from fastcheck.drivers import pool
from fastcheck.planning.sampling import coordinates
from fastcheck.runtime.blas import single_threaded_blas

#: benchmarks/conftest.py leaves BLAS alone for this module.
BLAS_AS_USERS_HAVE_IT = True
#: Coordinates timed at most per engine (measured run, smoke run); the pool's sample
#: is larger, so that its start-up is paid once, as in a long check.
SAMPLE, POOL_SAMPLE, QUICK_SAMPLE = 400, 6000, 20
#: A full check when one is predicted under this many seconds in one process.
FULL_SECONDS = 5.0


# -- costs as users write them ----------------------------------------------------------

def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def cross_entropy(probs, y):
    return -np.mean(np.log(probs[np.arange(len(y)), y]))


def mlp_loss(params, X, y):
    hidden = np.tanh(X @ params["W1"] + params["b1"])
    return cross_entropy(softmax(hidden @ params["W2"] + params["b2"]), y)


def mlp():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((32, 784)), rng.integers(0, 10, 32)
    params = {"W1": 0.05 * rng.standard_normal((784, 128)), "b1": np.zeros((1, 128)),
              "W2": 0.1 * rng.standard_normal((128, 10)), "b2": np.zeros((1, 10))}
    return mlp_loss, params, (X, y)


class Dense:
    def __init__(self, n_in, n_out, rng):
        self.W = 0.3 * rng.standard_normal((n_in, n_out))
        self.b = np.zeros((1, n_out))

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b


class ReLU:
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask


class Network:
    def __init__(self, rng):
        self.layers = [Dense(20, 40, rng), ReLU(), Dense(40, 6, rng)]

    def load(self, params):
        for k, layer in enumerate(self.layers[::2]):
            np.copyto(layer.W, params[f"W{k + 1}"])
            np.copyto(layer.b, params[f"b{k + 1}"])

    def loss(self, X, y):
        out = X
        for layer in self.layers:
            out = layer.forward(out)
        return 0.5 * np.sum((out - y) ** 2) / len(X)


def layers():
    rng = np.random.default_rng(1)
    net = Network(rng)
    X, y = rng.standard_normal((16, 20)), rng.standard_normal((16, 6))
    params = {"W1": net.layers[0].W.copy(), "b1": net.layers[0].b.copy(),
              "W2": net.layers[2].W.copy(), "b2": net.layers[2].b.copy()}

    def cost(params, X, y):
        net.load(params)
        return net.loss(X, y)

    return cost, params, (X, y)


def exercise():
    X, Y, params = ex.gradient_check_n_test_case()
    return ex.forward_propagation_n, params, (X, Y)


COSTS = {"MLP [784, 128, 10] x 32": mlp, "layer classes [20, 40, 6] x 16": layers,
         "the exercise's network": exercise}


@pytest.fixture(scope="module", params=list(COSTS))
def workload(request):
    cost, params, args = COSTS[request.param]()
    measured = bool(getattr(request.config.option, "benchmark_enable", False))
    layout = fc.Layout.from_params(params)
    P = layout.size
    with single_threaded_blas(compiled=False):
        tick = time.perf_counter()
        for _ in range(5):
            cost(params, *args)
        forward = (time.perf_counter() - tick) / 5
    full = 2 * P * forward < FULL_SECONDS
    samples = ({"python": None if full else SAMPLE, "pool": None if full else POOL_SAMPLE}
               if measured else {"python": min(P, QUICK_SAMPLE), "pool": min(P, QUICK_SAMPLE)})
    zeros = {k: np.zeros(np.shape(v)) for k, v in params.items()}
    reference = np.zeros(P)
    for sample in set(samples.values()):
        ref = fc.check(cost, params, zeros, *args, jit=False, sample=sample, seed=0)
        reference[ref.indices] = ref.gradapprox_flat[ref.indices]
    return dict(name=request.param, cost=cost, params=params, args=args, grads=layout.unflatten(reference), P=P,
                forward=forward, samples=samples, layout=layout)


def record(benchmark, w, engine, count):
    benchmark.group = w["name"]
    benchmark.extra_info.update(engine=engine, parameters=w["P"], coordinates=count or w["P"],
                                forward_seconds=w["forward"])


def extrapolate(benchmark, w, count):
    if count is not None and count < w["P"] and benchmark.stats is not None:
        benchmark.extra_info["full_seconds_estimate"] = (
            benchmark.stats.stats.median * w["P"] / count)


def naive(benchmark, w, engine, blas):
    count = w["samples"]["python"]
    record(benchmark, w, engine, count)
    idx = coordinates(w["layout"], count, seed=0)

    def run():
        with blas():
            return fc.naive_check(w["cost"], w["params"], w["grads"], *w["args"], eps=1e-6,
                                  indices=idx)

    res = benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    extrapolate(benchmark, w, count)
    assert res.checked == idx.size


def test_naive(benchmark, workload):
    naive(benchmark, workload, "naive", contextlib.nullcontext)


def test_naive_one_blas_thread(benchmark, workload):
    naive(benchmark, workload, "naive, 1 BLAS thread",
          lambda: single_threaded_blas(compiled=False))


def test_python_engine(benchmark, workload):
    w = workload
    count = w["samples"]["python"]
    record(benchmark, w, "python", count)
    res = benchmark.pedantic(fc.check, args=(w["cost"], w["params"], w["grads"], *w["args"]),
                             kwargs=dict(jit=False, sample=count, seed=0, progress=False),
                             rounds=3, warmup_rounds=1)
    extrapolate(benchmark, w, count)
    assert res.engine == "python" and res.passed, str(res)


def test_pool(benchmark, workload, monkeypatch):
    w = workload
    monkeypatch.setattr(pool, "POOL_SECONDS", 0.0)
    monkeypatch.setattr(pool, "idle_cores", pool.cores)  # on every core, busy or not
    count = w["samples"]["pool"]
    record(benchmark, w, "pool", count)
    res = benchmark.pedantic(fc.check, args=(w["cost"], w["params"], w["grads"], *w["args"]),
                             kwargs=dict(jit=False, sample=count, seed=0, progress=False),
                             rounds=2, warmup_rounds=1)
    extrapolate(benchmark, w, count)
    assert res.passed and any("worker processes" in note for note in res.notes), str(res)
