"""The exercise's N-dimensional check: a 3-layer network with two planted mistakes."""

import fastcheck as fc
from fastcheck.app import exercises as ex

X, Y, params = ex.gradient_check_n_test_case()
_, cache = ex.forward_propagation_n(params, X, Y)

planted = ex.backward_propagation_n(X, Y, cache)
res = fc.check(ex.forward_propagation_n, params, planted, X, Y, eps=1e-7)
print(res)
print(f"difference = {res.difference!r} (published: {ex.PUBLISHED_PLANTED!r})")
print(f"wrong tensors: {res.suspects}")

fixed = ex.backward_propagation_n(X, Y, cache, fixed=True)
res = fc.check(ex.forward_propagation_n, params, fixed, X, Y)
print(f"\nwith both mistakes fixed and the default step: difference = {res.difference:.3e}, "
      f"passed = {res.passed}")
