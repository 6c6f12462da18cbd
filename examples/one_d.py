"""The exercise's 1-D gradient check: J(theta) = theta * x at x = 2, theta = 4."""

import fastcheck as fc
from fastcheck.app import exercises as ex

x, theta = 2.0, 4.0
res = fc.check(ex.cost_1d, {"theta": theta}, {"dtheta": ex.backward_propagation(x, theta)},
               x, eps=1e-7)
print(res)
print(f"difference = {res.difference!r} (published: {ex.PUBLISHED_1D!r})")
