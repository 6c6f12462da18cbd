"""``fastcheck demo``: the seed exercise's two gradient checks, start to finish,
then a network of 50,890 parameters checked in full, against the naive loop."""

import os
import time

from fastcheck.check import check

from . import bench
from . import exercises as ex
from .registry import LARGE, mlp_network
#: Coordinates the naive loop is timed on before extrapolating to all of them.
NAIVE_SAMPLE = 200


def one_d_check():
    """The 1-D check of J(theta) = theta * x at x = 2, theta = 4, eps = 1e-7."""
    x, theta = 2.0, 4.0
    return check(ex.cost_1d, {"theta": theta}, {"dtheta": ex.backward_propagation(x, theta)},
                 x, eps=1e-7)


def three_layer_check(fixed=False, eps=1e-7, jit=None):
    """The 3-layer network check of the exercise's own forward pass; ``fixed``
    removes the two planted mistakes; ``jit=True`` compiles that forward pass."""
    X, Y, parameters = ex.gradient_check_n_test_case()
    _, cache = ex.forward_propagation_n(parameters, X, Y)
    gradients = ex.backward_propagation_n(X, Y, cache, fixed=fixed)
    return check(ex.forward_propagation_n, parameters, gradients, X, Y, eps=eps, jit=jit)


def kernels_cached():
    """Whether the layered engine's kernel is in Numba's disk cache already (a guess
    from Numba's cache files; False when it cannot tell)."""
    from fastcheck.kernels import layered
    try:
        return os.path.exists(layered.layered_difference._cache._cache_file._index_path)
    except (AttributeError, OSError):  # Numba's private layout moved: assume cold
        return False


def large_network_check():
    """The layered engine on every coordinate of ``LARGE``'s exact backward.

    Returns (result, wall seconds of the check, seconds of the engine's first
    call on a few coordinates, the naive loop's ``bench.Row`` on a sample).
    """
    net = mlp_network(*LARGE)
    first = bench.first_call(net, "layered")
    start = time.perf_counter()
    res = check(net.model, net.params, net.grads, net.X, net.Y)
    seconds = time.perf_counter() - start
    return res, seconds, first, bench.time_engine(net, "naive", sample=NAIVE_SAMPLE)


def run(write=print):
    """Print both exercises' checks, the way the exercise reports them."""
    write("1. J(theta) = theta * x, x = 2, theta = 4, eps = 1e-7")
    write(one_d_check())
    write(f"   (the exercise publishes difference = {ex.PUBLISHED_1D!r})")
    write("")
    write("2. LINEAR -> RELU -> LINEAR -> RELU -> LINEAR -> SIGMOID, the exercise's backward")
    write("   pass with its two planted mistakes (dW2 * 2, db1 with 4/m), eps = 1e-7")
    write(three_layer_check())
    write(f"   (the exercise publishes difference = {ex.PUBLISHED_PLANTED!r})")
    write("")
    write("3. The same network with both mistakes fixed, eps = 1e-7")
    write(three_layer_check(fixed=True))
    write("   (about 1.19e-7: rounding noise, since eps = 1e-7 is far below the best step)")
    write("")
    write("4. Fixed, with fastcheck's default step (eps=None: cbrt(eps_machine) * max(1, |theta|)),")
    write("   the exercise's forward pass compiled by Numba as it is (jit=True)")
    write(three_layer_check(fixed=True, eps=None, jit=True))
    write("")
    (sizes, batch), P = LARGE, mlp_network(*LARGE).size
    write(f"5. A larger network: MLP {list(sizes)} (ReLU, sigmoid, binary cross-entropy), "
          f"{batch} "
          f"random examples, {P:,} parameters, its exact backward checked in full")
    if not kernels_cached():
        write("   (compiling the layered engine's kernels, once per machine: about 30 s here)")
    res, seconds, first, naive = large_network_check()
    write(res)
    write(f"   {seconds:.2f} s for all {P:,} coordinates (the first call, compiling or loading "
          f"Numba's cache, took {first:.2f} s more).")
    write(f"   The exercise's loop took {naive.measured:.2f} s for {naive.coordinates} of them, "
          f"so about {naive.seconds:.0f} s for all (extrapolated): the layered engine is "
          f"{naive.seconds / seconds:.0f}x faster.")
