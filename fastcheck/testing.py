"""Helpers for test suites that check backward passes.

>>> from fastcheck.testing import assert_gradients_match
>>> def test_my_backward():                                   # doctest: +SKIP
...     assert_gradients_match(my_cost, params, my_backward(params, X, Y), X, Y)

``random_problem`` draws parameters and data that fit a built-in model, the
same ones ``fastcheck check --seed`` uses, so a failure seen on the command
line can be reproduced in a test.
"""

import numpy as np

from .check import check


def assert_gradients_match(cost, params, grads, *args, **check_options):
    """Check ``grads`` like ``fastcheck.check`` and fail the test if they are wrong.

    Parameters
    ----------
    cost, params, grads, *args
        As for ``fastcheck.check``.
    **check_options
        Any keyword of ``fastcheck.check`` (eps, threshold, method, sample, ...).

    Returns
    -------
    CheckResult
        The result, when the check passes.

    Raises
    ------
    AssertionError
        When it fails; the message is the report, whose per-tensor table names
        the wrong tensors and their worst entries.
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this one
    res = check(cost, params, grads, *args, **check_options)
    if not res.passed:
        raise AssertionError(f"the gradients do not match the cost's numerical "
                             f"derivatives\n{res}")
    return res


def random_problem(model, batch, seed=0):
    """Parameters and data for a built-in model: (params, X (n0, batch), Y).

    ``params`` is ``model.init_params(seed)``. X is standard normal; Y holds
    labels that fit the loss: 0/1 entries (nL, batch) for "bce", integer
    classes (batch,) for "ce", standard normal targets (nL, batch) for "mse".
    The data come from ``numpy.random.default_rng([1, seed])``, a stream apart
    from the parameters' ``default_rng(seed)``: drawn from the same stream, X
    would repeat the first weights' draws.
    """
    params = model.init_params(seed)
    rng = np.random.default_rng([1, seed])
    n0, n_out = int(model.sizes[0]), int(model.sizes[-1])
    X = rng.standard_normal((n0, batch))
    if model.loss == "bce":
        Y = rng.integers(0, 2, size=(n_out, batch)).astype(np.float64)
    elif model.loss == "ce":
        Y = rng.integers(0, n_out, size=batch)
    else:
        Y = rng.standard_normal((n_out, batch))
    return params, X, Y
