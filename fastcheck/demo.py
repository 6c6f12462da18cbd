"""``fastcheck demo``: the seed exercise's two gradient checks, start to finish."""

from . import exercises as ex
from .check import check


def one_d_check():
    """The 1-D check of J(theta) = theta * x at x = 2, theta = 4, eps = 1e-7."""
    x, theta = 2.0, 4.0
    return check(ex.cost_1d, {"theta": theta}, {"dtheta": ex.backward_propagation(x, theta)},
                 x, eps=1e-7)


def three_layer_check(fixed=False, eps=1e-7, engine="auto"):
    """The 3-layer network check; ``fixed`` removes the two planted mistakes."""
    X, Y, parameters = ex.gradient_check_n_test_case()
    _, cache = ex.forward_propagation_n(parameters, X, Y)
    gradients = ex.backward_propagation_n(X, Y, cache, fixed=fixed)
    cost = ex.forward_propagation_n if engine == "python" else ex.seed_cost
    return check(cost, parameters, gradients, X, Y, eps=eps, engine=engine)


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
    write("4. Fixed, with fastcheck's default step (eps=None: cbrt(eps_machine) * max(1, |theta|))")
    write(three_layer_check(fixed=True, eps=None))
