"""One-sided differences at a few coordinates: the closer look before blaming.

Where a central estimate disagrees with the gradient beyond its error
estimate, the verdict asks for the slopes on each side at two steps. A smooth
cost gives four nearly equal slopes (and a Richardson estimate that settles
any truncation); a kink shows as left and right slopes that disagree.
"""

import numpy as np

from ..costs.calling import Perturbed


def one_sided(evaluate, theta, layout, idx, h, j0):
    """Slopes (n, 4) at flat indices ``idx`` (n,) with steps ``h`` (n,):
    columns R(h), R(h/2), L(h), L(h/2), where R(s) = (J(theta + s e_i) - J0) / s
    and L(s) = (J0 - J(theta - s e_i)) / s, J0 = ``j0``.

    ``evaluate(theta, where)`` is the adapter's. The perturbed values are the
    representable ones, fl(theta_i +- s).
    """
    row = np.array(theta, dtype=np.float64)
    slopes = np.empty((idx.shape[0], 4))
    for k in range(idx.shape[0]):
        i, saved = int(idx[k]), row[int(idx[k])]
        try:
            for column, (sign, fraction) in enumerate(((1, 1.0), (1, 0.5), (-1, 1.0),
                                                       (-1, 0.5))):
                step = fraction * float(h[k])
                row[i] = saved + sign * step
                moved = row[i] - saved  # the step really taken
                value = evaluate(row, Perturbed(layout, i, "+" if sign > 0 else "-", step))
                slopes[k, column] = (value - j0) / moved
        finally:
            row[i] = saved
    return slopes
