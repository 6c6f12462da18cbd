"""``check_jvp`` on a dense tanh layer with a hand-written JVP, against the naive way
to the same verdict:

- ``naive``: the Jacobian by central differences, column by column (one input
  entry at a time, h = 1e-5, two forward passes each, as the course helper
  ``eval_numerical_gradient_array`` loops), then ``J t`` against ``jvp(t)``
  for one drawn tangent;
- ``python``: ``fastcheck.check_jvp`` with ``n=1``: four forward passes per
  tangent (the joint one and one per input) and the noise line, whatever the
  number of inputs;
- ``dot``: ``fastcheck.check_jvp(None, ..., vjp=...)``, the dot-product test
  alone: no forward pass at all.

Sizes: x (4, 6), w (6, 5) in the smoke run (benchmarks disabled), else x (64,
128), w (128, 64), b (1, 64): 16,448 inputs. Every row checks its result.
"""

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.jvp import tangent

pytestmark = pytest.mark.benchmark(group="jvp dense")


def dense(inputs):
    return np.tanh(inputs["x"] @ inputs["w"] + inputs["b"])


def rules(inputs):
    x, w, b = inputs["x"], inputs["w"], inputs["b"]
    s = 1 - np.tanh(x @ w + b) ** 2

    def jvp(t):
        return s * (t["x"] @ w + x @ t["w"] + t["b"])

    def vjp(u):
        dz = u * s
        return {"dx": dz @ w.T, "dw": x.T @ dz, "db": dz.sum(axis=0, keepdims=True)}

    return jvp, vjp


def naive_jvp_check(inputs, jvp, t, h=1e-5):
    """J t from the Jacobian by central differences, column by column, against jvp(t):
    the largest relative error."""
    out = dense(inputs)
    Jt = np.zeros(out.size)
    for name, value in inputs.items():
        value = value.copy()
        moved = dict(inputs, **{name: value})
        it = np.nditer(value, flags=["multi_index"], op_flags=["readwrite"])
        while not it.finished:
            ix = it.multi_index
            saved = value[ix]
            value[ix] = saved + h
            plus = dense(moved)
            value[ix] = saved - h
            minus = dense(moved)
            value[ix] = saved
            Jt += ((plus - minus) / (2 * h)).ravel() * t[name][ix]
            it.iternext()
    given = jvp(t).ravel()
    return float(np.max(np.abs(Jt - given) / np.maximum(1e-8, np.abs(Jt) + np.abs(given))))


@pytest.fixture
def setup(benchmark):
    size = "small" if benchmark.disabled else "bench"
    (n, d, m) = (4, 6, 5) if size == "small" else (64, 128, 64)
    rng = np.random.default_rng(0)
    inputs = {"x": rng.standard_normal((n, d)), "w": rng.standard_normal((d, m)) / np.sqrt(d),
              "b": rng.standard_normal((1, m))}
    benchmark.extra_info.update(size=size, inputs=int(sum(v.size for v in inputs.values())))
    return inputs, *rules(inputs)


def test_naive(benchmark, setup):
    inputs, jvp, _ = setup
    benchmark.extra_info["engine"] = "naive"
    t = tangent({k: v.shape for k, v in inputs.items()}, seed=0, draw=0)
    assert benchmark(naive_jvp_check, inputs, jvp, t) < 1e-6


def test_python(benchmark, setup):
    inputs, jvp, _ = setup
    benchmark.extra_info["engine"] = "python"
    res = benchmark(fc.check_jvp, dense, inputs, jvp)
    assert res.passed, str(res)


def test_dot(benchmark, setup):
    inputs, jvp, vjp = setup
    benchmark.extra_info["engine"] = "dot"
    res = benchmark(fc.check_jvp, None, inputs, jvp, vjp=vjp)
    assert res.passed, str(res)
