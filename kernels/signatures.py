"""The one fixed type every compiled cost has, so one compiled kernel serves them all.

A cost is passed to the generic kernel as a first-class function of the fixed
type ``COST_TYPE``: a dispatcher argument would recompile the kernel per cost
and never hit the disk cache. Each user cost is adapted to it by a generated
trampoline that unpacks the user's own arguments from two flat buffers:

    cost(theta (P,) float64 C, fdata (F,) float64 C, idata (I,) int64 C) -> float64

``fdata`` holds every float argument (arrays and scalars, raveled), ``idata``
every integer and boolean one; the trampoline knows the offsets and shapes.
The complex step uses the same form with complex ``theta`` and ``fdata``
(float data promoted once, so that ``W @ X`` meets matching dtypes).
"""

from numba import types

COST_SIG = types.float64(types.float64[::1], types.float64[::1], types.int64[::1])
COST_TYPE = types.FunctionType(COST_SIG)
COMPLEX_COST_SIG = types.complex128(types.complex128[::1], types.complex128[::1],
                                    types.int64[::1])
COMPLEX_COST_TYPE = types.FunctionType(COMPLEX_COST_SIG)
