"""Reproducible: the same inputs give the same bits.

gradapprox (and the difference, the kinks and the per-tensor rows) must be
bit-identical with 1 and 2 threads and across repeated runs, for every engine
and method; a sampled check must pick the same coordinates for a seed (and
other ones for another seed), and each estimate must not depend on which
other coordinates were checked; directional checks must be reproducible for a
seed and differ for another.
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest

import fastcheck as fc
from fastcheck.models import MLP

MAX_THREADS = numba.config.NUMBA_NUM_THREADS
THREAD_SETTINGS = [1, min(2, MAX_THREADS), None]


def test_two_threads_are_available_so_one_and_two_really_differ():
    """tests/conftest.py gives Numba two threads at least: without them the thread
    comparisons below would compare a result with itself."""
    assert MAX_THREADS >= 2


# -- the problems ---------------------------------------------------------------------------
# W (6, 7), b (6, 1), c (): J = sum(sin(W) * X) + 0.5 sum(b^2) + exp(c), X (6, 7).
# Written to run in complex arithmetic too (no float()), so every method applies.

def dict_problem(seed=0):
    rng = np.random.default_rng(seed)
    params = {"W": rng.uniform(-1.5, 1.5, (6, 7)), "b": rng.standard_normal((6, 1)),
              "c": np.array(0.3)}
    X = rng.standard_normal((6, 7))
    grads = {"dW": np.cos(params["W"]) * X, "db": params["b"].copy(),
             "dc": np.exp(params["c"])}
    return params, grads, X


def py_cost(p, X):
    return np.sum(np.sin(p["W"]) * X) + 0.5 * np.sum(p["b"] ** 2) + np.exp(p["c"])


@fc.jit_cost
def jit_cost(theta, X, Y):
    W = theta[0:42].reshape((6, 7))
    b = theta[42:48]
    return np.sum(np.sin(W) * X) + 0.5 * np.sum(b * b) + np.exp(theta[48])


MODEL = MLP([5, 8, 6, 3], hidden=["relu", "tanh"], output="softmax", loss="ce", l2=0.7)


def model_problem(seed=0):
    params = MODEL.init_params(seed=seed)
    rng = np.random.default_rng(seed + 100)
    X = rng.standard_normal((5, 9))
    Y = rng.integers(0, 3, size=9)
    return params, MODEL.backward(params, X, Y), X, Y


def kinked_problem():
    """A ReLU network with Z1[0, 0] 3e-6 from zero: W1[0, :] and b1[0] are kinks."""
    model = MLP([2, 3, 1], hidden="relu", output="sigmoid", loss="bce")
    params = model.init_params(seed=3)
    X = np.array([[0.8, -0.5, 1.2, 0.3], [0.4, 0.9, -1.1, 0.7]])
    Y = np.array([[1.0, 0.0, 1.0, 0.0]])
    params["b1"][0, 0] = 3e-6 - params["W1"][0] @ X[:, 0]
    return model, params, model.backward(params, X, Y), X, Y


def run(kind, engine, method, **options):
    """One check of problem ``kind`` on ``engine`` with ``method``."""
    if kind == "dict":
        params, grads, X = dict_problem()
        cost = py_cost if engine == "python-callable" else jit_cost
        engine = "python" if engine == "python-callable" else engine
        return fc.check(cost, params, grads, X, engine=engine, method=method, **options)
    if kind == "model":
        params, grads, X, Y = model_problem()
        return fc.check(MODEL, params, grads, X, Y, engine=engine, method=method, **options)
    model, params, grads, X, Y = kinked_problem()
    return fc.check(model, params, grads, X, Y, engine=engine, method=method, **options)


CONFIGS = [(kind, engine, method)
           for kind, engines in (("dict", ("python-callable", "python", "generic")),
                                 ("model", ("layered", "generic", "python")),
                                 ("kinked", ("layered", "generic", "python")))
           for engine in engines
           for method in ("central", "richardson", "complex")
           if not (kind == "kinked" and method == "complex")]


def same_bits(a, b):
    """Bit-identical float arrays (NaN where NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def assert_identical(res, ref):
    assert same_bits(res.gradapprox_flat, ref.gradapprox_flat)
    assert same_bits(res.grad_flat, ref.grad_flat)
    assert same_bits(res.indices, ref.indices)
    assert res.difference == ref.difference
    assert res.difference_without_kinks == ref.difference_without_kinks
    assert res.kinks == ref.kinks
    assert [row.to_dict() for row in res.per_tensor] == [row.to_dict() for row in ref.per_tensor]


@pytest.mark.parametrize("kind, engine, method", CONFIGS)
def test_same_bits_with_any_thread_count_and_on_every_run(kind, engine, method):
    ref = run(kind, engine, method, threads=1)
    assert ref.engine == {"python-callable": "python"}.get(engine, engine)
    assert np.isfinite(ref.gradapprox_flat).all()
    for threads in THREAD_SETTINGS + [1, MAX_THREADS]:
        assert_identical(run(kind, engine, method, threads=threads), ref)


def test_the_kinked_problem_has_kinks_on_every_engine():
    """So that the kink lists compared above are not all empty."""
    for engine in ("layered", "generic", "python"):
        res = run("kinked", engine, "central")
        assert {("W1", (0, 0)), ("W1", (0, 1)), ("b1", (0, 0))} <= set(res.kinks)


@pytest.mark.parametrize("kind, engine", [("dict", "python-callable"), ("dict", "generic"),
                                          ("model", "layered"), ("model", "generic"),
                                          ("model", "python")])
def test_sampled_checks_are_reproducible_for_a_seed_and_differ_for_another(kind, engine):
    full = run(kind, engine, "central")
    P = full.layout.size
    a = run(kind, engine, "central", sample=0.3, seed=11, threads=1)
    b = run(kind, engine, "central", sample=0.3, seed=11, threads=MAX_THREADS)
    c = run(kind, engine, "central", sample=0.3, seed=12)
    assert_identical(b, a)
    assert a.checked == c.checked == int(np.ceil(0.3 * P))
    assert not np.array_equal(a.indices, c.indices)
    # Each estimate is that coordinate's, whatever else was checked: the full check's bits.
    for res in (a, c):
        assert same_bits(res.gradapprox_flat[res.indices], full.gradapprox_flat[res.indices])
        skipped = np.setdiff1d(np.arange(P), res.indices)
        assert np.isnan(res.gradapprox_flat[skipped]).all()


def test_sample_counts_are_reproducible_too():
    """sample=N (a count) with a seed: the same N coordinates each time."""
    runs = [run("model", "layered", "central", sample=17, seed=5) for _ in range(3)]
    for res in runs[1:]:
        assert_identical(res, runs[0])
    assert runs[0].checked == 17


@pytest.mark.parametrize("kind", ["python", "jit", "model"])
def test_directional_checks_are_reproducible_for_a_seed_and_differ_for_another(kind):
    if kind == "model":
        params, grads, X, Y = model_problem()
        call = lambda **kw: fc.check_directions(MODEL, params, grads, X, Y, n=6, **kw)
    else:
        params, grads, X = dict_problem()
        cost = py_cost if kind == "python" else jit_cost
        call = lambda **kw: fc.check_directions(cost, params, grads, X, n=6, **kw)
    first, again, other = call(seed=4), call(seed=4), call(seed=5)
    for key in ("expected", "estimate", "errors"):
        assert same_bits(getattr(again, key), getattr(first, key))
    assert again.difference == first.difference
    assert not np.array_equal(other.expected, first.expected)
    assert first.passed and other.passed


# -- across processes ------------------------------------------------------------------------

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {tests!r})
    import test_reproducible as t
    print(json.dumps(t.digests()))
""")


def digest(res):
    """sha256 of what a result says, bit for bit."""
    if isinstance(res, fc.DirectionsResult):
        parts = [res.estimate.tobytes(), repr(res.difference).encode()]
    else:
        parts = [res.gradapprox_flat.tobytes(), res.indices.tobytes(),
                 repr(res.difference).encode(), repr(res.kinks).encode()]
    return hashlib.sha256(b"".join(parts)).hexdigest()


def digests():
    """Digests of a handful of checks, one per engine and kind of check."""
    params, grads, X, Y = model_problem()
    return {
        "layered": digest(run("model", "layered", "central")),
        "generic-richardson": digest(run("dict", "generic", "richardson")),
        "python": digest(run("dict", "python-callable", "central")),
        "kinked": digest(run("kinked", "layered", "central")),
        "sampled": digest(run("model", "generic", "central", sample=0.25, seed=9)),
        "directions": digest(fc.check_directions(MODEL, params, grads, X, Y, n=5, seed=2)),
    }


@pytest.mark.slow
def test_same_bits_in_fresh_processes_with_other_hash_seeds():
    """Slow (two fresh interpreters, each importing Numba and loading the cached kernels,
    a few seconds each): pins that nothing depends on hash randomisation, import order or
    state left behind by earlier checks in this process."""
    here = os.path.dirname(os.path.abspath(__file__))
    expected = digests()
    for hash_seed, threads in (("1", "1"), ("12345", str(MAX_THREADS))):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, NUMBA_NUM_THREADS=threads)
        done = subprocess.run([sys.executable, "-c", SCRIPT.format(tests=here)], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout.strip().splitlines()[-1]) == expected
