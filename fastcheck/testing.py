"""Helpers for test suites that check backward passes.

>>> from fastcheck.testing import assert_gradients_match
>>> def test_my_backward():                                   # doctest: +SKIP
...     assert_gradients_match(my_cost, params, my_backward(params, X, Y), X, Y)
>>> def test_my_layer():                                      # doctest: +SKIP
...     out, cache = affine_forward(x, w, b)
...     assert_vjp_match(lambda p: affine_forward(p["x"], p["w"], p["b"]),
...                      {"x": x, "w": w, "b": b}, lambda dout: affine_backward(dout, cache))
>>> def test_my_forward_rule():                               # doctest: +SKIP
...     assert_jvp_match(layer, inputs, lambda t: layer_jvp(t, cache), vjp=layer_vjp)
"""

from .check import check
from .hvp import check_hvp
from .jvp import check_jvp
from .taylor import taylor_test
from .vjp import check_vjp


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


def assert_vjp_match(f, inputs, grads, *args, **options):
    """Check a layer's backward pass like ``fastcheck.check_vjp`` and fail the test
    if it is wrong.

    Parameters
    ----------
    f, inputs, grads, *args
        As for ``fastcheck.check_vjp``: the forward ``f(inputs, *args)``, the
        dict of inputs, and the backward's gradients or the backward itself.
    **options
        Any keyword of ``fastcheck.check_vjp`` (dout, n, seed, outputs) or of
        ``fastcheck.check`` (method, sample, only, exclude, jit, ...).

    Returns
    -------
    CheckResult
        The result, when the check passes (the worst draw's, for ``n`` > 1).

    Raises
    ------
    AssertionError
        When it fails; the message is the report, which names the wrong inputs
        and, for a drawn dout, the draw that found them.
    """
    __tracebackhide__ = True
    res = check_vjp(f, inputs, grads, *args, **options)
    if not res.passed:
        raise AssertionError(f"the layer's backward pass does not match the numerical "
                             f"derivatives of sum(f(inputs) * dout)\n{res}")
    return res


def assert_jvp_match(f, inputs, jvp, *args, **options):
    """Check a layer's forward-mode rule like ``fastcheck.check_jvp`` (and, with
    ``vjp=``, the dot-product test) and fail the test if it is wrong.

    Parameters
    ----------
    f, inputs, jvp, *args
        As for ``fastcheck.check_jvp``: the forward ``f(inputs, *args)``, the dict
        of inputs, and the rule ``jvp(tangents)`` (or its result for ``tangents=``).
    **options
        Any keyword of ``fastcheck.check_jvp`` (tangents, n, seed, vjp, eps,
        threshold, only, exclude).

    Returns
    -------
    JvpResult
        The result, when the check passes (the worst draw's, for ``n`` > 1).

    Raises
    ------
    AssertionError
        When it fails; the message is the report, which names the inputs whose
        contribution is wrong, the output elements, and the rule the dot-product
        test blames.
    """
    __tracebackhide__ = True
    res = check_jvp(f, inputs, jvp, *args, **options)
    if not res.passed:
        raise AssertionError(f"the forward-mode rule does not match the central differences "
                             f"of f along the tangents\n{res}")
    return res


def assert_hvp_match(grad, params, hvp, *args, **options):
    """Check a Hessian-vector product like ``fastcheck.check_hvp`` and fail the test
    if it is wrong.

    Parameters
    ----------
    grad, params, hvp, *args
        As for ``fastcheck.check_hvp``: the gradient ``grad(params, *args)``, the
        parameters, and ``hvp(v)`` (or the dense Hessian).
    **options
        Any keyword of ``fastcheck.check_hvp`` (n, seed, eps, threshold, only, exclude).

    Returns
    -------
    HvpResult
        The result, when the check passes.

    Raises
    ------
    AssertionError
        When it fails; the message is the report, which names the wrong tensors
        of the product and their entries.
    """
    __tracebackhide__ = True
    res = check_hvp(grad, params, hvp, *args, **options)
    if not res.passed:
        raise AssertionError(f"the Hessian-vector product does not match the central "
                             f"differences of the gradient\n{res}")
    return res


def assert_taylor_rates(cost, params, grads, *args, **options):
    """Run ``fastcheck.taylor_test`` and fail the test unless every remainder falls
    at its order (2 for the gradient, 3 with ``hvp=``) or breaks only at a kink.

    Parameters
    ----------
    cost, params, grads, *args
        As for ``fastcheck.taylor_test``.
    **options
        Any keyword of ``fastcheck.taylor_test`` (hvp, direction, steps, seed,
        only, exclude).

    Returns
    -------
    TaylorResult
        The result, when it passes.

    Raises
    ------
    AssertionError
        When it does not; the message is the report, which names the directions
        (tensors) along which a rate drops and shows the remainders.
    """
    __tracebackhide__ = True
    res = taylor_test(cost, params, grads, *args, **options)
    if not res.passed:
        raise AssertionError(f"the Taylor remainders do not fall at their orders\n{res}")
    return res
