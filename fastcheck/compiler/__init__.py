"""Compile a user's plain Python/NumPy cost with Numba, for the generic engine.

    >>> from fastcheck.compiler import compile_cost            # doctest: +SKIP
    >>> cc = compile_cost(cost, names, shapes, (X, Y))         # doctest: +SKIP
    >>> cc.function(theta, cc.fdata, cc.idata)                 # doctest: +SKIP

``source`` collects the cost and its helpers (their bytecode and the values
they read), ``packing`` lays the arguments out in the two buffers,
``trampoline`` generates the adapter to the fixed cost type, and ``build``
puts them together.

Code the source compiler refuses (a model of objects) is compiled by tracing:
``trace`` records the NumPy operations on the parameters (``tracefuncs``: the
NumPy functions it records), ``tracegen`` generates straight-line code from
the record (``traceops``: what that code calls).

Both compilers hand their generated module to one compile step
(``generated``): ``cache`` keys it with one key function, ``store`` writes it
to disk, ``memo`` keeps it in memory, ``budget`` bounds a cold compile in a
fresh interpreter, ``diagnose`` turns Numba's errors into one line. ``route`` decides which compiler compiles a cost and ``trust``
compares the compiled cost with the Python one before it is used.
"""

from .build import CompiledCost, compile_cost, is_cached

__all__ = ["CompiledCost", "compile_cost", "is_cached"]
