"""The default call against the naive loop and each forced route, cold and warm.

Costs as users write them: a BLAS-bound MLP function (``usercosts.mlp_l2``), a
loop-bound RNN (``usercosts.lstm_cost``), a layer-class network
(``tests/oonets.layer_mlp``, compiled by tracing), an im2col CNN and an
attention block (``tests/idiomnets``, measured runs only) and a small one of those
(``small``, 259 parameters: the warm traced check against the Python engine), with
all-zero gradients (every coordinate wrong) and, for ``small``, the model's own
correct gradients too (``CORRECT``, on the routes that run in Python). Each is
checked four ways, labelled in
``extra_info["route"]``: ``naive`` (``fc.naive_check``), ``default``
(``jit=None``: Python at once, the compiled cost taken up between blocks once
ready), ``python`` (``jit=False``) and ``compiled`` (``jit=True``: waits for
the compile). ``cold`` runs in a fresh process with an empty
``FASTCHECK_CACHE_DIR``; ``warm`` in a fresh process on the cache the cold run
filled. Every run is a fresh process, timed end to end inside it (imports
excluded); ``extra_info`` keeps the check's seconds, its compile seconds apart
and where its coordinates ran (``engines``). ``test_budget_child_start``
times the compile budget's fresh interpreter alone.

``FASTCHECK_BENCH_ROUNDS`` sets the rounds of a measured run (3).

With the benchmarks disabled (the suite's smoke run) every cost is small, and
each route, each cost and each temperature runs once (``SMOKE_CASES``).
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

#: name -> (setup code defining cost, params, grads, args; smoke variant, measured variant)
COSTS = {
    "mlp": ("""
        from fastcheck.app.usercosts import mlp_workload
        cost, params, args = mlp_workload(sizes={sizes})
        """, {"sizes": (20, 8, 3)}, {"sizes": (784, 64, 10)}),
    "rnn": ("""
        from fastcheck.app.usercosts import lstm_workload
        cost, params, args = lstm_workload(n_x={n_x}, n_h={n_h}, T={T})
        """, {"n_x": 4, "n_h": 4, "T": 3}, {"n_x": 16, "n_h": 32, "T": 20}),
    "layers": ("""
        from oonets import layer_mlp
        model, X, y = layer_mlp(sizes={sizes}, batch=32, dropout=0.0)
        params = model.get_params()
        def cost(p, X, y):
            model.set_params(p)
            return model.loss(X, y)[0]
        args = (X, y)
        def correct():
            model.set_params(params)
            return dict((k, np.array(v, copy=True)) for k, v in model.loss(X, y)[1].items())
        """, {"sizes": (6, 5, 3)}, {"sizes": (64, 192, 192, 10)}),
}
COSTS["small"] = (COSTS["layers"][0], {"sizes": (10, 16, 3)}, {"sizes": (10, 16, 3)})
# An im2col convolution with argmax pooling and an attention block with layernorm
# and GELU (tests/idiomnets, as public NumPy code writes them), each a class whose
# parameters the cost sets.
COSTS["cnn"] = ("""
        from idiomnets import ConvPool
        rng = np.random.default_rng(0)
        net = ConvPool(rng, C={C}, F={F}, k={k})
        net.params["V"] = 0.3 * rng.standard_normal(({F} * ({H} // 2) ** 2, {classes}))
        args = (rng.standard_normal((8, {C}, {H}, {H})), rng.integers(0, {classes}, 8))
        params = dict((k, v.copy()) for k, v in net.params.items())
        def cost(p, x, y):
            net.params = p
            return net.loss(x, y)
        """, {"C": 1, "F": 2, "k": 3, "H": 4, "classes": 3},
                {"C": 3, "F": 16, "k": 3, "H": 16, "classes": 10})
COSTS["attention"] = ("""
        from idiomnets import Attention
        rng = np.random.default_rng(0)
        block = Attention({d}, rng)
        args = (rng.standard_normal((4, {T}, {d})), rng.standard_normal((4, {T}, {d})))
        params = dict((k, v.copy()) for k, v in block.params.items())
        def cost(p, x, target):
            block.params = p
            return block.loss(x, target)
        """, {"d": 4, "T": 3}, {"d": 64, "T": 16})
ROUTES = {"naive": None, "default": "None", "python": "False", "compiled": "True"}
#: The naive loop over a cost of more than SAMPLE_ABOVE parameters runs
#: NAIVE_SAMPLE coordinates, evenly spaced, and its seconds are scaled to all of
#: them (``extra_info["sampled"]``): the loop over the layer classes at 52k
#: parameters would take an hour on a loaded machine.
NAIVE_SAMPLE, SAMPLE_ABOVE = 4000, 20000

SCRIPT = """
import json, sys, time
sys.path[:0] = [{tests!r}]
import numpy as np
import fastcheck as fc
{setup}
grads = ({{k: np.zeros(np.shape(v)) for k, v in params.items()}} if {grads!r} == "zeros" else
         correct())
size = sum(np.size(v) for v in params.values())
# A loop over more than SAMPLE_ABOVE coordinates is timed on an evenly spaced sample
# of them and scaled to all (every iteration does the same work).
sample = (np.linspace(0, size - 1, {sample}).astype(np.int64)
          if {route!r} == "naive" and size > {above} else None)
tick = time.perf_counter()
if {route!r} == "naive":
    res = fc.naive_check(cost, params, grads, *args, indices=sample)
    out = {{"compile_seconds": 0.0, "engines": {{"naive": res.checked}}}}
else:
    res = fc.check(cost, params, grads, *args, jit={jit})
    out = {{"compile_seconds": res.compile_seconds, "engines": res.engines}}
out.update(verdict=res.verdict, evaluations=res.evaluations, parameters=int(size))
out["seconds"] = time.perf_counter() - tick
if sample is not None:
    out.update(sampled=int(sample.size), seconds=out["seconds"] * size / sample.size,
               evaluations=2 * int(size) + 1)
print(json.dumps(out))
"""


def run_route(name, route, cache, measured, grads="zeros"):
    setup, smoke, big = COSTS[name]
    script = SCRIPT.format(tests=os.path.join(ROOT, "tests"),
                           setup=textwrap.dedent(setup).format(**(big if measured else smoke)),
                           route=route, jit=ROUTES[route], grads=grads,
                           sample=NAIVE_SAMPLE, above=SAMPLE_ABOVE)
    env = dict(os.environ, FASTCHECK_CACHE_DIR=str(cache),
               PYTHONPATH=os.pathsep.join([ROOT] + sys.path))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, check=True, timeout=3600)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    log = os.environ.get("FASTCHECK_BENCH_LOG")  # each run as it ends, for a long session
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(dict(out, cost=name, route=route, grads=grads,
                                         cache=str(cache))) + "\n")
    return out


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    """One cache directory per cost, empty at first: its first compiled run is cold."""
    return {name: tmp_path_factory.mktemp(f"cache-{name}") for name in COSTS}


#: The costs checked with their correct gradients too (the layer-class model's own
#: backward; every cost is checked with all-zero gradients, every coordinate wrong), on
#: the routes that run in Python: a check that passes makes no closer look.
CORRECT = ("small",)
PYTHON_ROUTES = ("naive", "default", "python")


#: Every case of a measured run: each cost, route and temperature.
CASES = [(name, grads, route, temperature)
         for temperature in ("cold", "warm")
         for name, grads, route in
         [(name, "zeros", route) for name in COSTS for route in ROUTES]
         + [(name, "correct", route) for name in CORRECT for route in PYTHON_ROUTES]]
#: The smoke run's cases: every route cold once and warm by default, on the small
#: cost, and the correct gradients' Python routes: each path once, not every
#: product of them (38 fresh processes took a quarter of the suite; each larger
#: cost's cold compile was another minute at load).
SMOKE_CASES = ([("small", "zeros", route, "cold") for route in ROUTES]
               + [("small", "zeros", "default", "warm")]
               + [(name, "correct", route, "warm") for name in CORRECT
                  for route in PYTHON_ROUTES])


def pytest_generate_tests(metafunc):
    if metafunc.function.__name__ == "test_default_against_naive":
        measured = bool(getattr(metafunc.config.option, "benchmark_enable", False))
        metafunc.parametrize("name, grads, route, temperature",
                             CASES if measured else SMOKE_CASES)


def test_default_against_naive(benchmark, caches, name, grads, route, temperature, request):
    measured = bool(getattr(request.config.option, "benchmark_enable", False))
    # The smoke run checks the cold path once per cost (zero gradients), the rest warm.
    warm = temperature == "warm" or (not measured and grads != "zeros")
    if warm:
        cache = caches[name] / "warm"
    else:
        cache = caches[name] / ("cold" if measured else "smoke-cold")
    if warm and not cache.exists():
        run_route(name, "compiled", cache, measured)  # fills the cache, outside the timing
    results = []

    def once():
        if not warm:  # each cold round starts from an empty cache
            shutil.rmtree(cache, ignore_errors=True)
        results.append(run_route(name, route, cache, measured, grads))

    rounds = int(os.environ.get("FASTCHECK_BENCH_ROUNDS", "3")) if measured else 1
    benchmark.pedantic(once, rounds=rounds, iterations=1)
    last = results[-1]
    benchmark.extra_info.update(cost=name, grads=grads, route=route, temperature=temperature,
                                seconds=[r["seconds"] for r in results],
                                compile_seconds=[r["compile_seconds"] for r in results],
                                engines=last["engines"], verdict=last["verdict"],
                                evaluations=last["evaluations"],
                                parameters=last["parameters"], sampled=last.get("sampled"))
    assert sum(last["engines"].values()) > 0


def test_budget_child_start(benchmark):
    """The compile budget's child: a fresh interpreter importing fastcheck."""
    from fastcheck.compiler import budget

    tick = time.perf_counter()
    benchmark.pedantic(lambda: budget.over_budget(int), rounds=5, iterations=1)
    assert time.perf_counter() - tick > 0
