"""Helpers for test suites that check backward passes.

>>> from fastcheck.testing import assert_gradients_match
>>> def test_my_backward():                                   # doctest: +SKIP
...     assert_gradients_match(my_cost, params, my_backward(params, X, Y), X, Y)
"""

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
