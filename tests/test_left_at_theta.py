"""Every check leaves the user's objects at theta: layers that copy the parameters
into their own arrays and cache what they computed hold theta's values again,
and a complex-step check (passed, refused or raising) leaves no complex arrays."""

import copy

import numpy as np
import pytest

import fastcheck as fc
from fastcheck.errors import CostError


class Dense:
    """Owns its weights: ``load`` copies the parameters in, as many layer classes do."""

    def __init__(self, n_in, n_out, rng):
        self.W = 0.3 * rng.standard_normal((n_in, n_out))
        self.b = np.zeros((1, n_out))

    def load(self, W, b):
        np.copyto(self.W, W)
        np.copyto(self.b, b)

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW, self.db = self.x.T @ dout, dout.sum(axis=0, keepdims=True)
        return dout @ self.W.T


class BatchNorm:
    """Training-mode batchnorm that updates running statistics on every call."""

    def __init__(self, n, momentum=0.9):
        self.gamma, self.beta = np.ones((1, n)), np.zeros((1, n))
        self.running_mean, self.running_var = np.zeros((1, n)), np.ones((1, n))
        self.momentum = momentum

    def forward(self, x):
        mean, var = x.mean(axis=0, keepdims=True), x.var(axis=0, keepdims=True)
        self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean
        self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        self.std = np.sqrt(var + 1e-5)
        self.xhat = (x - mean) / self.std
        return self.gamma * self.xhat + self.beta


class Net:
    """Dense -> tanh -> Dense, a squared loss; ``loss`` loads the parameters first."""

    def __init__(self, seed=0, batchnorm=False):
        rng = np.random.default_rng(seed)
        self.l1, self.l2 = Dense(4, 6, rng), Dense(6, 3, rng)
        self.bn = BatchNorm(6) if batchnorm else None
        self.X, self.Y = rng.standard_normal((8, 4)), rng.standard_normal((8, 3))

    def params(self):
        return {"W1": self.l1.W.copy(), "b1": self.l1.b.copy(),
                "W2": self.l2.W.copy(), "b2": self.l2.b.copy()}

    def loss(self, p):
        self.l1.load(p["W1"], p["b1"])
        self.l2.load(p["W2"], p["b2"])
        z = self.l1.forward(self.X)
        if self.bn is not None:
            z = self.bn.forward(z)
        self.h = np.tanh(z)
        self.out = self.l2.forward(self.h)
        return 0.5 * np.sum((self.out - self.Y) ** 2)

    def grads(self, p):
        """The backward pass at ``p`` (no batchnorm)."""
        self.loss(p)
        dz = self.l2.backward(self.out - self.Y) * (1 - self.h ** 2)
        self.l1.backward(dz)
        return {"W1": self.l1.dW, "b1": self.l1.db, "W2": self.l2.dW, "b2": self.l2.db}


def state(net):
    """Every array the net holds, by name, copied."""
    return {f"{owner}.{k}": np.array(v) for owner, obj in
            (("net", net), ("l1", net.l1), ("l2", net.l2)) + ((("bn", net.bn),) if net.bn else ())
            for k, v in vars(obj).items() if isinstance(v, np.ndarray)}


def reference_state(net, params):
    """The state a twin of ``net`` holds after one evaluation at ``params``."""
    twin = copy.deepcopy(net)
    twin.loss(params)
    return state(twin)


@pytest.mark.parametrize("method", ["central", "richardson"])
def test_copying_layers_hold_theta_after_a_check(method):
    net = Net()
    params = net.params()
    grads = net.grads(params)
    expected = reference_state(net, params)
    res = fc.check(net.loss, params, grads, method=method, jit=False)
    assert res.passed
    after = state(net)
    assert after.keys() == expected.keys()
    for name, value in expected.items():
        assert np.array_equal(after[name], value), name


def test_a_check_that_raises_still_leaves_theta():
    net = Net()
    params = net.params()
    grads = net.grads(params)
    expected = reference_state(net, params)
    w0 = params["W2"][1, 2]

    def cost(p):
        value = net.loss(p)
        if p["W2"][1, 2] > w0:  # a cost that fails away from theta
            raise ValueError("out of range")
        return value

    with pytest.raises(CostError, match="ValueError"):
        fc.check(cost, params, grads, jit=False)
    for name, value in expected.items():
        assert np.array_equal(state(net)[name], value), name


def test_a_second_check_gives_the_same_verdict():
    net = Net()
    params = net.params()
    grads = net.grads(params)
    wrong = dict(grads, W2=grads["W2"] * 1.5)
    for g in (grads, wrong):
        first = fc.check(net.loss, params, g, jit=False)
        second = fc.check(net.loss, params, g, jit=False)
        assert (first.passed, first.verdict, first.suspects) == \
            (second.passed, second.verdict, second.suspects)
    assert not first.passed and "W2" in str(first.suspects)


def complex_net():
    """A net whose layers take the parameters by assignment (so complex values go
    through), with a running-statistics batchnorm that ``np.var`` makes real-only."""
    net = Net(batchnorm=True)

    def loss(p):
        net.l1.W, net.l1.b, net.l2.W, net.l2.b = p["W1"], p["b1"], p["W2"], p["b2"]
        z = net.bn.forward(net.l1.forward(net.X))
        net.out = net.l2.forward(np.tanh(z))
        return 0.5 * np.sum((net.out - net.Y) ** 2)

    return net, loss


def no_complex_left(net):
    left = {name: v.dtype for name, v in state(net).items() if v.dtype.kind == "c"}
    assert not left, f"complex arrays left behind: {left}"
    assert net.bn.running_mean.dtype == np.float64


def test_a_refused_complex_step_leaves_no_complex_values():
    net, loss = complex_net()
    params = net.params()
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    with pytest.raises(CostError, match="imaginary part"):
        fc.check(loss, params, grads, method="complex", jit=False)
    no_complex_left(net)
    assert np.array_equal(net.l1.W, params["W1"]) and net.l1.W.dtype == np.float64
    # The real check afterwards runs as on a fresh net: the state is all real.
    fresh, fresh_loss = complex_net()
    first = fc.check(loss, params, grads, jit=False)
    second = fc.check(fresh_loss, params, grads, jit=False)
    assert first.verdict == second.verdict and first.suspects == second.suspects


def test_a_passed_complex_step_leaves_no_complex_values():
    net = Net()
    params = net.params()
    grads = net.grads(params)

    def loss(p):  # assignment, not copyto: complex parameters go through
        net.l1.W, net.l1.b, net.l2.W, net.l2.b = p["W1"], p["b1"], p["W2"], p["b2"]
        net.out = net.l2.forward(np.tanh(net.l1.forward(net.X)))
        return 0.5 * np.sum((net.out - net.Y) ** 2)

    res = fc.check(loss, params, grads, method="complex", jit=False)
    assert res.passed
    left = {name: v.dtype for name, v in state(net).items() if v.dtype.kind == "c"}
    assert not left, left
    assert np.array_equal(net.l1.x, net.X) and np.array_equal(net.l2.W, params["W2"])


def test_locate_and_directions_leave_theta():
    for run in (lambda c, p, g: fc.locate(c, p, g, jit=False),
                lambda c, p, g: fc.check_directions(c, p, g)):
        net = Net()
        params = net.params()
        grads = net.grads(params)
        expected = reference_state(net, params)
        run(net.loss, params, grads)
        for name, value in expected.items():
            assert np.array_equal(state(net)[name], value), name
