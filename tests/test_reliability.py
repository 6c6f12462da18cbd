"""Reliability, third round: the progress bar's count, a bare-array backward, the
determinism error's cause. (Caches, memory limits, interrupts and the cluster have
their own files: test_cache_storage.py, test_memory.py, test_interrupt.py, test_dask.py.)"""

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.engines.base import Block
from fastcheck.errors import CostError, InputTypeError
from fastcheck.drivers import blocks, progress
from fastcheck.engines.passes import PASSES


class _Squares:
    """A fake engine: the estimate at flat index i is 2 i (the derivative of i^2 at i)."""

    name = "fake"
    parallel = False

    def __init__(self):
        self.seen = 0

    def block(self, idx, h):
        self.seen += idx.size
        return Block(2.0 * idx, np.zeros(idx.size, dtype=bool))


class _Recorder:
    """Stands in for tqdm: records the total and every update."""

    made = []

    def __init__(self, total, **_):
        self.total, self.n = total, 0
        _Recorder.made.append(self)

    def update(self, k):
        self.n += k

    def close(self):
        pass


@pytest.mark.parametrize("n, first", [(20201, 7), (3721, 1), (50, 50), (50, 49)])
def test_the_progress_bar_ends_at_its_total(monkeypatch, n, first):
    monkeypatch.setattr(progress, "progress_bar", lambda total, label, unit: _Recorder(total))
    _Recorder.made = []
    engine = _Squares()
    idx = np.arange(n)
    bar = progress.Progress(True, "fake", "coord")
    bar.expect(n)
    out, _, _ = blocks.run_blocks(engine, PASSES["block"], (idx, np.full(n, 1e-6)),
                                  describe=str, progress=bar, first=first)
    np.testing.assert_array_equal(out, 2.0 * idx)
    [bar] = _Recorder.made
    assert engine.seen == n
    assert bar.n == bar.total == n


# ---- 11. a backward that returns one bare array for a one-input layer ---------------

def _relu(inputs):
    return np.maximum(inputs["x"], 0.0)


def test_a_bare_array_from_the_backward_is_the_gradient_of_the_one_input():
    x = np.random.default_rng(5).standard_normal((4, 6))
    x[np.abs(x) < 0.05] = 0.5  # keep clear of the kink
    right = fc.check_vjp(_relu, {"x": x}, lambda dout: dout * (x > 0))
    assert right.passed, str(right)
    wrong = fc.check_vjp(_relu, {"x": x}, lambda dout: dout * (x > 0) * 1.1)
    assert not wrong.passed and wrong.suspects == ["x"]
    dout = np.ones((4, 6))
    assert fc.check_vjp(_relu, {"x": x}, dout * (x > 0), dout=dout).passed


def test_a_bare_array_for_several_inputs_says_one_gradient_per_input():
    def scale(inputs):
        return inputs["x"] * inputs["w"]

    x, w = np.ones((2, 3)), np.full((2, 3), 2.0)
    with pytest.raises(InputTypeError, match=r"one array, but there are 2 inputs \('x', 'w'\)"):
        fc.check_vjp(scale, {"x": x, "w": w}, lambda dout: dout * w)


# ---- 12. a layer that keeps state between calls -------------------------------------

class RunningBatchnorm:
    """A batchnorm in training mode that updates its running mean, and whose
    output (by mistake) uses that running mean: each call changes the next."""

    def __init__(self, n):
        self.running_mean = np.zeros(n)

    def __call__(self, params, X):
        mean = X.mean(axis=0)
        self.running_mean = 0.9 * self.running_mean + 0.1 * mean
        out = params["gamma"] * (X - self.running_mean) + params["beta"]
        return float(np.sum(out ** 2))


def test_a_layer_that_keeps_state_is_named_as_a_possible_cause():
    X = np.random.default_rng(2).standard_normal((8, 3))
    params = {"gamma": np.ones(3), "beta": np.zeros(3)}
    grads = {"gamma": np.zeros(3), "beta": np.zeros(3)}
    bn = RunningBatchnorm(3)
    with pytest.raises(CostError) as info:
        fc.check(bn, params, grads, X, jit=False)
    message = str(info.value)
    assert "two evaluations at the same parameters differed" in message
    assert "random numbers" in message and "keeps state between calls" in message
    # The size of the change, as the cost itself shows it.
    first = RunningBatchnorm(3)
    values = [first(params, X) for _ in range(3)]
    assert any(f"{abs(b - a):.3g}" in message for a, b in zip(values, values[1:]))
