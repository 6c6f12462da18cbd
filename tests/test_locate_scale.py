"""fastcheck.locate near its floor, evaluations counted (a counter around the
cost, never a clock): a network of many small tensors (a residual block
stack with per-feature gains and biases, as a user writes a Transformer-like
model) confirmed correct in one screen, one wrong coordinate located, a
gradient wrong by one factor everywhere named tensor by tensor, a float32
network's wrong coordinate located, and never more than the full check plus
60. References: the planted mistake's own coordinates, and the hand-written
backward pass checked against a slow NumPy central-difference twin."""

import numpy as np
import pytest
from counting import Counted

import fastcheck as fc
from fastcheck.errors import MemoryBudgetError
from fastcheck.locate.nets import (blocks_backward as backward, blocks_cost as cost,
                                   blocks_init as init_blocks, f32_backward, f32_cost,
                                   f32_init as f32_network)




def naive_gradient(p, X, Y, h=1e-6):
    """The slow twin: every coordinate by central differences in NumPy."""
    grads = {}
    for name, value in p.items():
        g = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            keep = value[i]
            value[i] = keep + h
            plus = cost(p, X, Y)
            value[i] = keep - h
            minus = cost(p, X, Y)
            value[i] = keep
            g[i] = (plus - minus) / (2 * h)
        grads["d" + name] = g
    return grads


@pytest.fixture(scope="module")
def blocks():
    params, X, Y = init_blocks(0)
    grads = backward(params, X, Y)
    twin = naive_gradient({k: v.copy() for k, v in params.items()}, X, Y)
    for k in grads:   # the hand-written backward pass is right: the reference holds
        assert np.allclose(grads[k], twin[k], rtol=1e-5, atol=1e-8), k
    assert len(params) >= 30
    full = Counted(cost)
    checked = fc.check(full, params, grads, X, Y)
    assert checked.passed
    return params, X, Y, grads, full.calls


def test_many_tensors_correct_wrong_coordinate_and_wrong_factor(blocks):
    params, X, Y, grads, full_calls = blocks
    P = sum(v.size for v in params.values())
    # Correct: one screen of the whole gradient, not a test per tensor.
    counted = Counted(cost)
    res = fc.locate(counted, params, grads, X, Y)
    assert res.passed and res.verdict == "pass", str(res)
    assert counted.calls <= 100 + 40          # 2 r = 40, the noise line and J at theta
    assert all(t.outcome == "pass" for t in res.tested)
    assert {row.status for row in res.per_tensor} == {"passed by directions"}
    assert "nan" not in str(res) and res.compile_seconds == 0.0   # a Python cost: none

    # One wrong coordinate, in a middle block's small first layer.
    wrong = {k: v.copy() for k, v in grads.items()}
    wrong["dW1_3"][5, 2] += 1e-3 * max(1e-2, abs(wrong["dW1_3"][5, 2]))
    counted = Counted(cost)
    res = fc.locate(counted, params, wrong, X, Y)
    assert [(t, i) for t, i, _, _ in res.located] == [("W1_3", (5, 2))], str(res)
    assert res.suspects == ["W1_3"] and not res.blocks
    assert counted.calls <= 400 and counted.calls <= full_calls + 60
    assert "1 coordinate confirmed" in str(res)

    # The whole gradient 3 times too large (a mean where a sum belongs, everywhere).
    scaled = {k: 3.0 * v for k, v in grads.items()}
    counted = Counted(cost)
    res = fc.locate(counted, params, scaled, X, Y)
    assert res.verdict == "mistake"
    # Every tensor probed wrong at two coordinates is named as a block; one of a
    # single coordinate (bo) is checked outright.
    assert sorted(b.name for b in res.blocks) == sorted(k for k in params
                                                         if params[k].size > 2), str(res)
    assert sorted(res.suspects) == sorted(params)
    assert counted.calls <= 600 and counted.calls <= full_calls + 60
    assert any("3x the estimate" in note for note in res.notes + res.check.notes), str(res)
    assert res.evaluations < 2 * P


def test_float32_network_one_wrong_coordinate_is_located_never_passed():
    p, X, Y = f32_network(0)
    grads = f32_backward(p, X, Y)
    assert grads["dW1"].dtype == np.float32
    res = fc.locate(f32_cost, p, grads, X, Y)
    assert res.passed, str(res)
    # The bound the report gives is the one the clean tests used: at most 2e-5 here.
    assert 0.0 < res.detectable < 2e-5
    wrong = {k: v.copy() for k, v in grads.items()}
    wrong["dW1"][4, 7] += np.float32(1e-5)     # the gradient is of order 1e-2 to 1e-3
    res = fc.locate(f32_cost, p, wrong, X, Y)
    assert not res.passed
    assert [(t, i) for t, i, _, _ in res.located] == [("W1", (4, 7))], str(res)


def test_a_search_that_cannot_fit_says_so_before_it_runs(monkeypatch):
    params, X, Y = init_blocks(1)
    grads = backward(params, X, Y)
    import fastcheck.runtime.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 1000)
    counted = Counted(cost)
    with pytest.raises(MemoryBudgetError, match="locate over .* parameters needs"):
        fc.locate(counted, params, grads, X, Y, repeats=50_000)
    assert counted.calls <= 1    # the validating call only: nothing ran


def test_never_more_than_the_full_check_plus_60():
    """Small networks, where a search barely pays: locate checks every
    coordinate rather than search when that is cheaper, and stops a search
    that has spent half the full check (the full check's evaluations, plus
    those of the confirmations it names beyond the check's)."""
    from fastcheck.app import locatenet as N

    for sizes in ([8, 6, 3], [10, 10, 3], [20, 24, 5]):
        for mistake in ["coordinate", "column", "mask", "scale"]:
            params, X, Y = N.init(sizes, seed=2, m=6)
            grads = N.backward(params, X, Y, N.forward(params, X, Y)[1], mistake)
            located, full = Counted(N.cost), Counted(N.cost)
            res = fc.locate(located, params, grads, X, Y, seed=2)
            checked = fc.check(full, params, grads, X, Y)
            # The same verdict as the full check where either says mistake (a
            # ReLU mask wrong next to the kink may show in neither).
            assert (res.verdict == "mistake") == (checked.verdict == "mistake"), \
                (sizes, mistake, str(res), str(checked))
            # locate confirms every wrong coordinate it names; the check confirms
            # at most max(8, 2%) of a WRONG tensor's (verdict/closer.py): each
            # confirmation beyond the check's costs the closer look's 4 evaluations.
            extra = 4 * max(0, len(res.located) - len(checked.located))
            assert located.calls <= full.calls + extra + 60, \
                (sizes, mistake, located.calls, full.calls, extra)


def test_a_cost_computing_in_float32_gets_steps_fitted_to_its_noise():
    """A cost that casts to float32 inside: J is known to about 1e-7 of itself,
    so steps of 1e-7 would see nothing below about 8 (the old threshold); the
    steps grown to the measured noise find a 0.05 error in one coordinate."""
    p, X, Y = f32_network(1, sizes=(20, 16, 4), m=8)

    def cost32(params, X, Y):
        cast = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
        return f32_cost(cast, X, Y)

    grads = f32_backward(p, X, Y)
    res = fc.locate(cost32, p, grads, X, Y)
    assert res.passed and 0.0 < res.detectable < 0.05, str(res)
    wrong = {k: v.copy() for k, v in grads.items()}
    wrong["dW1"][4, 7] += np.float32(0.05)
    res = fc.locate(cost32, p, wrong, X, Y)
    assert [(t, i) for t, i, _, _ in res.located] == [("W1", (4, 7))], str(res)
